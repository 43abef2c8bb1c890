"""linkage_report materialized on a small generated world (staged by the real loaders and SQL
models, linked by the linkage assets, on a real Dagster instance): the headline comes first,
the precision estimate lies within a point of the truth, the link rates by ethnicity and
deprivation decile equal a count from the staged tables, the gap check runs, and no
identifier reaches the warehouse tables, the metadata or the logs."""

from __future__ import annotations

import csv
import os
import re

import dagster as dg
import duckdb
import polars as pl
import pytest

from cmi_assets.defs.linkage.assets import LINKAGE_ASSETS
from cmi_assets.defs.linkage.report import GAPS_CHECK, REPORT_TABLES, linkage_report
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.guild_report import REPORT_SCHEMA
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage
from cmi_assets_tests.linkage.test_events import stage_world

NEEDED = {"person_records", "linkage_model", "person_links", "person_spine", "event_tables"}
# The asset's default sample (500 links a level): this world has tens of thousands of links,
# so the sample is a small share of them, and at a precision this close to 1 the binomial
# error of 500 pairs is still a fraction of the one-point tolerance.
RUN_CONFIG = {"ops": {"linkage_model": {"config": {"u_max_pairs": 2e5}}}}
ENV = ("CMI_DATA_DIR", "CMI_LANDING_DIR", "CMI_QUARANTINE_DIR", "CMI_TRUTH_DIR", "CMI_PSEUDONYM_KEY")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from cmi_assets.synthetic.world import generate_world

    saved = {k: os.environ.get(k) for k in ENV}
    data = tmp_path_factory.mktemp("linkage_report") / "data"
    for key in ENV:
        os.environ.pop(key, None)
    os.environ.update({"CMI_DATA_DIR": str(data), "CMI_PSEUDONYM_KEY": "test-only-key"})
    try:
        storage = Storage.from_env()
        generate_world(storage.landing_dir.parent, profile="small", scale=0.002, seed=3)
        with storage.connect(IDENTIFIED) as con:
            stage_world(con, storage.landing_dir, storage.quarantine_dir)
        instance = dg.DagsterInstance.ephemeral()
        assets = [a for a in LINKAGE_ASSETS if a.key.to_user_string() in NEEDED] + [linkage_report]
        result = dg.materialize(
            assets, instance=instance, resources={"storage": StorageResource()}, run_config=RUN_CONFIG
        )
        yield {"storage": storage, "instance": instance, "result": result}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _metadata(result) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("linkage_report")]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _tables(storage) -> dict[str, pl.DataFrame]:
    with storage.connect(WAREHOUSE) as con:
        return {name: con.sql(f"SELECT * FROM {REPORT_SCHEMA}.{name}").pl() for name in REPORT_TABLES}


def test_materializes_with_headline_first_and_the_gap_check(reported):
    result = reported["result"]
    assert result.success
    meta = _metadata(result)
    keys = list(meta)
    assert keys[:6] == [
        "conservative/precision",
        "conservative/precision_lo",
        "conservative/precision_hi",
        "less_conservative/precision",
        "less_conservative/precision_lo",
        "less_conservative/precision_hi",
    ]
    assert keys[6:11] == [
        "conservative/link_rate",
        "conservative/cohort_link",
        "less_conservative/link_rate",
        "less_conservative/cohort_link",
        "gaps_over_5_points",
    ]
    assert keys[11] == "subgroup_gaps"
    for level in ("conservative", "less_conservative"):
        assert meta[f"{level}/precision_lo"] <= meta[f"{level}/precision"] <= meta[f"{level}/precision_hi"]
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == GAPS_CHECK]
    gaps = _tables(reported["storage"])["subgroup_gaps"]
    assert check.passed == (not gaps["flagged"].any())
    assert check.metadata["gaps_over_5_points"].value == int(gaps["flagged"].sum()) == meta["gaps_over_5_points"]
    assert all(len(k) <= 30 for k in meta)


def test_precision_within_a_point_of_the_truth(reported):
    """The truth over every link the spine kept: records mapped to true persons as
    linkage_quality maps them (quality.attach_truth), a link true when some record of each
    side is one person; and linkage_quality's own pairwise precision (every pair of records
    in one cluster)."""
    from cmi_assets.linkage.quality import attach_truth, linkage_quality
    from cmi_assets.linkage.spine_run import level_clusters

    storage = reported["storage"]
    precision = _tables(storage)["precision"]
    truth = pl.read_parquet(storage.truth_dir / "record_persons.parquet")
    with storage.connect(IDENTIFIED, read_only=True) as con:
        records = con.sql("SELECT identity_id, agency, record_type, record_key, slot FROM linkage.person_records").pl()
        quality = linkage_quality(con, level_clusters(con), truth, "linkage.person_records")
        links = {
            level: con.execute(
                f"SELECT unique_id_l, unique_id_r FROM linkage.person_links WHERE is_link_{level} AND separated_by IS NULL"
            ).fetchall()
            for level in ("conservative", "less_conservative")
        }
        clusters: dict[tuple, set] = {}
        for level, identity, cluster in con.execute(
            "SELECT level, identity_id, cluster_id FROM linkage.person_clusters"
        ).fetchall():
            clusters.setdefault((level, identity), set()).add(cluster)
    people: dict[int, set] = {}
    for identity, person in attach_truth(records, truth).select("identity_id", "true_person_id").iter_rows():
        if person is not None:
            people.setdefault(identity, set()).add(person)
    assert len(people) == records["identity_id"].n_unique()
    for row in precision.iter_rows(named=True):
        level = row["level"]
        # the links the spine kept: both identities in one cluster
        kept = [(a, b) for a, b in links[level] if clusters[(level, a)] & clusters[(level, b)]]
        true_share = sum(bool(people[a] & people[b]) for a, b in kept) / len(kept)
        assert row["links"] == len(kept)
        assert abs(row["precision"] - true_share) < 0.01, (level, row["precision"], true_share)
        assert abs(row["truth_precision"] - true_share) < 0.005
        pairwise = quality[level]["pairs"]["all"]["precision"]
        assert abs(row["precision"] - pairwise) < 0.01, (level, row["precision"], pairwise)


def test_link_rates_by_ethnicity_and_deprivation_equal_a_count_from_the_staged_tables(reported):
    storage = reported["storage"]
    rates = _tables(storage)["link_rates"].filter(pl.col("unit") == "cohort_children")
    with storage.connect(IDENTIFIED, read_only=True) as con:
        rows = con.execute(
            """SELECT c.level, r.postcode, g.ethnicity,
                      (SELECT count(DISTINCT r2.agency) FROM linkage.person_clusters c2
                       JOIN linkage.person_records r2 USING (unique_id)
                       WHERE c2.level = c.level AND c2.cluster_id = c.cluster_id) AS agencies
               FROM linkage.person_records r JOIN linkage.person_clusters c USING (unique_id)
               JOIN stg.stg_births_registrations g ON CAST(g.record_key AS VARCHAR) = r.record_key
               WHERE r.agency = 'births' AND r.record_type = 'registrations' AND r.slot = 'child'"""
        ).fetchall()
        deciles = dict(con.execute("SELECT postcode, deprivation_decile FROM stg.stg_reference_areas").fetchall())
    expected: dict[tuple, list[int]] = {}
    for level, postcode, ethnicity, agencies in rows:
        decile = deciles.get(postcode)
        keys = [("deprivation_decile", str(decile) if decile is not None else "unknown")]
        keys += [("ethnicity", e) for e in (ethnicity.split(";") if ethnicity else ["unknown"])]
        for group_type, value in keys:
            cell = expected.setdefault((level, group_type, value), [0, 0])
            cell[0] += 1
            cell[1] += agencies > 1
    shown = {
        (r["level"], r["group_type"], r["group_value"]): r
        for r in rates.filter(pl.col("group_type").is_in(["ethnicity", "deprivation_decile"])).iter_rows(named=True)
    }
    assert set(shown) == set(expected) and len(expected) > 10
    checked = 0
    for key, (population, linked) in expected.items():
        assert shown[key]["population"] == population, key
        if not shown[key]["suppressed"]:
            assert shown[key]["linked"] == linked, key
            checked += 1
    assert checked > 5


def test_indicators_at_each_level_and_their_difference(reported):
    indicators = _tables(reported["storage"])["indicators"]
    assert set(indicators["level"]) == {"conservative", "less_conservative", "difference"}
    by = {(r["level"], r["indicator"]): r for r in indicators.iter_rows(named=True)}
    for indicator in ("substantiated_finding_by_5", "more_than_one_list_by_5"):
        first, second = by[("conservative", indicator)], by[("less_conservative", indicator)]
        assert first["population"] > 0 and second["population"] > 0
        diff = by[("difference", indicator)]
        if not diff["suppressed"]:
            assert diff["count"] == second["count"] - first["count"]
            assert diff["per_1000"] == pytest.approx(second["per_1000"] - first["per_1000"])


def test_no_identifier_in_tables_metadata_or_logs(reported):
    storage, instance, result = reported["storage"], reported["instance"], reported["result"]
    tables = _tables(storage)
    cells = "\n".join(str(v) for frame in tables.values() for row in frame.iter_rows() for v in row)
    logs = "\n".join(str(event) for event in instance.all_logs(result.run_id))
    text = cells + "\n" + logs + "\n" + "\n".join(str(v) for v in _metadata(result).values())
    ids = set()
    for path in storage.landing_dir.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                ids.update(v for k, v in row.items() if k.lower().endswith("_id") and v and len(v) > 4)
    persons = pl.read_parquet(storage.truth_dir / "persons.parquet")
    names = {f"{g} {f}".upper() for g, f in zip(persons["given_name"], persons["family_name"]) if g and f}
    dobs = {d.isoformat() for d in persons["dob"].drop_nulls().to_list()}
    with storage.connect(IDENTIFIED, read_only=True) as con:
        keys = {k for (k,) in con.execute("SELECT DISTINCT person_key FROM linkage.person_spine").fetchall()}
        record_ids = {str(u) for (u,) in con.execute("SELECT unique_id FROM linkage.person_records").fetchall()}
        refs = {r for (r,) in con.execute("SELECT record_key FROM linkage.person_records").fetchall() if len(r) > 4}
    tokens = set(re.findall(r"[A-Za-z0-9_-]+", text))
    words = re.findall(r"[A-Za-z0-9'/-]+", text.upper())
    assert ids and names and keys and record_ids and refs
    assert not (ids | keys | record_ids | refs) & tokens
    assert not names & {f"{a} {b}" for a, b in zip(words, words[1:])}
    assert not dobs & set(re.findall(r"\d{4}-\d{2}-\d{2}", text))
    for frame in tables.values():
        assert not {"person_key", "unique_id", "unique_id_l", "record_key", "dob"} & set(frame.columns)


def test_small_cells_are_suppressed_in_every_table(reported):
    from cmi_assets.publish.disclosure import SUPPRESS_BELOW

    tables = _tables(reported["storage"])
    rates = tables["link_rates"]
    small = rates.filter(
        pl.col("population").is_between(1, SUPPRESS_BELOW - 1) | pl.col("linked").is_between(1, SUPPRESS_BELOW - 1)
    )
    assert small.filter(pl.col("linked").is_not_null() | pl.col("rate").is_not_null()).is_empty()
    assert rates.filter(pl.col("suppressed"))["population"].is_between(1, SUPPRESS_BELOW - 1).any()
    histogram = tables["weight_histogram"]
    assert histogram.filter(pl.col("pairs").is_between(1, SUPPRESS_BELOW - 1)).is_empty()
    assert histogram["suppressed"].any()
    for name in ("link_rates", "weight_histogram", "linkage_error", "indicators"):
        assert {"suppressed", "suppression_reason"} <= set(tables[name].columns), name
    with duckdb.connect(str(reported["storage"].data_dir / "warehouse.duckdb"), read_only=True) as con:
        schemas = {s for (s,) in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
    assert REPORT_SCHEMA in schemas
