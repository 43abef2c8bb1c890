"""The CFSR group end to end through Dagster: NCANDS Child Files from the synthetic
generator land, go through raw_child_protection and the staged model, then
ncands_child_file, cfsr_recurrence (with the DQ checks), cfsr_rsp, cfsr_drilldown,
cfsr_trend and cfsr_report, on a real ephemeral instance and real DuckDB files."""

from __future__ import annotations

import math

import dagster as dg
import polars as pl
import pytest

from cmi_assets.defs.cfsr import assets as cfsr_assets
from cmi_assets.defs.cfsr.checks import DQ_CHECK_NAMES
from cmi_assets.defs.cfsr.partitions import FISCAL_YEARS, fy_key
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS
from cmi_assets.storage import IDENTIFIED, WAREHOUSE
from cmi_assets.synthetic.ncands import write_ncands
from cmi_assets.synthetic.profile import load_profile

FILE_YEARS = [2018, 2019, 2020, 2021]
PERIODS = [2018, 2019, 2020]  # the periods these files allow
STATES = ["TX", "CA", "MI", "KY", "OK", "CT"]
SCALE, SEED = 0.25, 3
RAW = next(a for a in RAW_ASSETS if a.key.to_user_string() == "raw_child_protection")
STAGED = next(a for a in SQL_MODEL_ASSETS if a.key.to_user_string() == "stg_child_protection_ncands_child")
CFSR = [
    cfsr_assets.ncands_child_file, cfsr_assets.cfsr_recurrence, cfsr_assets.cfsr_rsp,
    cfsr_assets.cfsr_drilldown, cfsr_assets.cfsr_trend, cfsr_assets.cfsr_report,
]  # fmt: skip
ALL = [RAW, STAGED, *CFSR]
# Which period each scripted DQ state fails, from the profile (independent of the rules):
# MI conflicts and OK missing ages are in file FY2020 (periods FY19-20 and FY20-21); KY's
# IDs are re-issued from FY2020 on, so only the pair FY2019-FY2020 fails to match.
EXPECTED_DQ = {2018: set(), 2019: {"MI", "KY", "OK"}, 2020: {"MI", "OK"}}


def _profile() -> dict:
    profile = load_profile("default")
    profile["ncands"]["fiscal_years"] = {"first": FILE_YEARS[0], "last": FILE_YEARS[-1]}
    profile["ncands"]["states"] = [s for s in profile["ncands"]["states"] if s["state"] in STATES]
    # Clean states carry no DQ noise and the smallest state is not tiny, so every DQ
    # failure is a scripted one (a state of a dozen victims can fail check 1 by chance:
    # the rule working, but not what this test is about).
    profile["ncands"]["sizes"]["min"] = 3000
    profile["ncands"]["dq"].update(id_change=0.0, dob_sex_conflict=0.0, missing_age=0.0)
    return profile


def _materialize(instance, selection, partition_key=None):
    result = dg.materialize(
        ALL, selection=selection, instance=instance, partition_key=partition_key,
        resources={"storage": StorageResource()}, raise_on_error=False,
    )  # fmt: skip
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _all_metadata(results) -> str:
    """Everything the runs recorded as metadata or check results, as text."""
    shown = []
    for result in results:
        for event in result.get_asset_materialization_events():
            shown.append(repr(event.materialization.metadata))
        for evaluation in result.get_asset_check_evaluations():
            shown.append(repr(evaluation.metadata) + (evaluation.description or ""))
    return "\n".join(shown)


@pytest.fixture
def world(storage_env):
    profile = _profile()
    write_ncands(storage_env.landing_dir, storage_env.truth_dir, profile, SCALE, SEED, None)
    files = sorted(p.name for p in (storage_env.landing_dir / "child_protection").glob("*.csv"))
    assert len(files) == len(STATES) * len(FILE_YEARS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("child_protection_extracts", files)
    for name in files:
        _materialize(instance, [RAW.key], name)
    _materialize(instance, [STAGED.key])
    return storage_env, instance, profile


def test_cfsr_assets_end_to_end(world):
    storage, instance, profile = world
    results = []
    for fy in FILE_YEARS:
        results.append(_materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(fy)))
    file_checks = {(e.check_name, r.run_id): e.passed for r in results for e in r.get_asset_check_evaluations()}
    assert file_checks and all(file_checks.values())
    assert results[-1].asset_materializations_for_node("ncands_child_file")[0].metadata["states"].value == len(STATES)

    # A year with no file yet is not materialized, so the periods needing it stay waiting.
    empty = _materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(FILE_YEARS[-1] + 1))
    assert not empty.get_asset_materialization_events()
    assert instance.get_materialized_partitions(dg.AssetKey("ncands_child_file")) == {fy_key(y) for y in FILE_YEARS}
    # Another year's extract updating the staged table leaves an unchanged year alone
    # (checks re-run, no new materialization), so its periods do not rerun.
    again = _materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(FILE_YEARS[1]))
    assert not again.get_asset_materialization_events()
    assert all(e.passed for e in again.get_asset_check_evaluations())

    period_keys = [dg.AssetKey(n) for n in ("cfsr_recurrence", "cfsr_rsp", "cfsr_drilldown")]
    by_period = {fy: _materialize(instance, period_keys, fy_key(fy)) for fy in PERIODS}
    results += by_period.values()
    results.append(_materialize(instance, [dg.AssetKey("cfsr_trend"), dg.AssetKey("cfsr_report")]))

    # DQ checks: the scripted states fail exactly the periods whose files carry the noise.
    for fy, result in by_period.items():
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert set(checks) == set(DQ_CHECK_NAMES.values())
        failing = set()
        for evaluation in checks.values():
            listed = evaluation.metadata["failing_states"].value
            failing |= set() if listed == "none" else set(listed.split(", "))
            assert evaluation.passed == (listed == "none")
            rows = evaluation.metadata["by_state"].value.records
            assert {r.data["state"] for r in rows} == set(STATES)
        assert failing == EXPECTED_DQ[fy], fy
        if fy == 2019:
            assert checks["dq1_victim_ids_match"].metadata["failing_states"].value == "KY"
            assert checks["dq2_dob_sex_mismatch"].metadata["failing_states"].value == "MI"
            assert checks["dq3_missing_age"].metadata["failing_states"].value == "OK"
            # check 3 is reported for each file of the period
            files = {r.data["files"] for r in checks["dq3_missing_age"].metadata["by_state"].value.records}
            assert files == {"FY2019", "FY2020"}

    with storage.connect(WAREHOUSE, read_only=True) as con:
        rsp = con.execute("select * from cfsr.rsp order by period_fy, state").pl()
        national = con.execute("select * from cfsr.recurrence_national order by period_fy").pl()
        drill = con.execute("select * from cfsr.drilldown").pl()
        trend = con.execute("select * from cfsr.trend").pl()
    with storage.connect(IDENTIFIED, read_only=True) as con:
        audit_counts = con.execute(
            "select period_fy, count(*), sum(in_denominator::int) from cfsr.recurrence_audit group by 1 order by 1"
        ).fetchall()

    # DQ state-periods: status DQ, no observed value, no RSP; every other state has both.
    for row in rsp.iter_rows(named=True):
        if row["state"] in EXPECTED_DQ[row["period_fy"]]:
            assert row["status"] == "DQ" and row["observed"] is None and row["rsp"] is None, row
        else:
            assert row["status"] in ("better", "no different", "worse") and row["rsp"] is not None
            assert row["rsp_lower"] < row["rsp"] < row["rsp_upper"]

    # Pooled observed (all states, every period) near the generator's target (9.7%).
    target = profile["ncands"]["recurrence"]["national_performance"]
    numerator, denominator = national["numerator_all"].sum(), national["denominator_all"].sum()
    pooled = numerator / denominator
    tolerance = 3 * math.sqrt(target * (1 - target) / denominator) + 0.005
    assert abs(pooled - target) < tolerance, (pooled, target, tolerance)

    # The audit has one row per child per period, and the per-state counts sum to its denominator.
    assert [r[0] for r in audit_counts] == PERIODS
    for fy, _, in_denominator in audit_counts:
        assert in_denominator == rsp.filter(pl.col("period_fy") == fy)["denominator"].sum()

    # Drill-downs: every dimension; the national age groups add up to the pooled passing denominator;
    # small cells carry no numerator or rate.
    assert set(drill["dimension"].unique()) == {"age_group", "race_ethnicity", "sex", "county", "maltreatment_type"}
    ages = drill.filter((pl.col("state") == "national") & (pl.col("dimension") == "age_group"))
    for fy in PERIODS:
        passing = national.filter(pl.col("period_fy") == fy)["denominator"].item()
        assert ages.filter(pl.col("period_fy") == fy)["denominator"].sum() == passing
    small = drill.filter(pl.col("denominator") < 11)
    assert small.height > 0 and small["suppressed"].all()
    assert small["numerator"].null_count() == small.height and small["observed"].null_count() == small.height

    # Trend over every period, report files for each state plus national.
    assert sorted(trend["period_fy"].unique().to_list()) == PERIODS
    report_dir = storage.data_dir / "reports" / "cfsr"
    assert sorted(p.stem for p in report_dir.glob("*.html")) == sorted([*STATES, "national"])
    mi_page = (report_dir / "MI.html").read_text()
    assert "DQ" in mi_page and "FY19-20" in mi_page and "data:image/png;base64," in mi_page
    report_event = results[-1].asset_materializations_for_node("cfsr_report")[0]
    assert "data:image/png;base64," in report_event.metadata["national"].value

    # No Child ID or report ID anywhere in metadata or check results.
    ids = set()
    for path in (storage.landing_dir / "child_protection").glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False, columns=["CHID", "RPTID"])
        ids |= set(frame["CHID"].to_list()) | set(frame["RPTID"].to_list())
    shown = _all_metadata(results)
    leaked = [i for i in ids if len(i) >= 6 and i in shown]
    assert not leaked, f"{len(leaked)} agency IDs in metadata"


def test_a_new_fy_file_maps_to_exactly_the_two_periods_that_use_it():
    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    key = dg.AssetKey("ncands_child_file")
    keys = FISCAL_YEARS.get_partition_keys()
    new_file = keys[3]
    children = graph.get_children_partitions(key, new_file)
    periods = {c.partition_key for c in children if c.asset_key == dg.AssetKey("cfsr_recurrence")}
    assert periods == {keys[2], keys[3]}
    # ...and a period reads exactly its two files.
    parents = graph.get_parents_partitions(dg.AssetKey("cfsr_recurrence"), keys[2]).parent_partitions
    assert {p.partition_key for p in parents if p.asset_key == key} == {keys[2], keys[3]}


def _labels(condition) -> list[str]:
    return [condition.get_label()] + [label for child in condition.children for label in _labels(child)]


def test_assets_carry_group_owners_kinds_pool_and_automation():
    from cmi_assets.defs.automation import follow_upstream

    for asset in CFSR:
        spec = asset.specs_by_key[asset.key]
        assert spec.group_name == "cfsr"
        assert spec.owners == ["team:cfsr-analysts"]
        assert spec.kinds and spec.description
        assert asset.op.pool == DUCKDB_WRITE_POOL
        assert follow_upstream().get_label() in _labels(spec.automation_condition), asset.key
    assert FISCAL_YEARS.get_partition_keys()[0] == "FY2016"
