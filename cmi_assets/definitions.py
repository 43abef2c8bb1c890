"""The cmi_assets code location: everything under defs/ is loaded from its folder."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from cmi_assets.defs.code_versions import with_code_versions

    return with_code_versions(dg.load_from_defs_folder(path_within_project=Path(__file__).parent.parent))
