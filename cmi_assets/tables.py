"""Partitioned tables in DuckDB: each partition (a submission year, a CFSR period, a birth
cohort) replaces its own rows, so rerunning one partition never touches another.

Every multi-statement write goes through `transaction`: DuckDB's write-ahead log holds
committed work only, so a process killed half-way (kill -9, out of memory) leaves the
tables as they were before it started, and a rerun starts from there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block as one DuckDB transaction: committed when it ends, rolled back when
    it raises."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    query = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(query, [schema, name]).fetchone()[0])


def replace_partition_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, key: str, value) -> int:
    """Delete `table`'s rows where `key` = `value` and insert `frame` (which holds only
    that key value), in one transaction. The table is created from the frame's schema
    on first use, and recreated when the frame's columns differ (a new code version)."""
    schema = table.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    con.register("_cfsr_rows", frame.to_arrow())
    try:
        with transaction(con):
            if table_exists(con, table) and _columns(con, table) != frame.columns:
                con.execute(f"drop table {table}")
            con.execute(f"create table if not exists {table} as select * from _cfsr_rows limit 0")
            con.execute(f"delete from {table} where {key} = ?", [value])
            con.execute(f"insert into {table} by name select * from _cfsr_rows")
    finally:
        con.unregister("_cfsr_rows")
    return frame.height


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace a whole (unpartitioned) table with `frame`."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("_cfsr_rows", frame.to_arrow())
    try:
        con.execute(f"create or replace table {table} as select * from _cfsr_rows")
    finally:
        con.unregister("_cfsr_rows")
    return frame.height


def read_table(con: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None) -> pl.DataFrame:
    """Rows of `table` (empty frame when the table does not exist yet)."""
    if not table_exists(con, table):
        return pl.DataFrame()
    return con.execute(f"select * from {table} {where}", params or []).pl()


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows]
