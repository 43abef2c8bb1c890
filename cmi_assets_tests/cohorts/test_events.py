"""Event-table schema and the per-level, per-key loader."""

import duckdb
import polars as pl
import pytest

from cmi_assets.cohorts.events import EVENT_TABLES, create_event_tables, load_rows


def test_create_event_tables_makes_every_table_with_linkage_level_first():
    con = duckdb.connect()
    create_event_tables(con)
    for table, columns in EVENT_TABLES.items():
        names = [row[0] for row in con.execute(f"describe events.{table}").fetchall()]
        assert names == ["linkage_level", *columns]


def test_load_rows_filters_on_level_and_keys(events_con):
    rows = load_rows(events_con, "cp_notification", "conservative", "person_key", pl.Series(["SB2", None]))
    assert sorted(rows["event_key"]) == ["N-SB2-1", "N-SB2-FV1", "N-SB2-FV2"]
    less = load_rows(events_con, "cp_notification", "less_conservative", "person_key", pl.Series(["SB2"]))
    assert sorted(less["event_key"]) == ["N-SB2-1", "N-SB2-FV1", "N-SB2-FV2", "N-SB2-L"]
    assert "linkage_level" not in rows.columns


def test_load_rows_rejects_an_unknown_level(events_con):
    with pytest.raises(ValueError):
        load_rows(events_con, "person", "fuzzy")
