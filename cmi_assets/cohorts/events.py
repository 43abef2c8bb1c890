"""The analysis zone's de-identified event tables (DuckDB schema `events`) as the cohort
library reads them: their columns, a helper that creates them (tests, demos) and one loader
that pulls one table's rows for one linkage level, optionally only for given person keys.

Nothing here is identifying: persons are pseudonymous `person_key`s, dates of birth are
year and month only, ages at events are in days (computed upstream from the identified DOB).
Every table holds the same data linked two ways (`linkage_level`); keys differ between
levels, so every query filters on one level.
"""

from __future__ import annotations

import uuid

import polars as pl

from cmi_assets.linkage.tables import LEVELS as LINKAGE_LEVELS

SCHEMA = "events"

# table -> {column: DuckDB type}; linkage_level comes first in every table
EVENT_TABLES: dict[str, dict[str, str]] = {
    "person": {
        "person_key": "VARCHAR",
        "sex": "VARCHAR",
        "birth_year": "INTEGER",
        "birth_month": "INTEGER",
        "ethnicity": "VARCHAR",
    },
    "birth": {
        "child_key": "VARCHAR",
        "mother_key": "VARCHAR",
        "father_key": "VARCHAR",
        "birth_year": "INTEGER",
        "birth_month": "INTEGER",
        "plurality": "INTEGER",
        "birth_weight_g": "INTEGER",
        "gestation_weeks": "INTEGER",
        "registration_age_days": "INTEGER",
        "previous_children_same_parents": "INTEGER",
        "deprivation_decile": "INTEGER",
        "office_code": "VARCHAR",
        "county_fips": "VARCHAR",
    },
    "benefit_spell": {
        "person_key": "VARCHAR",
        "spell_start": "DATE",
        "spell_end": "DATE",
        "benefit_type": "VARCHAR",
        "incapacity_code": "VARCHAR",
        "partner_key": "VARCHAR",
    },
    "benefit_child": {
        "caregiver_key": "VARCHAR",
        "child_key": "VARCHAR",
        "relationship": "VARCHAR",
        "inclusion_start": "DATE",
        "inclusion_end": "DATE",
        "claim_date": "DATE",
        "child_age_days_at_claim": "INTEGER",
    },
    "benefit_address": {
        "person_key": "VARCHAR",
        "effective_from": "DATE",
        "deprivation_decile": "INTEGER",
        "office_code": "VARCHAR",
    },
    "cp_notification": {
        "event_key": "VARCHAR",
        "person_key": "VARCHAR",
        "notification_date": "DATE",
        "age_days": "INTEGER",
        "source": "VARCHAR",
        "record_kind": "VARCHAR",
        "further_action": "VARCHAR",
        "office_code": "VARCHAR",
        "caregiver_key": "VARCHAR",
    },
    "cp_finding": {
        "event_key": "VARCHAR",
        "notification_event_key": "VARCHAR",
        "person_key": "VARCHAR",
        "response": "VARCHAR",
        "start_date": "DATE",
        "completed_date": "DATE",
        "abuse_type": "VARCHAR",
        "finding": "VARCHAR",
        "age_days": "INTEGER",
    },
    "sentence": {
        "person_key": "VARCHAR",
        "sentence_start": "DATE",
        "sentence_end": "DATE",
        "sentence_type": "VARCHAR",
        "offence_category": "VARCHAR",
    },
    "maternity": {
        "mother_key": "VARCHAR",
        "baby_birth_year": "INTEGER",
        "baby_birth_month": "INTEGER",
        "plurality": "INTEGER",
        "gestation_weeks": "INTEGER",
        "smoking_at_booking": "VARCHAR",
    },
    "hospitalisation": {
        "person_key": "VARCHAR",
        "admit_date": "DATE",
        "discharge_date": "DATE",
        "diagnosis_code": "VARCHAR",
        "external_cause_code": "VARCHAR",
        "age_days": "INTEGER",
    },
    "mental_health": {
        "person_key": "VARCHAR",
        "contact_date": "DATE",
        "service_type": "VARCHAR",
        "diagnosis_group": "VARCHAR",
    },
    "family": {
        "child_key": "VARCHAR",
        "adult_key": "VARCHAR",
        "relation": "VARCHAR",
        "since": "DATE",
    },
}


def create_event_tables(con, schema: str = SCHEMA) -> None:
    """Create the (empty) event tables; used by tests and demos."""
    con.execute(f"create schema if not exists {schema}")
    for table, columns in EVENT_TABLES.items():
        body = ", ".join(["linkage_level VARCHAR"] + [f"{name} {kind}" for name, kind in columns.items()])
        con.execute(f"create table if not exists {schema}.{table} ({body})")


def check_linkage_level(linkage_level: str) -> None:
    if linkage_level not in LINKAGE_LEVELS:
        raise ValueError(f"linkage_level must be one of {LINKAGE_LEVELS}")


def load_rows(
    con,
    table: str,
    linkage_level: str,
    key_column: str | None = None,
    keys: pl.Series | None = None,
    where: str | None = None,
) -> pl.DataFrame:
    """Rows of events.<table> at one linkage level (without the level column); with
    `key_column` and `keys`, only rows whose key is among `keys` (a semi-join in DuckDB, so a
    cohort never pulls a whole table into memory). `where` is an extra SQL condition written
    by this package (never from user input)."""
    check_linkage_level(linkage_level)
    columns = list(EVENT_TABLES[table])
    conditions = ["linkage_level = ?"] + ([where] if where else [])
    sql = f"select {', '.join(columns)} from {SCHEMA}.{table} t where {' and '.join(conditions)}"
    if key_column is None:
        return con.execute(sql, [linkage_level]).pl()
    view = f"_cohort_keys_{uuid.uuid4().hex}"
    con.register(view, pl.DataFrame({"key": keys.drop_nulls().unique()}, schema={"key": pl.String}))
    try:
        sql += f" and t.{key_column} in (select key from {view})"
        return con.execute(sql, [linkage_level]).pl()
    finally:
        con.unregister(view)
