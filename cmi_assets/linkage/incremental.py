"""Link a newly landed extract into the existing spine without retraining.

The new records are scored against the existing ones and among themselves with the
stored model and TF tables (Splink predict_between / predict_within), flagged with the
last full run's thresholds, and only the clusters they touch are re-clustered. Every
other person's cluster, and so their person_key, is left exactly as it was.

The clerical decisions bind the re-clustering as they bind a full spine run (the same
review.review_constraints): a forced link pulls its other side's cluster into the
re-clustered ones, so it holds even when recorded after the last spine run; a forced
non-link's sides are never put in one cluster.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from cmi_assets.linkage.clustering import cluster_nodes
from cmi_assets.linkage.keys import assign_keys
from cmi_assets.linkage.person_records import (
    IDENTITIES_TABLE,
    PERSON_RECORDS_TABLE,
    build_identities,
    write_person_records,
)
from cmi_assets.linkage.predict import PAIRS_TABLE, predict_new_pairs
from cmi_assets.linkage.review import ReviewConstraints, attribute_events, decision_record_keys, review_constraints
from cmi_assets.linkage.spine import (
    LINKS_TABLE,
    SPINE_TABLE,
    append_events,
    issued_keys_sql,
    register_node_clusters,
    spine_select,
    stored_thresholds,
)
from cmi_assets.linkage.thresholds import LEVELS, flag_links

INCOMING_RECORDS = "linkage.person_records_incoming"
INCOMING_IDENTITIES = "linkage.person_identities_incoming"
INCOMING_PAIRS = "linkage.person_pairs_incoming"
INCOMING_LINKS = "linkage.person_links_incoming"


def link_new_records(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    new_records: pl.DataFrame,
    secret: bytes,
    run_id: str = "incremental",
) -> dict[str, Any]:
    """Add standardised person records (person_records.standardise_person_records) to
    the spine. Records already present (same record_ref) are skipped; a record equal to
    an existing identity joins it without scoring. Counts only."""
    write_person_records(con, new_records, INCOMING_RECORDS)
    con.execute(f"DELETE FROM {INCOMING_RECORDS} WHERE record_ref IN (SELECT record_ref FROM {PERSON_RECORDS_TABLE})")
    n_new = con.execute(f"SELECT count(*) FROM {INCOMING_RECORDS}").fetchone()[0]
    if n_new == 0:
        return {"new_records": 0}
    n_identities = build_identities(con, table=INCOMING_IDENTITIES, only_new_from=INCOMING_RECORDS)
    counts: dict[str, Any] = {"new_records": int(n_new), "new_identities": int(n_identities)}
    con.execute(f"DROP TABLE IF EXISTS {INCOMING_PAIRS}")
    if n_identities:
        counts.update(predict_new_pairs(con, artefact, IDENTITIES_TABLE, INCOMING_IDENTITIES, INCOMING_PAIRS))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW cmi_all_identities AS SELECT * FROM {IDENTITIES_TABLE} UNION ALL BY NAME SELECT * FROM {INCOMING_IDENTITIES}"
        )
        counts.update(flag_links(con, stored_thresholds(con), INCOMING_PAIRS, "cmi_all_identities", INCOMING_LINKS))
        con.execute(f"INSERT INTO {PAIRS_TABLE} BY NAME SELECT * FROM {INCOMING_PAIRS}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {INCOMING_LINKS} AS SELECT * FROM {LINKS_TABLE} LIMIT 0")
    con.execute(f"INSERT INTO {PERSON_RECORDS_TABLE} BY NAME SELECT * FROM {INCOMING_RECORDS}")
    con.execute(f"INSERT INTO {IDENTITIES_TABLE} BY NAME SELECT * FROM {INCOMING_IDENTITIES}")
    # identities that already existed now hold more records
    con.execute(
        f"""UPDATE {IDENTITIES_TABLE} i SET n_records = c.n, first_record_ref = c.first FROM
            (SELECT identity_id, count(*) AS n, min(record_ref) AS first FROM {PERSON_RECORDS_TABLE}
             WHERE identity_id IN (SELECT identity_id FROM {INCOMING_RECORDS}) GROUP BY identity_id) c
            WHERE c.identity_id = i.unique_id AND (c.n <> i.n_records OR c.first <> i.first_record_ref)"""
    )
    con.execute(f"INSERT INTO {LINKS_TABLE} BY NAME SELECT * FROM {INCOMING_LINKS}")
    level_summaries, events = _relink_affected(con, secret)
    counts.update(level_summaries)
    append_events(con, events, run_id)
    return counts


def _relink_affected(con: duckdb.DuckDBPyConnection, secret: bytes) -> tuple[dict[str, dict[str, int]], pl.DataFrame]:
    """Re-cluster, at each level, the clusters the new records touch (through a new link, by
    sharing an existing identity, or through a forced link of the clerical review from
    either) together with the new records; re-key them from their previous keys; leave
    every other cluster alone. Both levels are clustered in one pass over the less
    conservative level's affected records (they hold the conservative level's: a
    conservative link is a less conservative one), as a full run does, the conservative
    level with only its own affected records' links, and with the full run's review
    constraints. The key events a decision explains carry its decision_id, as in a full run."""
    review = review_constraints(con)
    affected = {level: f"cmi_affected_records_{level}" for level in LEVELS}
    try:
        for level, table in affected.items():
            _affected_records(con, level, table, review)
        inner = affected["conservative"]
        outer = f"(SELECT identity_id FROM {affected['less_conservative']} UNION SELECT identity_id FROM {inner})"
        nodes = f"(SELECT * FROM {IDENTITIES_TABLE} WHERE unique_id IN {outer})"
        links = f"""(SELECT *, unique_id_l IN (SELECT identity_id FROM {inner}) AND unique_id_r IN (SELECT identity_id FROM {inner}) AS in_inner
                     FROM {LINKS_TABLE} WHERE unique_id_l IN {outer} AND unique_id_r IN {outer})"""
        records = f"""(SELECT * FROM {PERSON_RECORDS_TABLE} WHERE (id_namespace, person_id) IN
                       (SELECT id_namespace, person_id FROM {nodes} WHERE person_id IS NOT NULL))"""
        node_clusters = cluster_nodes(
            con,
            nodes,
            links,
            {"conservative": "is_link_conservative AND in_inner", "less_conservative": "is_link_less_conservative"},
            records=records,
            review=review.pairs if review is not None else None,
        )
        if review is not None:
            keys_before = decision_record_keys(con, review.decisions, SPINE_TABLE)
        summaries, events = {}, []
        for level, table in affected.items():
            summary, level_events = _rekey(con, level, table, node_clusters[level], secret)
            summaries[level] = summary
            events.append(level_events)
    finally:
        for table in affected.values():
            con.execute(f"DROP TABLE IF EXISTS {table}")
    events = pl.concat(events)
    if review is not None:
        keys_after = decision_record_keys(con, review.decisions, SPINE_TABLE)
        events = attribute_events(events, review.decisions, keys_before, keys_after)
    return summaries, events


def _affected_records(con: duckdb.DuckDBPyConnection, level: str, table: str, review: ReviewConstraints | None) -> None:
    """table: the records (unique_id, record_ref, identity_id) of one level's clusters that
    the new records touch, and the new records. A cluster is touched by holding a new
    record's identity or a side of a new link, and, repeatedly, by holding the other side
    of a forced link from a touched cluster or a new identity (a full run would join them)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cmi_touched AS SELECT DISTINCT s.cluster_id FROM {SPINE_TABLE} s
            WHERE s.level = '{level}' AND (
                s.identity_id IN (SELECT identity_id FROM {INCOMING_RECORDS})
                OR s.identity_id IN (SELECT unique_id_l FROM {INCOMING_LINKS} WHERE is_link_{level})
                OR s.identity_id IN (SELECT unique_id_r FROM {INCOMING_LINKS} WHERE is_link_{level}))"""
    )
    forced = review.pairs.links if review is not None else pl.DataFrame()
    if forced.height:
        both_ways = pl.concat([forced, forced.select(unique_id_l="unique_id_r", unique_id_r="unique_id_l")])
        con.register("cmi_forced_links", both_ways.select("unique_id_l", "unique_id_r"))
        try:
            while True:
                added = con.execute(
                    f"""INSERT INTO cmi_touched SELECT DISTINCT s.cluster_id FROM {SPINE_TABLE} s
                        JOIN cmi_forced_links f ON f.unique_id_r = s.identity_id
                        WHERE s.level = '{level}' AND s.cluster_id NOT IN (SELECT cluster_id FROM cmi_touched)
                          AND (f.unique_id_l IN (SELECT identity_id FROM {INCOMING_RECORDS})
                               OR f.unique_id_l IN (SELECT identity_id FROM {SPINE_TABLE} WHERE level = '{level}'
                                                    AND cluster_id IN (SELECT cluster_id FROM cmi_touched)))"""
                ).fetchone()[0]
                if not added:
                    break
        finally:
            con.unregister("cmi_forced_links")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT unique_id, record_ref, identity_id FROM {PERSON_RECORDS_TABLE}
            WHERE unique_id IN (SELECT unique_id FROM {SPINE_TABLE} WHERE level = '{level}'
                                AND cluster_id IN (SELECT cluster_id FROM cmi_touched))
               OR unique_id IN (SELECT unique_id FROM {INCOMING_RECORDS})"""
    )
    con.execute("DROP TABLE cmi_touched")


def _rekey(
    con: duckdb.DuckDBPyConnection, level: str, affected: str, node_clusters: pl.DataFrame, secret: bytes
) -> tuple[dict[str, int], pl.DataFrame]:
    """One level's affected records (table: unique_id, record_ref, identity_id) into the
    spine with their new clusters (node_clusters: unique_id, cluster_id), keyed from
    their previous keys."""
    n_records = con.execute(f"SELECT count(*) FROM {affected}").fetchone()[0]
    register_node_clusters(con, {level: node_clusters}, "cmi_relinked_nodes")
    try:
        clusters = (
            f"(SELECT r.record_ref, c.cluster_id FROM {affected} r JOIN cmi_relinked_nodes c USING (identity_id))"
        )
        previous = f"""(SELECT record_ref, person_key FROM {SPINE_TABLE} WHERE level = '{level}'
                        AND unique_id IN (SELECT unique_id FROM {affected}))"""
        events = assign_keys(con, clusters, previous, secret, level, issued_keys_sql(con, level), "cmi_relinked_keys")
        n_clusters = con.execute(f"SELECT count(DISTINCT cluster_id) FROM {clusters}").fetchone()[0]
        con.execute(
            f"DELETE FROM {SPINE_TABLE} WHERE level = '{level}' AND unique_id IN (SELECT unique_id FROM {affected})"
        )
        con.execute(
            f"INSERT INTO {SPINE_TABLE} BY NAME {spine_select(affected, 'cmi_relinked_nodes', {level: 'cmi_relinked_keys'})}"
        )
    finally:
        con.unregister("cmi_relinked_nodes")
        con.execute("DROP TABLE IF EXISTS cmi_relinked_keys")
    return {"records_relinked": int(n_records), "clusters_relinked": int(n_clusters)}, events
