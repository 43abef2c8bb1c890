"""The new-user walk-through, for real (scripts/walkthrough.py): a small world
materialized as `cmi demo` does, `dg dev` started with the environment the demo prints,
and a new births extract landing in the folder. Nothing is launched by the test: the
landing sensor adds the partition and runs it, the automation sensor carries the new
records to the staged model and the person spine.

SLOW (about 3.5 minutes; 5 on a machine busy with other test runs): it starts the real
webserver and daemon. To keep it there, the demo materializes the groups a births extract
flows through (sources, staging, linkage) rather than every group, and the landing sensors
tick every 5 s instead of 30 s; the automation sensor keeps its 30 s. Run it alone with

    .venv/bin/pytest -m walkthrough -s      # -s prints each phase's time
"""

from __future__ import annotations

import hashlib
import json
import os

import dagster as dg
import pytest

from cmi_assets.demo import installed_command

pytestmark = [pytest.mark.slow, pytest.mark.walkthrough, pytest.mark.timeout(900)]

SCALE, SEED = 0.002, 11
GROUPS = ("sources", "staging", "linkage")


@pytest.fixture(scope="module")
def walked(tmp_path_factory, walkthrough):
    with pytest.MonkeyPatch.context() as env:
        # A new user's shell: no key in the environment (the demo makes a key file). The
        # setenv records each variable's original value, so whatever the demo sets is
        # undone afterwards; the delenv leaves it unset for the walk-through.
        for name in (*walkthrough.OWN_VARIABLES, "CMI_PSEUDONYM_KEY"):
            env.setenv(name, "")
            env.delenv(name)
        result = walkthrough.run_walkthrough(
            tmp_path_factory.mktemp("walkthrough") / "data",
            profile="small",
            scale=SCALE,
            seed=SEED,
            agency="births",
            groups=GROUPS,
            further_seconds=10,
            timeout_seconds=300,
        )
        instance = dg.DagsterInstance.from_config(str(result.dagster_home))
        try:
            yield result, instance
        finally:
            instance.dispose()


def _materializations(instance, asset: str, limit: int = 2):
    return instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=limit).records


def _rows(record) -> int:
    return int(record.asset_materialization.metadata["dagster/row_count"].value)


def test_landing_sensor_adds_the_partition_and_runs_it(walked):
    result, instance = walked
    name = result.landed.name
    assert name == "births_registrations_2021.csv"
    assert name in instance.get_dynamic_partitions("births_extracts")
    run = instance.get_run_by_id(result.landing_run["runId"])
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/sensor_name"] == "landing_births"
    assert run.tags["dagster/partition"] == name
    assert run.tags["cmi/extract_sha256"] == hashlib.sha256(result.landed.read_bytes()).hexdigest()
    latest = _materializations(instance, "raw_births", limit=1)[0]
    assert latest.asset_materialization.partition == name
    with open(result.landed, encoding="utf-8") as handle:
        rows_in_file = sum(1 for _ in handle) - 1
    assert _rows(latest) == rows_in_file > 0

    # The cursor the UI shows stays small; the per-file ledger is in the instance.
    state = next(s for s in instance.all_instigator_state() if s.name == "landing_births")
    cursor = json.loads(state.instigator_data.cursor)
    assert cursor["files"] == 5 and cursor["settling"] == {} and len(state.instigator_data.cursor) < 120


def test_automation_carries_the_new_records_to_the_staged_model_and_the_spine(walked):
    result, instance = walked
    for asset in ("stg_births_registrations", "person_spine"):
        assert asset in result.reached
        after, before = _materializations(instance, asset)
        assert after.timestamp > result.landed_at > before.timestamp
        tags = instance.get_run_by_id(after.run_id).tags
        assert tags["dagster/sensor_name"] == "automation" and tags.get("dagster/auto_materialize") == "true"
    # The staged model holds exactly the new file's rows more than before (it stages every partition).
    staged_after, staged_before = _materializations(instance, "stg_births_registrations")
    raw_new = _materializations(instance, "raw_births", limit=1)[0]
    assert _rows(staged_after) == _rows(staged_before) + _rows(raw_new)
    spine_after, spine_before = _materializations(instance, "person_spine")
    assert _rows(spine_after) > _rows(spine_before)


def test_nothing_was_launched_by_hand(walked):
    """Every run since `dg dev` started came from a sensor tick; the demo's runs before it
    are named demo__* and tagged by `cmi demo`."""
    result, instance = walked
    after_start = [r for r in instance.get_runs() if r.tags.get("cmi/launched_by") != "cmi demo"]
    assert {r["runId"] for r in result.runs} <= {r.run_id for r in after_start}
    assert all(r.job_name.startswith("demo__") for r in instance.get_runs() if r not in after_start)
    sensors = {r.tags.get("dagster/sensor_name") for r in after_start}
    assert sensors <= {"landing_births", "automation"} and "automation" in sensors
    print("phases (s):", result.phases)


def test_every_materialized_table_asset_records_its_row_count(walked, repo_module):
    """Issue 6, item 5: the row count of every table asset, checked on everything the
    walk-through materialized (the sources, staging and linkage groups and what the
    automation reached)."""
    definitions_tests = repo_module("cmi_assets_tests/test_definitions.py")
    from cmi_assets.definitions import defs

    _, instance = walked
    missing, checked = definitions_tests.table_assets_without_row_count(instance, defs().resolve_asset_graph())
    assert len(checked) >= 20, checked
    assert not missing, f"table assets whose materialization has no dagster/row_count: {missing}"


def test_the_demo_prints_every_variable_dg_dev_needs(walked):
    """`dg dev` ran with the variables the demo prints, and no others of ours: the spine
    (person_key needs the secret) was rebuilt with the key found through CMI_DATA_DIR."""
    from cmi_assets.demo import format_report

    result, _ = walked
    assert result.demo.failed_runs == []
    variables = result.demo.ui_environment()
    assert variables == {
        "DAGSTER_HOME": str(result.dagster_home),
        "CMI_DATA_DIR": str(result.data_dir),
        # the CFSR fiscal years the small world delivers (profiles/small/ncands.yaml)
        "CMI_CFSR_FIRST_FY": "2019",
        "CMI_CFSR_LAST_FY": "2021",
    }
    printed = format_report(result.demo)
    assert " ".join(f"{k}={v}" for k, v in variables.items()) + f" {installed_command('dg')} dev" in printed
    assert "CMI_PSEUDONYM_KEY" not in os.environ
    assert f"secret in {result.data_dir / '.pseudonym_key'}" in printed
