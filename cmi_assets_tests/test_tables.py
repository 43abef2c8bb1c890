"""Partition-replacing writes of the CFSR tables."""

from __future__ import annotations

import duckdb
import polars as pl

from cmi_assets.tables import read_table, replace_partition_rows, replace_table


def test_a_partition_replaces_only_its_own_rows():
    con = duckdb.connect()
    replace_partition_rows(con, "cfsr.t", pl.DataFrame({"period_fy": [2019, 2019], "n": [1, 2]}), "period_fy", 2019)
    replace_partition_rows(con, "cfsr.t", pl.DataFrame({"period_fy": [2020], "n": [3]}), "period_fy", 2020)
    replace_partition_rows(con, "cfsr.t", pl.DataFrame({"period_fy": [2019], "n": [9]}), "period_fy", 2019)
    assert read_table(con, "cfsr.t", "order by period_fy").rows() == [(2019, 9), (2020, 3)]


def test_new_columns_recreate_the_table():
    con = duckdb.connect()
    replace_partition_rows(con, "cfsr.t", pl.DataFrame({"period_fy": [2019], "n": [1]}), "period_fy", 2019)
    replace_partition_rows(con, "cfsr.t", pl.DataFrame({"period_fy": [2020], "n": [2], "m": ["x"]}), "period_fy", 2020)
    assert read_table(con, "cfsr.t").columns == ["period_fy", "n", "m"]


def test_missing_table_reads_empty_and_whole_tables_are_replaced():
    con = duckdb.connect()
    assert read_table(con, "cfsr.none").is_empty()
    replace_table(con, "cfsr.w", pl.DataFrame({"a": [1, 2]}))
    replace_table(con, "cfsr.w", pl.DataFrame({"a": [3]}))
    assert read_table(con, "cfsr.w").rows() == [(3,)]
