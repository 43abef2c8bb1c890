"""The full linkage run, in the order of the assets: person_records -> linkage_model ->
person_links -> person_spine. Each step is one function the Dagster assets call; the
tables live in the identified zone's `linkage` schema.

  linkage.person_records     standardised person records (person_records.py)
  linkage.person_identities  records equal on every compared field, scored as one
  linkage.person_pairs       every scored identity pair above a floor (predict.py)
  linkage.person_links       pairs linked at either level, both flags (thresholds.py)
  linkage.person_spine       record -> cluster (clustering.py) and persistent person_key
                             (keys.py) at each level
  linkage.person_clusters    record -> cluster at each level (a view of the spine)
  linkage.person_key_events  splits, merges, new and retired keys, per run
  linkage.link_thresholds    the two levels' thresholds of the last full run
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from cmi_assets import progress
from cmi_assets.linkage.clustering import cluster_nodes, size_summary, write_frame
from cmi_assets.linkage.keys import assign_keys
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE
from cmi_assets.linkage.predict import PAIRS_TABLE, predict_pairs
from cmi_assets.linkage.review import (
    ReviewConstraints,
    attribute_events,
    decision_record_keys,
    review_constraints,
    review_outcome,
)
from cmi_assets.linkage.tables import CLUSTERS_TABLE, EVENTS_TABLE, LINKS_TABLE, SPINE_TABLE, THRESHOLDS_TABLE
from cmi_assets.linkage.thresholds import LEVELS, Thresholds, choose_thresholds, flag_links
from cmi_assets.tables import table_exists

LEVEL_CONDITIONS = {level: f"is_link_{level}" for level in LEVELS}


def score_and_flag(
    con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], identities_table: str = IDENTITIES_TABLE
) -> tuple[Thresholds, dict]:
    """person_links: predict every blocked identity pair once, choose both thresholds, flag
    the links of both levels from the same scored pairs."""
    with progress.steps("scoring person pairs", 3) as step:
        step("predicting every blocked pair")
        counts = predict_pairs(con, artefact, identities_table, PAIRS_TABLE)
        step("choosing both thresholds")
        thresholds = choose_thresholds(con, PAIRS_TABLE)
        step("flagging links at both levels")
        counts.update(flag_links(con, thresholds, PAIRS_TABLE, identities_table, LINKS_TABLE))
        write_frame(con, pl.DataFrame([thresholds.as_dict()]), THRESHOLDS_TABLE)
    return thresholds, counts


def stored_thresholds(con: duckdb.DuckDBPyConnection) -> Thresholds:
    """The thresholds of the last full run (incremental runs link with the same ones)."""
    return Thresholds(**con.sql(f"SELECT * FROM {THRESHOLDS_TABLE}").pl().row(0, named=True))


def cluster_levels(
    con: duckdb.DuckDBPyConnection,
    identities_table: str = IDENTITIES_TABLE,
    records_table: str = PERSON_RECORDS_TABLE,
    review: ReviewConstraints | None = None,
) -> dict[str, pl.DataFrame]:
    """Every identity's cluster at both levels (clustering.cluster_nodes over person_links),
    honouring the clerical decisions (review.review_constraints) when given: identity
    unique_id -> cluster_id, per level."""
    return cluster_nodes(
        con,
        identities_table,
        LINKS_TABLE,
        LEVEL_CONDITIONS,
        records=records_table,
        review=review.pairs if review is not None else None,
    )


def cluster_sizes(con: duckdb.DuckDBPyConnection, level: str, clusters_table: str = CLUSTERS_TABLE) -> dict:
    sizes = con.execute(
        f"SELECT count(*) AS n FROM {clusters_table} WHERE level = ? GROUP BY cluster_id", [level]
    ).pl()["n"]
    return size_summary(sizes)


def issued_keys_sql(con: duckdb.DuckDBPyConnection, level: str) -> str | None:
    """A relation of every key ever issued at a level (spine and events), so none is
    reissued; None before the first spine."""
    parts = []
    if table_exists(con, SPINE_TABLE):
        parts.append(f"SELECT person_key FROM {SPINE_TABLE} WHERE level = '{level}'")
    if table_exists(con, EVENTS_TABLE):
        parts.append(f"SELECT person_key FROM {EVENTS_TABLE} WHERE level = '{level}'")
        parts.append(
            f"SELECT other_person_key FROM {EVENTS_TABLE} WHERE level = '{level}' AND other_person_key IS NOT NULL"
        )
    return f"({' UNION '.join(parts)})" if parts else None


def register_node_clusters(con: duckdb.DuckDBPyConnection, node_clusters: dict[str, pl.DataFrame], name: str) -> None:
    """The identities' clusters of every level as one registered frame (identity_id,
    cluster_id, level)."""
    frame = pl.concat(
        [
            c.select(pl.col("unique_id").alias("identity_id"), "cluster_id", pl.lit(level).alias("level"))
            for level, c in node_clusters.items()
        ]
    )
    con.register(name, frame)


def spine_select(records: str, node_clusters: str, keys: dict[str, str]) -> str:
    """The spine's rows: each record of `records` with its identity's cluster and the
    cluster's key at each level (keys: level -> relation cluster_id, person_key)."""
    return " UNION ALL ".join(
        f"""SELECT r.unique_id, r.record_ref, r.identity_id, c.level, c.cluster_id, k.person_key
            FROM {records} r JOIN {node_clusters} c ON c.identity_id = r.identity_id AND c.level = '{level}'
            JOIN {table} k USING (cluster_id)"""
        for level, table in keys.items()
    )


def build_spine(
    con: duckdb.DuckDBPyConnection,
    node_clusters: dict[str, pl.DataFrame],
    secret: bytes,
    run_id: str = "full",
    records_table: str = PERSON_RECORDS_TABLE,
    identities_table: str = IDENTITIES_TABLE,
    review: ReviewConstraints | None = None,
) -> dict[str, Any]:
    """person_spine: every record's cluster and person_key at both levels, keys inherited
    from the previous spine by overlap (keys.assign_keys); the run's key events appended
    to person_key_events, with the clerical decision that explains each (decision_id,
    cause: review.attribute_events) when review is given; person_clusters a view of the
    spine. Returns counts only.

    A cluster's founding record and record count come from its identities (each holds
    its smallest record reference and record count), for both levels in one pass, so a
    first run never scans the records before writing the spine, and the summary's
    cluster sizes are those counts (the spine is not read back)."""
    has_previous = table_exists(con, SPINE_TABLE)
    if review is not None:
        keys_before = decision_record_keys(con, review.decisions, SPINE_TABLE)
    register_node_clusters(con, node_clusters, "cmi_node_clusters")
    events, keys, persons = [], {}, {}
    try:
        # every cluster's founder and record count at both levels, in one pass over the
        # identities (also the cluster sizes of the summary: the spine is not read back)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_cluster_founders AS
                        SELECT c.level, c.cluster_id, min(i.first_record_ref) AS founder, sum(i.n_records)::BIGINT AS records
                        FROM {identities_table} i JOIN cmi_node_clusters c ON c.identity_id = i.unique_id GROUP BY c.level, c.cluster_id""")
        for level in LEVELS:
            clusters = f"""(SELECT r.record_ref, c.cluster_id FROM {records_table} r
                            JOIN cmi_node_clusters c ON c.identity_id = r.identity_id AND c.level = '{level}')"""
            founders = f"(SELECT cluster_id, founder, records FROM cmi_cluster_founders WHERE level = '{level}')"
            previous = (
                f"(SELECT record_ref, person_key FROM {SPINE_TABLE} WHERE level = '{level}')" if has_previous else None
            )
            keys[level] = f"cmi_keys_{level}"
            events.append(
                assign_keys(con, clusters, previous, secret, level, issued_keys_sql(con, level), keys[level], founders)
            )
            # the level's distinct keys, from its clusters' keys (every cluster has records)
            persons[level] = con.execute(f"SELECT count(DISTINCT person_key) FROM {keys[level]}").fetchone()[0]
        con.execute(
            f"CREATE OR REPLACE TABLE {SPINE_TABLE} AS {spine_select(records_table, 'cmi_node_clusters', keys)}"
        )
        sizes = con.execute("SELECT level, records AS n FROM cmi_cluster_founders").pl()
    finally:
        con.unregister("cmi_node_clusters")
        for table in (*keys.values(), "cmi_cluster_founders"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    create_clusters_view(con)
    level_events = pl.concat(events)
    outcome = {}
    if review is not None:
        keys_after = decision_record_keys(con, review.decisions, SPINE_TABLE)
        level_events = attribute_events(level_events, review.decisions, keys_before, keys_after)
        outcome = review_outcome(review.decisions, node_clusters)
    append_events(con, level_events, run_id)
    summary = {}
    for level in LEVELS:
        this_level = level_events.filter(pl.col("level") == level)
        summary[level] = {
            "persons": int(persons[level]),
            **_event_counts(this_level),
            **size_summary(sizes.filter(pl.col("level") == level)["n"]),
        }
        if review is not None:
            summary[level].update(review.counts)
            summary[level].update(outcome.get(level, {}))
            summary[level]["review_merges"] = int(this_level.filter(pl.col("cause") == "review_match").height)
            summary[level]["review_splits"] = int(
                this_level.filter((pl.col("cause") == "review_non_match") & (pl.col("event") == "split")).height
            )
    return summary


def create_clusters_view(con: duckdb.DuckDBPyConnection) -> None:
    """person_clusters: record -> cluster at each level, a view of the spine (one table
    written per run, not two)."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        CLUSTERS_TABLE.split("."),
    ).fetchone()
    if kind and kind[0] != "VIEW":  # a table from an earlier version
        con.execute(f"DROP TABLE {CLUSTERS_TABLE}")
    con.execute(
        f"CREATE OR REPLACE VIEW {CLUSTERS_TABLE} AS SELECT unique_id, record_ref, identity_id, cluster_id, level FROM {SPINE_TABLE}"
    )


def append_events(con: duckdb.DuckDBPyConnection, events: pl.DataFrame, run_id: str) -> None:
    frame = events.with_columns(pl.lit(run_id).alias("run_id"))
    if not table_exists(con, EVENTS_TABLE):
        write_frame(con, frame.clear(), EVENTS_TABLE)
    for column in ("decision_id", "cause"):  # events a clerical decision explains (review.py)
        if column in frame.columns:
            kind = "BIGINT" if column == "decision_id" else "VARCHAR"
            con.execute(f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN IF NOT EXISTS {column} {kind}")
    con.register("_cmi_events", frame)
    try:
        con.execute(f"INSERT INTO {EVENTS_TABLE} BY NAME SELECT * FROM _cmi_events")
    finally:
        con.unregister("_cmi_events")


def _event_counts(events: pl.DataFrame) -> dict[str, int]:
    counts = dict(events.group_by("event").len().iter_rows())
    return {f"events_{e}": int(counts.get(e, 0)) for e in ("new", "split", "merge", "retired")}


def link_persons(
    con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], secret: bytes, run_id: str = "full"
) -> dict[str, Any]:
    """A full relink with a (re)trained model: score, flag, cluster, key (person records
    and identities built first: person_records.build_person_records). Keys carry over
    from the previous spine by overlap. Returns counts and thresholds only."""
    thresholds, counts = score_and_flag(con, artefact)
    return {"thresholds": thresholds.as_dict(), **counts, **cluster_and_key(con, secret, run_id)}


def cluster_and_key(con: duckdb.DuckDBPyConnection, secret: bytes, run_id: str) -> dict[str, Any]:
    """person_spine: cluster both levels (cluster_levels) and issue the keys (build_spine),
    honouring the clerical decisions of linkage.review_decisions where there are any."""
    with progress.steps("building the person spine", 2) as step:
        step("clustering both levels")
        review = review_constraints(con)
        clusters = cluster_levels(con, review=review)
        step("issuing person keys")
        return build_spine(con, clusters, secret, run_id, review=review)
