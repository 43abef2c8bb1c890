"""The de-identified event tables on a small generated world, staged by the real loaders
and SQL models and linked by the real linkage: every table of cohorts.events.EVENT_TABLES
with exactly its columns and types at both levels, keys that point at spine persons, and
no identifier from the landing files (names, dates of birth, agency IDs, addresses)."""

from __future__ import annotations

import csv
import re

import duckdb
import polars as pl
import pytest

from cmi_assets.cohorts.events import EVENT_TABLES, LINKAGE_LEVELS
from cmi_assets.linkage.events import build_event_tables, event_key, write_event_tables
from cmi_assets_tests.linkage.conftest import TEST_U_MAX_PAIRS

SECRET = b"test-events-secret"
ID_COLUMNS = {
    "reg_number",
    "client_id",
    "child_client_id",
    "partner_client_id",
    "cp_person_id",
    "offender_id",
    "health_id",
    "mother_health_id",
    "notification_id",
    "investigation_id",
    "spell_id",
    "inclusion_id",
    "address_id",
    "event_id",
    "contact_id",
    "maternity_id",
    "sentence_id",
}


def stage_world(con: duckdb.DuckDBPyConnection, landing_dir, quarantine_dir) -> None:
    """Raw tables from every landed extract and every dbt_like_sql model, as the sources and
    staging assets build them."""
    from cmi_assets.sources import all_specs, ensure_raw_tables
    from cmi_assets.sources.landing import landed_files
    from cmi_assets.sources.load import ingest_extract
    from cmi_assets.sqlmodels import discover_models, run_model, topological_order

    for agency in all_specs().values():
        ensure_raw_tables(con, agency)
        for landed in landed_files(landing_dir, agency.agency):
            assert ingest_extract(con, agency, landed, quarantine_dir).error is None
    for model in topological_order(discover_models()):
        run_model(con, model)


@pytest.fixture(scope="module")
def events_world(tmp_path_factory):
    from cmi_assets.linkage.person_records import build_person_records
    from cmi_assets.linkage.spine import link_persons
    from cmi_assets.linkage.train import train_model
    from cmi_assets.synthetic.world import generate_world

    root = tmp_path_factory.mktemp("events_world")
    generate_world(root / "world", profile="small", scale=0.002, seed=5)
    con = duckdb.connect(str(root / "identified.duckdb"))
    stage_world(con, root / "world" / "landing", root / "world" / "quarantine")
    build_person_records(con)
    link_persons(con, train_model(con, seed=1, u_max_pairs=TEST_U_MAX_PAIRS), SECRET)
    tables = build_event_tables(con, SECRET)
    warehouse = duckdb.connect()
    counts = write_event_tables(warehouse, tables)
    yield {"con": con, "warehouse": warehouse, "tables": tables, "counts": counts, "root": root}
    warehouse.close()
    con.close()


def test_every_event_table_has_exactly_the_cohort_schema(events_world):
    warehouse = events_world["warehouse"]
    for table, columns in EVENT_TABLES.items():
        described = warehouse.execute(f"DESCRIBE events.{table}").fetchall()
        assert [(name, kind) for name, kind, *_ in described] == [("linkage_level", "VARCHAR"), *columns.items()], table
    assert set(events_world["counts"]) == set(EVENT_TABLES)


def test_tables_hold_both_levels_and_keys_from_the_spine(events_world):
    con, warehouse = events_world["con"], events_world["warehouse"]
    for table in (
        "person",
        "birth",
        "benefit_spell",
        "benefit_child",
        "cp_notification",
        "cp_finding",
        "sentence",
        "maternity",
        "hospitalisation",
        "mental_health",
        "family",
    ):
        levels = {row[0] for row in warehouse.execute(f"SELECT DISTINCT linkage_level FROM events.{table}").fetchall()}
        assert levels == set(LINKAGE_LEVELS), table
    spine = con.sql("SELECT level AS linkage_level, person_key FROM linkage.person_spine").pl().unique()
    persons = warehouse.sql("SELECT linkage_level, person_key FROM events.person").pl()
    assert (
        persons.height == spine.height
        and persons.join(spine, on=["linkage_level", "person_key"]).height == spine.height
    )
    # every birth registration's child has a key, and so do most events
    assert warehouse.execute("SELECT count(*) FROM events.birth WHERE child_key IS NULL").fetchone()[0] == 0
    for table, key in (
        ("cp_notification", "person_key"),
        ("hospitalisation", "person_key"),
        ("benefit_spell", "person_key"),
    ):
        total, keyed = warehouse.execute(f"SELECT count(*), count({key}) FROM events.{table}").fetchone()
        assert total and keyed / total > 0.99, table
    # a finding's notification key is the notification's event key (both HMACs)
    joined, findings = warehouse.execute(
        """SELECT count(n.event_key), count(*) FROM events.cp_finding f LEFT JOIN events.cp_notification n
           ON n.event_key = f.notification_event_key AND n.linkage_level = f.linkage_level"""
    ).fetchone()
    assert findings and joined == findings
    one = con.execute("SELECT notification_id FROM stg.stg_child_protection_notifications LIMIT 1").fetchone()[0]
    assert warehouse.execute(
        "SELECT count(*) FROM events.cp_notification WHERE event_key = ?", [event_key(SECRET, "cp_notification", one)]
    ).fetchone()[0] == len(LINKAGE_LEVELS)


def test_ages_in_days_come_from_the_birth_registration_dob(events_world):
    con, tables = events_world["con"], events_world["tables"]
    spine = (
        con.sql(
            """SELECT s.level AS linkage_level, s.person_key, r.dob FROM linkage.person_spine s JOIN linkage.person_records r USING (unique_id)
           WHERE r.agency = 'births' AND r.record_type = 'registrations' AND r.slot = 'child' AND r.dob IS NOT NULL"""
        )
        .pl()
        .unique(["linkage_level", "person_key"])
    )
    notes = tables["cp_notification"].join(spine, on=["linkage_level", "person_key"])
    assert notes.height > 0
    expected = (notes["notification_date"] - notes["dob"]).dt.total_days().cast(pl.Int32)
    assert (notes["age_days"] == expected).mean() > 0.99  # a child whose records disagree on DOB may differ
    people = tables["person"].join(spine, on=["linkage_level", "person_key"])
    assert (people["birth_year"] == people["dob"].dt.year()).all() and (
        people["birth_month"] == people["dob"].dt.month()
    ).all()
    births = tables["birth"]
    assert births["registration_age_days"].drop_nulls().min() >= 0
    assert births["deprivation_decile"].null_count() < births.height  # areas found by postcode


def _landing_identifiers(landing_dir, truth_dir) -> dict[str, set[str]]:
    ids, addresses = set(), set()
    for path in landing_dir.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                ids.update(v for k, v in row.items() if k.lower() in ID_COLUMNS and v)
                addresses.update(v for k, v in row.items() if k.lower() == "address_line" and v)
    persons = pl.read_parquet(truth_dir / "persons.parquet")
    # full names (single names collide with codes: a family named White, ethnicity WHITE)
    names = {f"{g} {f}" for g, f in zip(persons["given_name"].to_list(), persons["family_name"].to_list()) if g and f}
    return {"agency IDs": ids, "addresses": addresses, "names": {n.upper() for n in names}}


def test_no_identifier_in_any_event_table(events_world):
    root, tables = events_world["root"], events_world["tables"]
    identifiers = _landing_identifiers(root / "world" / "landing", root / "world" / "truth")
    assert all(identifiers.values())
    values: set[str] = set()
    for frame in tables.values():
        for column in frame.columns:
            if frame.schema[column] == pl.String:
                values |= {v.upper() for v in frame[column].drop_nulls().unique().to_list()}
    found = {kind: {v.upper() for v in wanted} & values for kind, wanted in identifiers.items()}
    assert not any(found.values()), {k: len(v) for k, v in found.items()}
    # no column holds a full date of birth: the only dates are event dates, and no event
    # date equals its person's DOB more often than by chance (a newborn's admission)
    con = events_world["con"]
    dobs = (
        con.sql(
            """SELECT s.level AS linkage_level, s.person_key, r.dob FROM linkage.person_spine s
           JOIN linkage.person_records r USING (unique_id) WHERE r.dob IS NOT NULL"""
        )
        .pl()
        .unique()
    )
    for table, frame in tables.items():
        key = (
            "person_key"
            if "person_key" in frame.columns
            else next(c for c in frame.columns if c.endswith("_key") and c != "event_key")
        )
        for column, kind in EVENT_TABLES[table].items():
            if kind != "DATE":
                continue
            joined = (
                frame.select("linkage_level", key, column)
                .drop_nulls()
                .join(dobs.rename({"person_key": key}), on=["linkage_level", key])
            )
            if joined.height:
                assert (joined[column] == joined["dob"]).mean() < 0.2, (table, column)
    for table in ("person", "birth", "maternity"):
        assert not [c for c, kind in EVENT_TABLES[table].items() if kind == "DATE"]
    assert not any(
        re.search(r"dob|birth_date|name|address|postcode", c) for cols in EVENT_TABLES.values() for c in cols
    )
