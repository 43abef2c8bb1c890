"""The CFSR group end to end through Dagster: NCANDS Child Files from the synthetic
generator land, go through raw_child_protection and the staged model, then
ncands_child_file, cfsr_recurrence (with the DQ checks), cfsr_rsp, cfsr_drilldown,
cfsr_trend and cfsr_report, on a real ephemeral instance and real DuckDB files. One
tiny state (a handful of victims, cut from CT's files) checks that nothing published
carries a numerator or rate for a cell under the suppression threshold."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from cmi_assets.cfsr.report import RSP_ABOVE_OBSERVED
from cmi_assets.cfsr.suppression import SUPPRESS_BELOW
from cmi_assets.cfsr.tables import BY_STATE_COLUMNS, RSP_TABLE_COLUMNS
from cmi_assets.defs.cfsr import assets as cfsr_assets
from cmi_assets.defs.cfsr import partitions as cfsr_partitions
from cmi_assets.defs.cfsr.checks import DQ_CHECK_NAMES
from cmi_assets.defs.cfsr.child_file import ncands_child_file
from cmi_assets.defs.cfsr.partitions import fy_key
from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS
from cmi_assets.storage import IDENTIFIED, WAREHOUSE
from cmi_assets.synthetic.ncands import child_file_name, write_ncands
from cmi_assets.synthetic.profile import load_profile

FILE_YEARS = [2018, 2019, 2020, 2021]
PERIODS = [2018, 2019, 2020]  # the periods these files allow
STATES = ["TX", "CA", "MI", "KY", "OK", "CT"]
TINY_STATE, TINY_FROM = "VT", "CT"
SCALE, SEED = 0.25, 3
RAW = next(a for a in RAW_ASSETS if a.key.to_user_string() == "raw_child_protection")
STAGED = next(a for a in SQL_MODEL_ASSETS if a.key.to_user_string() == "stg_child_protection_ncands_child")
CFSR = [
    ncands_child_file,
    cfsr_assets.cfsr_recurrence,
    cfsr_assets.cfsr_rsp,
    cfsr_assets.cfsr_drilldown,
    cfsr_assets.cfsr_trend,
    cfsr_assets.cfsr_report,
]
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
        ALL,
        selection=selection,
        instance=instance,
        partition_key=partition_key,
        resources={"storage": StorageResource()},
        raise_on_error=False,
    )
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


def _land_tiny_state(folder: Path) -> None:
    """TINY_STATE: every row of a few of TINY_FROM's victims, so each period's denominator
    is under the suppression threshold. For each pair of consecutive files two children
    who are victims in both (the ID-match check then passes), and two more victims per
    file."""
    files = {fy: pl.read_csv(folder / child_file_name(TINY_FROM, fy), infer_schema=False) for fy in FILE_YEARS}
    victim = pl.any_horizontal(pl.col(f"MAL{i}LEV").is_in(["1", "2"]) for i in range(1, 5)) | (
        pl.col("MALDEATH") == "1"
    )
    victims = {fy: sorted(set(f.filter(victim)["CHID"].to_list())) for fy, f in files.items()}
    chosen: set[str] = set()
    for fy in FILE_YEARS[:-1]:
        chosen |= set(sorted(set(victims[fy]) & set(victims[fy + 1]))[:2])
    for fy in FILE_YEARS:
        chosen |= set([c for c in victims[fy] if c not in chosen][:2])
    for fy, frame in files.items():
        tiny = frame.filter(pl.col("CHID").is_in(chosen)).with_columns(STATERR=pl.lit(TINY_STATE))
        tiny.write_csv(folder / child_file_name(TINY_STATE, fy))


@pytest.fixture
def world(storage_env):
    profile = _profile()
    write_ncands(storage_env.landing_dir, storage_env.truth_dir, profile, SCALE, SEED, None)
    _land_tiny_state(storage_env.landing_dir / "child_protection")
    files = sorted(p.name for p in (storage_env.landing_dir / "child_protection").glob("*.csv"))
    assert len(files) == (len(STATES) + 1) * len(FILE_YEARS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("child_protection_extracts", files)
    for name in files:
        _materialize(instance, [RAW.key], name)
    _materialize(instance, [STAGED.key])
    return storage_env, instance, profile


def test_cfsr_assets_end_to_end(world):
    storage, instance, profile = world
    all_states = {*STATES, TINY_STATE}
    results = []
    for fy in FILE_YEARS:
        results.append(_materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(fy)))
    file_checks = {(e.check_name, r.run_id): e.passed for r in results for e in r.get_asset_check_evaluations()}
    assert file_checks and all(file_checks.values())
    assert results[-1].asset_materializations_for_node("ncands_child_file")[0].metadata["states"].value == len(
        all_states
    )

    # A due year with no file is not materialized (its periods stay waiting), and its
    # checks do not pass on zero rows: they warn that the file was not delivered.
    undelivered = FILE_YEARS[-1] + 1
    empty = _materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(undelivered))
    assert not empty.get_asset_materialization_events()
    assert instance.get_materialized_partitions(dg.AssetKey("ncands_child_file")) == {fy_key(y) for y in FILE_YEARS}
    warnings = {e.check_name: e for e in empty.get_asset_check_evaluations()}
    assert set(warnings) == {"elements_and_codes", "states_complete"}
    for evaluation in warnings.values():
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert f"no Child File for FY{undelivered} delivered" in evaluation.description
    assert warnings["states_complete"].metadata["states_previous_year"].value == len(all_states)
    # Another year's extract updating the staged table leaves an unchanged year alone
    # (checks re-run, no new materialization), so its periods do not rerun.
    again = _materialize(instance, [dg.AssetKey("ncands_child_file")], fy_key(FILE_YEARS[1]))
    assert not again.get_asset_materialization_events()
    assert all(e.passed for e in again.get_asset_check_evaluations())

    # A period whose second file is missing fails and names the file in its metadata.
    late = dg.materialize(
        ALL,
        selection=[dg.AssetKey("cfsr_recurrence")],
        instance=instance,
        partition_key=fy_key(FILE_YEARS[-1]),
        resources={"storage": StorageResource()},
        raise_on_error=False,
    )
    failure = next(e for e in late.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert failure.metadata["child_files_missing"].value == fy_key(undelivered)
    assert failure.metadata["child_files_needed"].value == f"{fy_key(FILE_YEARS[-1])}, {fy_key(undelivered)}"

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
            # named, never bare codes: "Oklahoma (OK)" or, for a code with no name, "'AA'"
            failing |= {a or b for a, b in re.findall(r"\(([A-Z]{2})\)|'([A-Z]{2})'", listed)}
            assert evaluation.passed == (listed == "none")
            rows = evaluation.metadata["by_state"].value.records
            assert {r.data["state"] for r in rows} == all_states
            for row in rows:  # small cells: denominator shown, numerator and rate not
                small = row.data["denominator"] is not None and row.data["denominator"] < SUPPRESS_BELOW
                assert not small or (row.data["numerator"] is None and row.data["rate"] is None), row
        assert failing == EXPECTED_DQ[fy], fy
        if fy == 2019:
            assert checks["dq1_victim_ids_match"].metadata["failing_states"].value == "Kentucky (KY)"
            assert checks["dq2_dob_sex_mismatch"].metadata["failing_states"].value == "Michigan (MI)"
            assert checks["dq3_missing_age"].metadata["failing_states"].value == "Oklahoma (OK)"
            assert checks["dq3_missing_age"].description.endswith("(reported as DQ): Oklahoma (OK)")
            # check 3 is reported for each file of the period
            files = {r.data["files"] for r in checks["dq3_missing_age"].metadata["by_state"].value.records}
            assert files == {"FY2019", "FY2020"}

    with storage.connect(WAREHOUSE, read_only=True) as con:
        published = {table: con.execute(f"select * from {table}").pl() for table in PUBLISHED_TABLES}
        rsp = con.execute("select * from cfsr.rsp order by period_fy, state").pl()
        national = con.execute("select * from cfsr.recurrence_national order by period_fy").pl()
        drill = con.execute("select * from cfsr.drilldown").pl()
        trend = con.execute("select * from cfsr.trend").pl()
    with storage.connect(IDENTIFIED, read_only=True) as con:
        audit_counts = con.execute(
            "select period_fy, count(*), sum(in_denominator::int) from cfsr.recurrence_audit group by 1 order by 1"
        ).fetchall()
        tiny_counts = dict(
            con.execute(
                "select period_fy, sum(in_denominator::int) from cfsr.recurrence_audit where STATERR = ? group by 1",
                [TINY_STATE],
            ).fetchall()
        )

    # The tiny state has children in every period, always fewer than the threshold.
    assert sorted(tiny_counts) == PERIODS and all(0 < n < SUPPRESS_BELOW for n in tiny_counts.values()), tiny_counts
    # No published table carries a numerator or a rate for a small cell.
    for table, frame in published.items():
        for denominator, hidden in PUBLISHED_TABLES[table]:
            small = frame.filter(pl.col(denominator) < SUPPRESS_BELOW)
            for column in hidden:
                assert small[column].null_count() == small.height, (table, column)
    tiny_rsp = rsp.filter(pl.col("state") == TINY_STATE)
    assert (
        tiny_rsp.height == len(PERIODS) and set(tiny_rsp["status"]) == {"suppressed"} and tiny_rsp["suppressed"].all()
    )
    assert tiny_rsp["E"].null_count() == 0  # modelled, just not published

    # DQ state-periods: status DQ, no observed value, no RSP; every other state has both.
    for row in rsp.filter(pl.col("state") != TINY_STATE).iter_rows(named=True):
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
    assert drill.filter(pl.col("state") == TINY_STATE)["suppressed"].all()

    # Trend over every period, report files for each state plus national.
    assert sorted(trend["period_fy"].unique().to_list()) == PERIODS
    trend_event = results[-1].asset_materializations_for_node("cfsr_trend")[0]
    waiting = trend_event.metadata["periods_waiting_for_files"].value
    assert f"FY21-22 (needs {fy_key(undelivered)})" in waiting and "FY18-19" not in waiting
    report_dir = storage.data_dir / "reports" / "cfsr"
    assert sorted(p.stem for p in report_dir.glob("*.html")) == sorted([*all_states, "national"])
    mi_page = (report_dir / "MI.html").read_text()
    assert "DQ" in mi_page and "FY19-20" in mi_page and "data:image/png;base64," in mi_page
    # The tiny state's page shows no rate at all: the only percent with a decimal is the
    # national performance in the explanatory note.
    tiny_page = (report_dir / f"{TINY_STATE}.html").read_text()
    tiny_page = tiny_page.replace(html.escape(RSP_ABOVE_OBSERVED.format(np="9.7%")), "")  # the rules' numbers
    assert "suppressed" in tiny_page and set(re.findall(r"\d+\.\d+%", tiny_page)) == {"9.7%"}

    # The report leads with its headline (the summary, then the pooled rate as a number)
    # and the reason RSP sits above observed; the chart's entry holds only the image; the
    # summary is short enough for the UI to render inline (under 1,000 characters).
    report_event = results[-1].asset_materializations_for_node("cfsr_report")[0]
    labels = list(report_event.metadata)
    assert labels[:3] == ["summary", "period", "pooled_observed"]
    assert labels.index("why_rsp_above_observed") < labels.index("chart")
    assert "section 4.1" in report_event.metadata["why_rsp_above_observed"].value
    chart = report_event.metadata["chart"].value
    assert chart.startswith("![") and chart.count("data:image/png;base64,") == 1 and "|" not in chart
    assert (
        len(report_event.metadata["summary"].value) < 1000
        and "national performance 9.7%" in report_event.metadata["summary"].value
    )
    assert isinstance(report_event.metadata["pooled_by_period"], (dg.TableMetadataValue, dg.MarkdownMetadataValue))

    # Metadata tables: a small cell's row shows its denominator and "suppressed", no numerator or rate.
    markdowns = {
        "cfsr_recurrence": by_period[PERIODS[-1]]
        .asset_materializations_for_node("cfsr_recurrence")[0]
        .metadata["by_state"],
        "cfsr_rsp": by_period[PERIODS[-1]].asset_materializations_for_node("cfsr_rsp")[0].metadata["rsp_by_state"],
        "cfsr_report": report_event.metadata["states"],
    }
    for asset, value in markdowns.items():
        rows = _rows(value, TINY_STATE)
        assert len(rows) == 1, asset
        for header, cell in rows[0].items():
            if header in ("numerator", "observed", "rsp", "rsp interval"):
                assert cell == "suppressed", (asset, header, cell)

    # No Child ID or report ID anywhere in metadata or check results.
    ids = set()
    for path in (storage.landing_dir / "child_protection").glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False, columns=["CHID", "RPTID"])
        ids |= set(frame["CHID"].to_list()) | set(frame["RPTID"].to_list())
    shown = _all_metadata(results)
    leaked = [i for i in ids if len(i) >= 6 and i in shown]
    assert not leaked, f"{len(leaked)} agency IDs in metadata"


# Published warehouse tables: (denominator column, columns hidden when it is small).
PUBLISHED_TABLES = {
    "cfsr.recurrence_by_state": [("denominator", ["numerator", "observed"])],
    "cfsr.recurrence_national": [
        ("denominator", ["numerator", "observed"]),
        ("denominator_all", ["numerator_all", "observed_all_states"]),
    ],
    "cfsr.dq_checks": [("denominator", ["numerator", "rate"])],
    "cfsr.rsp": [("denominator", ["numerator", "observed", "P", "u_mode", "rsp", "rsp_lower", "rsp_upper"])],
    "cfsr.drilldown": [("denominator", ["numerator", "observed"])],
    "cfsr.trend": [
        ("denominator", ["numerator", "observed", "rsp", "rsp_lower", "rsp_upper", "rsp_change", "observed_change"])
    ],
    "cfsr.national_trend": [("denominator", ["numerator", "observed"])],
}


def test_a_new_fy_file_maps_to_exactly_the_two_periods_that_use_it():
    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    key = dg.AssetKey("ncands_child_file")
    keys = cfsr_partitions.FILE_YEARS.get_partition_keys()
    new_file = keys[3]
    children = graph.get_children_partitions(key, new_file)
    periods = {c.partition_key for c in children if c.asset_key == dg.AssetKey("cfsr_recurrence")}
    assert periods == {keys[2], keys[3]}
    # ...and a period reads exactly its two files.
    parents = graph.get_parents_partitions(dg.AssetKey("cfsr_recurrence"), keys[2]).parent_partitions
    assert {p.partition_key for p in parents if p.asset_key == key} == {keys[2], keys[3]}


def _labels(condition) -> list[str]:
    return [condition.get_label()] + [label for child in condition.children for label in _labels(child)]


def test_assets_follow_upstream_and_files_start_in_fy2016():
    # group, owners, kinds and pool: test_asset_policy.py, for every asset
    from cmi_assets.defs.automation import follow_upstream

    for asset in CFSR:
        spec = asset.specs_by_key[asset.key]
        assert follow_upstream().get_label() in _labels(spec.automation_condition), asset.key
    assert cfsr_partitions.FILE_YEARS.get_partition_keys()[0] == "FY2016"


def test_every_automation_condition_has_a_readable_label():
    # The UI shows the top-level label; an unlabelled composition shows as null.
    labels = {
        asset.key.to_user_string(): asset.specs_by_key[asset.key].automation_condition.get_label() for asset in CFSR
    }
    assert (
        labels["cfsr_recurrence"]
        == labels["cfsr_drilldown"]
        == "eager once both FY files are in, gated on blocking checks"
    )
    assert labels["cfsr_rsp"] == labels["cfsr_report"] == "eager, relaxed, gated on blocking checks"
    assert all(labels.values()), labels


def test_every_published_column_has_its_own_description_with_a_unit():
    for asset in CFSR:
        schema = asset.specs_by_key[asset.key].metadata.get("dagster/column_schema")
        if schema is None:
            continue
        for column in schema.columns:
            if column.name == "...":
                continue
            assert column.description and re.search(r"\([^()]+\)$", column.description), (asset.key, column.name)
        excluded = [c.description for c in schema.columns if c.name.startswith("excluded_")]
        assert len(set(excluded)) == len(excluded)
    by_state = {name: text for name, _, text in BY_STATE_COLUMNS}
    assert len([n for n in by_state if n.startswith("excluded_")]) == 14
    assert by_state["dq_reason"].endswith("(reason)")
    assert "step 9" in by_state["excluded_14_day_records"] and by_state["excluded_14_day_records"].endswith("(records)")
    assert by_state["excluded_unborn_children"].endswith("(children)")
    rsp = {name: text for name, _, text in RSP_TABLE_COLUMNS}
    assert rsp["observed"].endswith("(proportion 0-1, lower is better)") and rsp["u_mode"].endswith("(log-odds)")


def test_automation_computes_a_period_once_both_of_its_files_are_in_and_their_checks_pass():
    defs = dg.Definitions(
        assets=[ncands_child_file, cfsr_assets.cfsr_recurrence], resources={"storage": StorageResource()}
    )
    instance = dg.DagsterInstance.ephemeral()
    period = dg.AssetKey("cfsr_recurrence")

    def land(fy: int, passed: bool = True) -> None:
        key = fy_key(fy)
        instance.report_runless_asset_event(dg.AssetMaterialization("ncands_child_file", partition=key))
        for check in ("elements_and_codes", "states_complete"):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("ncands_child_file"), check_name=check, passed=passed, partition=key
                )
            )

    def requested(cursor):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        keys = sorted(result.get_requested_partitions(period))
        for key in keys:  # as if the requested runs succeeded
            instance.report_runless_asset_event(dg.AssetMaterialization("cfsr_recurrence", partition=key))
        return result.cursor, keys

    cursor, keys = requested(None)
    assert keys == []
    land(2018)
    cursor, keys = requested(cursor)
    assert keys == []  # FY18-19 waits for the FY2019 file; FY17-18 for FY2017's
    land(2019)
    cursor, keys = requested(cursor)
    assert keys == ["FY2018"]
    land(2020)
    cursor, keys = requested(cursor)
    assert keys == ["FY2019"]  # only the period the new file completes
    land(2021, passed=False)
    cursor, keys = requested(cursor)
    assert keys == []  # a file failing its blocking checks does not reach the indicator


def _rows(value, first_cell: str) -> list[dict[str, str]]:
    """Rows of a metadata table, or of a markdown table (a table too wide for the UI's value
    column goes in as markdown), whose first cell is `first_cell`, as {lower-case header: cell}."""
    if isinstance(value, dg.TableMetadataValue):
        return [
            {k.lower(): str(v) for k, v in r.data.items()}
            for r in value.records
            if str(next(iter(r.data.values()))) == first_cell
        ]
    lines = value.value.splitlines()
    rows, headers = [], []
    for line, following in zip(lines, [*lines[1:], ""]):
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if following.startswith("|---"):
            headers = [c.lower() for c in cells]
        elif cells[0] == first_cell:
            rows.append(dict(zip(headers, cells)))
    return rows
