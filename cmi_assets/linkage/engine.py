"""The Splink backend behind one small module: a DuckDB API over a caller's connection
and input tables registered under names Splink can introspect.

Splink finds an input table's columns by its bare name in information_schema, so a
schema-qualified table (linkage.person_records) is exposed through a temporary view
with a bare name. Switching to Spark would replace this module only.
"""

from __future__ import annotations

import itertools

import duckdb
from splink import DuckDBAPI

_view_numbers = itertools.count(1)


def duckdb_api(con: duckdb.DuckDBPyConnection) -> DuckDBAPI:
    return DuckDBAPI(con)


def input_view(con: duckdb.DuckDBPyConnection, table: str, name: str | None = None) -> str:
    """A temporary view over `table` with a bare, unique name; returns that name."""
    view = name or f"cmi_linkage_input_{next(_view_numbers)}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {table}")
    return view


def register_input(db_api: DuckDBAPI, con: duckdb.DuckDBPyConnection, table: str, display_name: str | None = None):
    """A SplinkDataFrame over a (possibly schema-qualified) table."""
    view = input_view(con, table)
    return db_api.register(view, dataset_display_name=display_name or view)
