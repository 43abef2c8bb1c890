"""One run of the person spine over the identified zone: the previous spine kept for the
key-stability check, the new clusters and person keys (spine.cluster_and_key), and each
level's clusters read back for the quality measures and the clerical sample."""

from __future__ import annotations

import duckdb
import polars as pl

from cmi_assets.linkage.tables import CLUSTERS_TABLE, LEVELS, PREVIOUS_SPINE_TABLE, SPINE_TABLE
from cmi_assets.tables import table_exists, transaction


def replace_spine(con: duckdb.DuckDBPyConnection, secret: bytes, run_id: str) -> tuple[dict, int]:
    """Cluster and key both levels, keeping the previous spine; returns cluster_and_key's
    summary per level and the new spine's row count."""
    from cmi_assets.linkage.spine import cluster_and_key

    # One transaction: the spine, its previous copy and the key events change together, so
    # a run killed half-way leaves no spine whose keys have no events (a rerun would take
    # such a spine as the previous one and never record its keys as new).
    with transaction(con):
        has_previous = table_exists(con, SPINE_TABLE)
        con.execute(f"DROP TABLE IF EXISTS {PREVIOUS_SPINE_TABLE}")
        if has_previous:  # kept for the key-stability check
            con.execute(f"CREATE TABLE {PREVIOUS_SPINE_TABLE} AS SELECT * FROM {SPINE_TABLE}")
        summary = cluster_and_key(con, secret, run_id=run_id)
        rows = con.execute(f"SELECT count(*) FROM {SPINE_TABLE}").fetchone()[0]
    return summary, rows


def level_clusters(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Each level's records with their cluster (this run's cluster ids)."""
    return {
        level: con.sql(
            f"SELECT unique_id, record_ref, identity_id, cluster_id FROM {CLUSTERS_TABLE} WHERE level = '{level}'"
        ).pl()
        for level in LEVELS
    }


def spine_log_line(level: str, values: dict) -> str:
    """One level's persons and key events, for the run log."""
    return (
        f"{level}: {values['persons']} persons, {values['events_new']} new keys, "
        f"{values['events_split']} splits, {values['events_merge']} merges"
    )
