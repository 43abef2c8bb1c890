from __future__ import annotations

import dataclasses
import hashlib

import duckdb
import polars as pl
import pytest

from cmi_assets.sources.landing import find_landed_file
from cmi_assets.sources.load import (
    PROVENANCE_COLUMNS,
    ExtractMissingError,
    ensure_raw_table,
    ingest_extract,
    load_extract,
    locate_extract,
    table_schema,
)
from cmi_assets.sources.spec import load_spec
from cmi_assets.sources.validate import read_extract

BIRTHS = ("births", "registrations")
TABLE = "raw.births__registrations"


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "identified.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def births_spec():
    return load_spec("births").record_types["registrations"]


def _land(tmp_path, write_extract, name, rows):
    write_extract(tmp_path / "landing" / "births" / name, rows)
    return find_landed_file(tmp_path / "landing", "births", name)


def _rows_by_file(con):
    return dict(con.execute(f"SELECT _extract_file, count(*) FROM {TABLE} GROUP BY ALL").fetchall())


def test_load_extract_writes_rows_with_provenance(tmp_path, con, births_spec, valid_rows, write_extract):
    landed = _land(tmp_path, write_extract, "births_registrations_2011.csv", valid_rows[BIRTHS])
    frame = read_extract(landed.path, births_spec)

    assert load_extract(con, frame, births_spec, landed) == 2

    columns = [name for name, _ in table_schema(con, TABLE)]
    assert columns == [*births_spec.column_names, *PROVENANCE_COLUMNS]
    loaded = con.sql(f"SELECT * FROM {TABLE} ORDER BY _row_number").pl()
    assert loaded.select(births_spec.column_names).equals(frame.select(births_spec.column_names))
    assert loaded["_row_number"].to_list() == [2, 3]
    assert set(loaded["_extract_file"]) == {"births_registrations_2011.csv"}
    assert set(loaded["_extract_sha256"]) == {hashlib.sha256(landed.path.read_bytes()).hexdigest()}
    assert loaded["_loaded_at"].null_count() == 0 and loaded["_extract_delivered_at"].null_count() == 0


def test_reloading_a_file_replaces_only_its_rows(tmp_path, con, births_spec, valid_rows, write_extract):
    rows = valid_rows[BIRTHS]
    first = _land(tmp_path, write_extract, "births_registrations_2011.csv", rows)
    other = _land(tmp_path, write_extract, "births_registrations_2012.csv", rows)
    load_extract(con, read_extract(first.path, births_spec), births_spec, first)
    load_extract(con, read_extract(other.path, births_spec), births_spec, other)

    corrected = _land(tmp_path, write_extract, "births_registrations_2011.csv", rows[:1])
    load_extract(con, read_extract(corrected.path, births_spec), births_spec, corrected)

    assert _rows_by_file(con) == {"births_registrations_2011.csv": 1, "births_registrations_2012.csv": 2}


def test_a_failed_load_leaves_the_previous_rows_intact(tmp_path, con, births_spec, valid_rows, write_extract):
    rows = valid_rows[BIRTHS]
    first = _land(tmp_path, write_extract, "births_registrations_2011.csv", rows)
    other = _land(tmp_path, write_extract, "births_registrations_2012.csv", rows)
    load_extract(con, read_extract(first.path, births_spec), births_spec, first)
    load_extract(con, read_extract(other.path, births_spec), births_spec, other)
    before = con.sql(f"SELECT * EXCLUDE (_loaded_at) FROM {TABLE} ORDER BY ALL").fetchall()

    # A frame that cannot be inserted: text where the table holds dates. The delete of
    # the file's earlier rows has already run when the insert fails.
    broken = read_extract(first.path, births_spec).with_columns(pl.lit("not a date").alias("child_dob"))
    with pytest.raises(duckdb.Error):
        load_extract(con, broken, births_spec, first)

    assert con.sql(f"SELECT * EXCLUDE (_loaded_at) FROM {TABLE} ORDER BY ALL").fetchall() == before


def test_a_grown_spec_adds_its_new_column_to_the_table(con, births_spec):
    older = dataclasses.replace(births_spec, columns=births_spec.columns[:-1])
    ensure_raw_table(con, older)
    assert "postcode" not in [c for c, _ in table_schema(con, TABLE)]
    ensure_raw_table(con, births_spec)
    assert ("postcode", "VARCHAR") in table_schema(con, TABLE)


def test_ingest_loads_a_good_file_and_quarantines_a_bad_one(tmp_path, con, valid_rows, write_extract):
    births = load_spec("births")
    rows = valid_rows[BIRTHS]
    good = _land(tmp_path, write_extract, "births_registrations_2011.csv", rows)
    loaded = ingest_extract(con, births, good, tmp_path / "quarantine")
    assert (loaded.loaded, loaded.rows, loaded.table, loaded.record_type) == (True, 2, TABLE, "registrations")
    assert loaded.sha256 == hashlib.sha256(good.path.read_bytes()).hexdigest()

    # A bad re-delivery under the same name: quarantined, the earlier rows stay.
    bad_rows = [dict(rows[0]), dict(rows[1], child_sex="ZZ9")]
    bad = _land(tmp_path, write_extract, "births_registrations_2011.csv", bad_rows)
    rejected = ingest_extract(con, births, bad, tmp_path / "quarantine")
    assert (rejected.loaded, rejected.rows) == (False, 0)
    assert (rejected.error.row, rejected.error.field) == (3, "child_sex")
    assert rejected.quarantined_to == tmp_path / "quarantine" / "births" / "births_registrations_2011.csv"
    assert not bad.path.exists()
    assert _rows_by_file(con) == {"births_registrations_2011.csv": 2}


def test_ingest_quarantines_a_file_matching_no_record_type(tmp_path, con):
    path = tmp_path / "landing" / "births" / "deaths_2011.csv"
    path.parent.mkdir(parents=True)
    path.write_text("a,b\n1,2\n")
    result = ingest_extract(
        con, load_spec("births"), find_landed_file(tmp_path / "landing", "births", path.name), tmp_path / "q"
    )
    assert not result.loaded and result.error.rule == "file_name" and result.table is None
    assert not result.error.keys_checked
    assert (tmp_path / "q" / "births" / "deaths_2011.csv").exists()


def test_locate_extract_says_why_a_file_is_gone(tmp_path, con, valid_rows, write_extract):
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    rows = [dict(valid_rows[BIRTHS][0], child_sex="ZZ9")]
    bad = _land(tmp_path, write_extract, "births_registrations_2011.csv", rows)
    assert locate_extract(landing, quarantine, "births", bad.name) == bad
    ingest_extract(con, load_spec("births"), bad, quarantine)

    with pytest.raises(ExtractMissingError, match="was quarantined as births_registrations_2011.csv") as quarantined:
        locate_extract(landing, quarantine, "births", bad.name)
    assert "reason.txt" in str(quarantined.value)
    with pytest.raises(ExtractMissingError, match="never quarantined"):
        locate_extract(landing, quarantine, "births", "births_registrations_1999.csv")


def test_a_corrected_redelivery_under_the_same_name_is_spotted(tmp_path, con, valid_rows, write_extract):
    from cmi_assets.sources.landing import changed_files
    from cmi_assets.sources.load import loaded_extracts

    births = load_spec("births")
    rows = valid_rows[BIRTHS]
    for name in ("births_registrations_2011.csv", "births_registrations_2012.csv"):
        ingest_extract(con, births, _land(tmp_path, write_extract, name, rows), tmp_path / "q")
    loaded = loaded_extracts(con, births)
    assert set(loaded) == {"births_registrations_2011.csv", "births_registrations_2012.csv"}
    assert changed_files(tmp_path / "landing", "births", loaded) == []

    _land(tmp_path, write_extract, "births_registrations_2012.csv", rows[:1])
    assert [f.name for f in changed_files(tmp_path / "landing", "births", loaded)] == ["births_registrations_2012.csv"]
