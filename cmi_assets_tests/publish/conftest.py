"""The open data package the publish tests read: a protected indicator table in a real
DuckDB warehouse file, written as a package."""

from __future__ import annotations

import duckdb
import pytest

from cmi_assets.community.schema import INDICATORS_TABLE
from cmi_assets.publish.disclosure import protect_indicator_table
from cmi_assets.publish.package import published_frames, warehouse_tables, write_package
from cmi_assets_tests.publish.worlds import children_frame, linked_world, long_table, write_warehouse


@pytest.fixture
def package(tmp_path):
    rows = [
        ("09001", f"0600{p}", s, 1 + i % 3, int(i % 7 == 0)) for p in range(3) for s in "FM" for i in range(30 + 9 * p)
    ]
    published = protect_indicator_table(long_table(children_frame(rows)))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema community")
    con.register("published", published.to_arrow())
    con.execute(f"create table {INDICATORS_TABLE} as select * from published")
    tables = warehouse_tables(con)
    con.close()
    out = tmp_path / "package"
    files = write_package(out, tables, modified="2026-12-07")
    return out, files, published


@pytest.fixture(scope="module")
def linked_package(tmp_path_factory):
    """Community indicators, CFSR recurrence and incidence rates of one synthetic cohort in a
    real warehouse file, as their groups write them, published as one package."""
    tmp = tmp_path_factory.mktemp("linked")
    world = linked_world(0)
    write_warehouse(tmp / "warehouse.duckdb", world.warehouse)
    con = duckdb.connect(str(tmp / "warehouse.duckdb"), read_only=True)
    frames = published_frames(con)
    tables = warehouse_tables(con)
    con.close()
    out = tmp / "package"
    files = write_package(out, tables, modified="2026-12-07")
    return out, files, frames, world
