"""The full linkage run, in the order of the assets: person_records -> linkage_model ->
person_links -> person_spine. Each step is one function the Dagster assets call; the
tables live in the identified zone's `linkage` schema.

  linkage.person_records     standardised person records (person_records.py)
  linkage.person_identities  records equal on every compared field, scored as one
  linkage.person_pairs       every scored identity pair above a floor (predict.py)
  linkage.person_links       pairs linked at either level, both flags (thresholds.py)
  linkage.person_clusters    record -> cluster at each level (clustering.py)
  linkage.person_spine       record -> persistent person_key at each level (keys.py)
  linkage.person_key_events  splits, merges, new and retired keys, per run
  linkage.link_thresholds    the two levels' thresholds of the last full run
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from cmi_assets.linkage.clustering import NODE_FIELDS, cluster_frame, cluster_size_summary, record_clusters, write_frame
from cmi_assets.linkage.keys import assign_person_keys
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE
from cmi_assets.linkage.predict import PAIRS_TABLE, predict_pairs
from cmi_assets.linkage.thresholds import LEVELS, Thresholds, choose_thresholds, flag_links

LINKS_TABLE = "linkage.person_links"
CLUSTERS_TABLE = "linkage.person_clusters"
SPINE_TABLE = "linkage.person_spine"
EVENTS_TABLE = "linkage.person_key_events"
THRESHOLDS_TABLE = "linkage.link_thresholds"

def score_and_flag(con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], identities_table: str = IDENTITIES_TABLE) -> tuple[Thresholds, dict]:
    """person_links: predict every blocked identity pair, choose both thresholds, flag the links."""
    counts = predict_pairs(con, artefact, identities_table, PAIRS_TABLE)
    thresholds = choose_thresholds(con, PAIRS_TABLE)
    counts.update(flag_links(con, thresholds, PAIRS_TABLE, identities_table, LINKS_TABLE))
    write_frame(con, pl.DataFrame([thresholds.as_dict()]), THRESHOLDS_TABLE)
    return thresholds, counts


def stored_thresholds(con: duckdb.DuckDBPyConnection) -> Thresholds:
    """The thresholds of the last full run (incremental runs link with the same ones)."""
    return Thresholds(**con.sql(f"SELECT * FROM {THRESHOLDS_TABLE}").pl().row(0, named=True))


def cluster_levels(
    con: duckdb.DuckDBPyConnection, records_table: str = PERSON_RECORDS_TABLE, identities_table: str = IDENTITIES_TABLE
) -> dict[str, pl.DataFrame]:
    """Record clusters at both levels (unique_id, record_ref, identity_id, cluster_id),
    written to person_clusters (one row per record and level)."""
    nodes = con.sql(f"SELECT {NODE_FIELDS} FROM {identities_table}").pl()
    records = con.sql(f"SELECT unique_id, record_ref, identity_id FROM {records_table}").pl()
    clusters = {}
    for level in LEVELS:
        edges = con.sql(f"SELECT unique_id_l, unique_id_r, match_probability FROM {LINKS_TABLE} WHERE is_link_{level}").pl()
        clusters[level] = record_clusters(records, cluster_frame(nodes, edges))
    write_frame(con, pl.concat([c.with_columns(pl.lit(level).alias("level")) for level, c in clusters.items()]), CLUSTERS_TABLE)
    return clusters


def previous_spine(con: duckdb.DuckDBPyConnection, level: str) -> pl.DataFrame | None:
    if not _exists(con, SPINE_TABLE):
        return None
    return con.sql(f"SELECT record_ref, person_key FROM {SPINE_TABLE} WHERE level = '{level}'").pl()


def issued_keys(con: duckdb.DuckDBPyConnection, level: str) -> set[str]:
    """Every key ever issued at a level (spine and events), so none is reissued."""
    keys = set()
    if _exists(con, SPINE_TABLE):
        keys |= set(con.sql(f"SELECT DISTINCT person_key FROM {SPINE_TABLE} WHERE level = '{level}'").pl()["person_key"].to_list())
    if _exists(con, EVENTS_TABLE):
        rows = con.sql(f"SELECT person_key, other_person_key FROM {EVENTS_TABLE} WHERE level = '{level}'").pl()
        keys |= set(rows["person_key"].drop_nulls().to_list()) | set(rows["other_person_key"].drop_nulls().to_list())
    return keys


def build_spine(
    con: duckdb.DuckDBPyConnection, clusters: dict[str, pl.DataFrame], secret: bytes, run_id: str = "full"
) -> dict[str, Any]:
    """person_spine: keys for both levels, inherited from the previous spine by overlap;
    the run's key events appended to person_key_events. Returns counts only."""
    spines, events, summary = [], [], {}
    for level, level_clusters in clusters.items():
        spine, level_events = assign_person_keys(level_clusters, previous_spine(con, level), secret, level, issued_keys(con, level))
        spines.append(spine.join(level_clusters.select("record_ref", "unique_id"), on="record_ref").with_columns(pl.lit(level).alias("level")))
        events.append(level_events)
        summary[level] = {"persons": int(spine["person_key"].n_unique()), **_event_counts(level_events), **cluster_size_summary(level_clusters)}
    write_frame(con, pl.concat(spines).select("unique_id", "record_ref", "level", "cluster_id", "person_key"), SPINE_TABLE)
    append_events(con, pl.concat(events), run_id)
    return summary


def append_events(con: duckdb.DuckDBPyConnection, events: pl.DataFrame, run_id: str) -> None:
    frame = events.with_columns(pl.lit(run_id).alias("run_id"))
    if not _exists(con, EVENTS_TABLE):
        write_frame(con, frame.clear(), EVENTS_TABLE)
    con.register("_cmi_events", frame)
    try:
        con.execute(f"INSERT INTO {EVENTS_TABLE} BY NAME SELECT * FROM _cmi_events")
    finally:
        con.unregister("_cmi_events")


def _event_counts(events: pl.DataFrame) -> dict[str, int]:
    counts = dict(events.group_by("event").len().iter_rows())
    return {f"events_{e}": int(counts.get(e, 0)) for e in ("new", "split", "merge", "retired")}


def link_persons(con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], secret: bytes, run_id: str = "full") -> dict[str, Any]:
    """A full relink with a (re)trained model: score, flag, cluster, key (person records
    and identities built first: person_records.build_person_records). Keys carry over
    from the previous spine by overlap. Returns counts and thresholds only."""
    thresholds, counts = score_and_flag(con, artefact)
    clusters = cluster_levels(con)
    summary = build_spine(con, clusters, secret, run_id)
    return {"thresholds": thresholds.as_dict(), **counts, **summary}


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
    ).fetchone()[0])

