"""Materialize one code location in this process, as `cmi demo` does, and print what it
did as one JSON line: test_separation.py runs it as the linker and, as an unprivileged OS
user who cannot read the identified file, as the analyst.

    python cmi_assets_tests/location_runner.py linker|analyst
"""

from __future__ import annotations

import json
import sys


def main(location: str) -> None:
    import dagster as dg

    from cmi_assets import definitions
    from cmi_assets.defs.resources import LAUNCHED_BY_USER_TAG, os_user
    from cmi_assets.demo import materialize_everything, register_landed_partitions
    from cmi_assets.locations import asset_keys
    from cmi_assets.storage import Storage

    defs = {"linker": definitions.linker_defs, "analyst": definitions.analyst_defs}[location]()
    instance = dg.DagsterInstance.get()
    try:
        if location == "linker":
            register_landed_partitions(instance, Storage.from_env().landing_dir)
        before = {run.run_id for run in instance.get_runs()}
        done = materialize_everything(defs, instance, log=lambda line: print(line, file=sys.stderr))
        mine = [run for run in instance.get_runs() if run.run_id not in before]
        launched_by = sorted({run.tags.get(LAUNCHED_BY_USER_TAG, "") for run in mine})
        summary = {
            "user": os_user(),
            "runs": done.runs,
            "failed": done.failed,
            "assets": sorted(key.to_user_string() for key in asset_keys(defs)),
            "launched_by": launched_by,
        }
    finally:
        instance.dispose()
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
