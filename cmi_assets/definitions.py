"""The cmi_assets definitions: everything under defs/ is loaded from its folder.

`defs` is the whole graph in one code location (`dg dev`, `cmi demo`, the tests);
`linker_defs` and `analyst_defs` are its two halves (cmi_assets/locations.py decides which
is which), the two code locations of workspace.yaml: the linker location alone opens the
identified zone, the analyst location's storage refuses to (docs/separation.md).
"""

from pathlib import Path

import dagster as dg

from cmi_assets.defs.code_versions import with_code_versions
from cmi_assets.defs.resources import AnalystStorageResource
from cmi_assets.locations import ANALYST, LINKER, split_locations


@dg.definitions
def defs() -> dg.Definitions:
    return with_code_versions(dg.load_from_defs_folder(path_within_project=Path(__file__).parent.parent))


def _locations() -> dict[str, dg.Definitions]:
    return split_locations(defs(), analyst_resources={"storage": AnalystStorageResource()})


# Plain functions, not @dg.definitions: a module holds one of those, and `dg dev` loads this
# module's. workspace.yaml names these by attribute.
def linker_defs() -> dg.Definitions:
    """Sources, staging, linkage and every asset that reads or writes the identified zone."""
    return _locations()[LINKER]


def analyst_defs() -> dg.Definitions:
    """Everything downstream of the linkage, on the analysis zone only."""
    return _locations()[ANALYST]
