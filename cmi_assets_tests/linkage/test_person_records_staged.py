"""build_person_records standardises one record type at a time into a DuckDB staging
table; the table must equal the one built from a single frame of all record types."""

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cmi_assets.linkage.person_records import (
    build_person_records,
    person_records_for,
    staged_table,
    standardise_person_records,
    write_person_records,
)
from cmi_assets.sources.spec import all_specs
from cmi_assets.tables import table_exists

ONE_FRAME_TABLE = "linkage.person_records_one_frame"


def _one_frame_reference(con: duckdb.DuckDBPyConnection) -> dict:
    """The former path: every record type's raw rows in one frame, standardised at once."""
    raw = [
        person_records_for(con, agency, spec)
        for agency in all_specs().values()
        for spec in agency.record_types.values()
        if spec.persons and table_exists(con, staged_table(spec))
    ]
    records = standardise_person_records(pl.concat(raw, how="vertical_relaxed"))
    write_person_records(con, records, ONE_FRAME_TABLE)
    counts = records.group_by("source_dataset", "role").len().sort("source_dataset", "role")
    return {
        "records": records.height,
        "by_source_role": {f"{r['source_dataset']}:{r['role']}": r["len"] for r in counts.iter_rows(named=True)},
    }


def _assert_same_tables(con: duckdb.DuckDBPyConnection, staged_counts: dict, reference_counts: dict) -> None:
    assert staged_counts.pop("identities") > 0
    assert staged_counts == reference_counts
    types = "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'linkage' AND table_name = '{}' ORDER BY column_index"
    assert (
        con.sql(types.format("person_records")).fetchall()
        == con.sql(types.format("person_records_one_frame")).fetchall()
    )
    staged = con.sql("SELECT * FROM linkage.person_records").pl()
    reference = con.sql(f"SELECT * FROM {ONE_FRAME_TABLE}").pl()
    assert staged["record_ref"].n_unique() == staged.height  # row order is fully fixed by record_ref
    assert staged.height == reference_counts["records"]
    assert_frame_equal(staged, reference, check_exact=True)
    assert con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%staging%'").fetchone()[0] == 0


def test_staged_build_equals_one_frame_build_on_mini_world(stg_con):
    reference = _one_frame_reference(stg_con)
    _assert_same_tables(stg_con, build_person_records(stg_con), reference)


def test_build_in_row_parts_equals_one_frame_build(stg_con):
    """Parts smaller than every record type (and not dividing their row counts) give the
    same table as one frame of everything: no row lost, doubled or misaligned with its
    caregiver's names."""
    reference = _one_frame_reference(stg_con)
    _assert_same_tables(stg_con, build_person_records(stg_con, chunk_rows=7), reference)


def test_row_parts_cover_the_table_once(stg_con):
    from cmi_assets.linkage.person_records import _row_ranges

    table = "stg.parts_probe"
    stg_con.execute(f"CREATE TABLE {table} AS SELECT range AS i FROM range(23)")
    parts = _row_ranges(stg_con, table, 5)
    assert parts == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    with pytest.raises(ValueError, match="chunk_rows"):
        _row_ranges(stg_con, table, 0)


@pytest.mark.slow
def test_staged_build_equals_one_frame_build_on_generated_world(generated_world, world_stg_loader):
    con = duckdb.connect()
    world_stg_loader(con, generated_world / "landing")
    reference = _one_frame_reference(con)
    _assert_same_tables(con, build_person_records(con), reference)
    con.close()


def _identities_by_aggregate(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The former build_identities: every field aggregated per identity (arg_min)."""
    from cmi_assets.linkage.person_records import DUPLICATE_FREE_SLOTS, IDENTITY_FIELDS, PERSON_RECORDS_TABLE

    dup_free = " OR ".join(
        f"(agency = '{a}' AND record_type = '{r}' AND slot = '{s}')" for a, r, s in sorted(DUPLICATE_FREE_SLOTS)
    )
    fields = ", ".join(f"arg_min({c}, record_ref) AS {c}" for c in IDENTITY_FIELDS)
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
            SELECT identity_id AS unique_id, {fields}, count(*) AS n_records, min(record_ref) AS first_record_ref,
                   count(*) FILTER (WHERE {dup_free}) AS duplicate_free_records
            FROM {PERSON_RECORDS_TABLE} GROUP BY identity_id ORDER BY identity_id"""
    )


def test_identities_from_the_founding_record_equal_the_aggregate(stg_con):
    from cmi_assets.linkage.person_records import IDENTITIES_TABLE

    build_person_records(stg_con)
    _identities_by_aggregate(stg_con, "linkage.identities_aggregate")
    joined = stg_con.sql(f"SELECT * FROM {IDENTITIES_TABLE}").pl()
    aggregate = stg_con.sql("SELECT * FROM linkage.identities_aggregate").pl()
    assert joined.height > 100 and (joined["n_records"] > 1).any()
    assert_frame_equal(joined, aggregate, check_exact=True)
