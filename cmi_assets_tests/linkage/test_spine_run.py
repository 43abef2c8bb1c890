"""One spine run on a real DuckDB file: each level's clusters read back, and a run that
fails part-way leaves the previous spine and its copy as they were (one transaction)."""

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.spine_run import level_clusters, replace_spine
from cmi_assets.linkage.tables import CLUSTERS_TABLE, LEVELS, PREVIOUS_SPINE_TABLE, SPINE_TABLE
from cmi_assets.tables import table_exists


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    con.execute("CREATE SCHEMA linkage")
    yield con
    con.close()


def test_level_clusters_split_by_level(con):
    con.execute(
        f"CREATE TABLE {CLUSTERS_TABLE} AS SELECT * FROM (VALUES "
        "(1, 'a|b|1|child', 11, 'conservative', 11), (2, 'a|b|2|child', 12, 'conservative', 12), "
        "(1, 'a|b|1|child', 11, 'less_conservative', 11), (2, 'a|b|2|child', 12, 'less_conservative', 11)"
        ") t(unique_id, record_ref, identity_id, level, cluster_id)"
    )
    clusters = level_clusters(con)
    assert set(clusters) == set(LEVELS)
    assert clusters["conservative"].columns == ["unique_id", "record_ref", "identity_id", "cluster_id"]
    assert clusters["conservative"].sort("unique_id")["cluster_id"].to_list() == [11, 12]
    assert clusters["less_conservative"].sort("unique_id")["cluster_id"].to_list() == [11, 11]


def test_a_failed_run_keeps_the_previous_spine(con):
    con.execute(f"CREATE TABLE {SPINE_TABLE} AS SELECT 1 AS unique_id, 'k1' AS person_key")
    con.execute(f"CREATE TABLE {PREVIOUS_SPINE_TABLE} AS SELECT 0 AS unique_id, 'k0' AS person_key")
    # no person links to cluster: the run fails after copying the spine, inside the transaction
    with pytest.raises(duckdb.CatalogException):
        replace_spine(con, b"secret", run_id="run-1")
    assert con.sql(f"SELECT * FROM {SPINE_TABLE}").pl().equals(pl.DataFrame({"unique_id": [1], "person_key": ["k1"]}))
    assert con.sql(f"SELECT person_key FROM {PREVIOUS_SPINE_TABLE}").fetchall() == [("k0",)]
    assert table_exists(con, SPINE_TABLE)
