"""The Dagster side of clerical review, on a real instance and a real identified zone (a
DuckDB file holding the linked mini world): the `review_decisions` source's data version is
a hash of the decisions table, a new decision makes `person_spine` stale, and the spine's
metadata counts the decisions it applied, never naming a record, a person or a reviewer."""

from __future__ import annotations

import datetime as dt
import json
import re

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster._core.definitions.data_version import StaleStatus, extract_data_version_from_entry

from cmi_assets.defs.linkage.assets import person_spine, review_decisions
from cmi_assets.defs.linkage.checks import review_decisions_honoured
from cmi_assets.defs.resources import StorageResource
from cmi_assets.demo import Staleness
from cmi_assets.linkage.review import decisions_honoured, pair_id, record_decisions
from cmi_assets.linkage.tables import PERSON_RECORDS_TABLE, SPINE_TABLE
from cmi_assets_tests.linkage.conftest import linked_mini, mini_world  # noqa: F401  (the linked mini world)

REVIEWER = "Reviewer Pat Quill"
REASON = "same DOB and mother, name misspelt"


@pytest.fixture
def zone(request, tmp_path, monkeypatch):
    """CMI_* pointing at a data folder whose identified zone copies the linked mini world,
    with the secret its spine was keyed with."""
    data = tmp_path / "data"
    data.mkdir()
    source = request.getfixturevalue("linked_mini")["con"]
    source.execute(f"ATTACH '{data / 'identified.duckdb'}' AS review_copy")
    try:
        source.execute("COPY FROM DATABASE memory TO review_copy")
    finally:
        source.execute("DETACH review_copy")
    monkeypatch.setenv("CMI_DATA_DIR", str(data))
    monkeypatch.setenv("CMI_PSEUDONYM_KEY", "test-secret")
    return data / "identified.duckdb"


def _observe(instance) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("observe_review", selection=dg.AssetSelection.all(include_sources=True))
    defs = dg.Definitions(assets=[review_decisions], jobs=[job], resources={"storage": StorageResource()})
    return defs.resolve_job_def("observe_review").execute_in_process(instance=instance)


def _observed_version(instance) -> str:
    record = instance.get_latest_data_version_record(dg.AssetKey("review_decisions"), is_source=True)
    return extract_data_version_from_entry(record.event_log_entry).value


def _decision(con, records: tuple[int, int], decision: str) -> pl.DataFrame:
    identity = dict(con.execute(f"SELECT unique_id, identity_id FROM {PERSON_RECORDS_TABLE}").fetchall())
    a, b = identity[records[0]], identity[records[1]]
    return pl.DataFrame(
        {
            "pair_id": [pair_id(a, b)],
            "unique_id_l": [a],
            "unique_id_r": [b],
            "record_id_l": [records[0]],
            "record_id_r": [records[1]],
            "decision": [decision],
            "reason": [REASON],
            "decided_at": [None],
        },
        schema_overrides={"decided_at": pl.Datetime("us")},
    )


def test_a_new_decision_makes_the_spine_stale_and_its_metadata_counts_only(zone):
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource()}
    _observe(instance)
    empty_version = _observed_version(instance)
    dg.materialize([person_spine], instance=instance, resources=resources)
    graph = dg.Definitions(assets=[review_decisions, person_spine], resources=resources).resolve_asset_graph()
    assert Staleness(graph, instance, None).resolver.get_status(person_spine.key) == StaleStatus.FRESH

    with duckdb.connect(str(zone)) as con:
        loose = con.sql(f"SELECT unique_id, person_key FROM {SPINE_TABLE} WHERE level = 'less_conservative'").pl()
        keys = loose.group_by("person_key").agg(pl.col("unique_id").min()).sort("person_key")
        x, y = int(keys["unique_id"][0]), int(keys["unique_id"][1])  # two persons
        record_decisions(con, _decision(con, (x, y), "match"), REVIEWER, "pairs.csv", now=dt.datetime(2026, 12, 7))
        # before the spine reruns the decision is not honoured yet: the check's count says so
        assert [r["matches_together"] for r in decisions_honoured(con)] == [0, 0]

    observed = _observe(instance)
    assert _observed_version(instance) != empty_version
    [observation] = [e for e in observed.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    counts = {k: v.value for k, v in observation.event_specific_data.asset_observation.metadata.items()}
    assert counts["current_match"] == 1 and counts["decisions_recorded"] == 1
    status = Staleness(graph, instance, None).resolver.get_status(person_spine.key)
    assert status == StaleStatus.STALE

    result = dg.materialize([person_spine, review_decisions_honoured], instance=instance, resources=resources)
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["decisions_not_honoured"].value == 0
    assert re.search(
        r"\|\s*less_conservative\s*\|\s*1\s*\|\s*1\s*\|\s*0\s*\|\s*0\s*\|", check.metadata["by_level"].value
    )
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    by_level = metadata["by_level"].value
    text = json.dumps({k: str(v.value) for k, v in metadata.items()})
    for measure in ("review_forced_links", "review_merges", "review_matches_together"):
        assert measure in text
    # the merge the decision made, counted at both levels (a markdown table, a column per level)
    assert re.search(r"\|\s*review_merges\s*\|\s*1\s*\|\s*1\s*\|", str(by_level))
    assert re.search(r"\|\s*review_matches_together\s*\|\s*1\s*\|\s*1\s*\|", str(by_level))
    logs = " ".join(str(e.message) for e in instance.all_logs(result.run_id))
    for secret in (REVIEWER, REASON, str(x), str(y), "pairs.csv"):
        assert secret not in text and secret not in logs


def test_cmi_review_import_observes_the_decisions_on_the_instance(zone, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cmi_assets.cli import main

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    resources = {"storage": StorageResource()}
    with dg.DagsterInstance.get() as instance:
        _observe(instance)
        dg.materialize([person_spine], instance=instance, resources=resources)
        graph = dg.Definitions(assets=[review_decisions, person_spine], resources=resources).resolve_asset_graph()
        assert Staleness(graph, instance, None).resolver.get_status(person_spine.key) == StaleStatus.FRESH
        with duckdb.connect(str(zone), read_only=True) as con:
            ids = con.sql(f"SELECT unique_id FROM {SPINE_TABLE} WHERE level = 'conservative' ORDER BY unique_id").pl()
            decided = _decision(con, (int(ids["unique_id"][0]), int(ids["unique_id"][-1])), "non_match")
        decided.write_csv(tmp_path / "decisions.csv")
        result = CliRunner().invoke(
            main,
            [
                "review",
                "import",
                str(tmp_path / "decisions.csv"),
                "--reviewer",
                REVIEWER,
                "--data-dir",
                str(zone.parent),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "observed on the Dagster instance" in result.output
    with dg.DagsterInstance.get() as instance:
        assert Staleness(graph, instance, None).resolver.get_status(person_spine.key) == StaleStatus.STALE
