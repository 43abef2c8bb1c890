"""The de-identified event tables of the analysis zone (schema `events`), built from the
staged extracts and the person spine in the identified zone.

Every table of cohorts.events.EVENT_TABLES, with exactly its columns and types, once per
linkage level (`linkage_level`; person keys differ between levels):

- persons are `person_key`s from the spine (the slot of the record that names them);
  agency IDs on records without a person slot (a benefit address's client, a spell's
  partner, an investigation's child) go through the spine's key for that agency ID;
- no names, no agency IDs: event keys are HMACs of the agency's record ID (secret from
  keys.pseudonym_secret), so a finding still points at its notification;
- dates of birth only as year and month; ages at events in days from the person's best
  DOB (the birth registration's when there is one, else the DOB most of their records
  give), computed here in the identified zone;
- areas instead of addresses: deprivation decile, office and county by postcode from
  stg_reference_areas.

Plain Python over DuckDB and polars; returns counts only.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import polars as pl

from cmi_assets.cohorts.events import EVENT_TABLES, LINKAGE_LEVELS, SCHEMA
from cmi_assets.linkage.tables import PERSON_RECORDS_TABLE as RECORDS_TABLE
from cmi_assets.linkage.tables import SPINE_TABLE
from cmi_assets.tables import table_exists

EVENT_KEY_HEX_CHARS = 32
AREAS_TABLE = "stg.stg_reference_areas"

_SLOT_KEYS = "_ev_slot_keys"
_ID_KEYS = "_ev_id_keys"
_BEST_DOB = "_ev_best_dob"
_AREAS = "_ev_areas"
_LEVELS_SQL = "(SELECT * FROM (VALUES " + ", ".join(f"('{lv}')" for lv in LINKAGE_LEVELS) + ") v(level))"


def event_key(secret: bytes, kind: str, record_id: str) -> str:
    """A keyed hash of an agency record ID: stable across runs, reveals nothing without the secret."""
    return hmac.new(secret, f"{kind}|{record_id}".encode(), hashlib.sha256).hexdigest()[:EVENT_KEY_HEX_CHARS]


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables: each record slot's key per level, each agency ID's key, each person's best DOB, areas."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_SLOT_KEYS} AS
            SELECT s.level, r.agency, r.record_type, r.record_key, r.slot, r.person_id, r.dob, r.sex, r.birth_year, s.person_key
            FROM {SPINE_TABLE} s JOIN {RECORDS_TABLE} r USING (unique_id)"""
    )
    # an agency ID belongs to the person most of its records are linked to
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_ID_KEYS} AS
            SELECT level, agency, person_id, arg_max(person_key, n) AS person_key FROM (
                SELECT level, agency, person_id, person_key, count(*) AS n FROM {_SLOT_KEYS}
                WHERE person_id IS NOT NULL GROUP BY ALL) GROUP BY ALL"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_BEST_DOB} AS
            SELECT level, person_key, dob FROM (
                SELECT level, person_key, dob, row_number() OVER (
                    PARTITION BY level, person_key ORDER BY registered DESC, n DESC, dob) AS rank
                FROM (SELECT level, person_key, dob, count(*) AS n,
                             max(CAST(agency = 'births' AND record_type = 'registrations' AND slot = 'child' AS INTEGER)) AS registered
                      FROM {_SLOT_KEYS} WHERE dob IS NOT NULL GROUP BY ALL))
            WHERE rank = 1"""
    )
    if table_exists(con, AREAS_TABLE):
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_AREAS} AS SELECT postcode, county_fips, office_code, deprivation_decile FROM {AREAS_TABLE}"
        )
    else:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_AREAS} (postcode VARCHAR, county_fips VARCHAR, office_code VARCHAR,
                deprivation_decile BIGINT)"""
        )


def _slot(alias: str, agency: str, record_type: str, slot: str, record_key: str) -> str:
    """LEFT JOIN of the spine key of one person slot of a staged record, at the row's level."""
    return (
        f"LEFT JOIN {_SLOT_KEYS} {alias} ON {alias}.level = lv.level AND {alias}.agency = '{agency}' "
        f"AND {alias}.record_type = '{record_type}' AND {alias}.slot = '{slot}' AND {alias}.record_key = {record_key}"
    )


def _id(alias: str, agency: str, person_id: str) -> str:
    """LEFT JOIN of the spine key of an agency ID, at the row's level."""
    return f"LEFT JOIN {_ID_KEYS} {alias} ON {alias}.level = lv.level AND {alias}.agency = '{agency}' AND {alias}.person_id = {person_id}"


def _dob(alias: str, key: str) -> str:
    return f"LEFT JOIN {_BEST_DOB} {alias} ON {alias}.level = lv.level AND {alias}.person_key = {key}"


def _age_days(dob: str, date: str) -> str:
    return f"CAST(datediff('day', {dob}, {date}) AS INTEGER)"


# table -> (staged tables it needs, SELECT producing linkage_level + the table's columns;
# columns starting with _ hold agency record IDs turned into event keys in Python)
_QUERIES: dict[str, tuple[tuple[str, ...], str]] = {
    "birth": (
        ("stg_births_registrations",),
        f"""
        SELECT lv.level AS linkage_level, c.person_key AS child_key, m.person_key AS mother_key, f.person_key AS father_key,
               year(t.child_dob) AS birth_year, month(t.child_dob) AS birth_month, t.plurality, t.birth_weight_g,
               t.gestation_weeks, {_age_days("t.child_dob", "t.reg_date")} AS registration_age_days,
               t.previous_children_same_parents, a.deprivation_decile, a.office_code, a.county_fips
        FROM stg.stg_births_registrations t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("c", "births", "registrations", "child", "t.record_key")}
        {_slot("m", "births", "registrations", "mother", "t.record_key")}
        {_slot("f", "births", "registrations", "father", "t.record_key")}
        LEFT JOIN {_AREAS} a ON a.postcode = t.postcode""",
    ),
    "benefit_spell": (
        ("stg_benefits_spells",),
        f"""
        SELECT lv.level AS linkage_level, coalesce(p.person_key, i.person_key) AS person_key, t.spell_start, t.spell_end,
               t.benefit_type, t.incapacity_code, q.person_key AS partner_key
        FROM stg.stg_benefits_spells t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "benefits", "spells", "person", "t.record_key")}
        {_id("i", "benefits", "t.client_id")}
        {_id("q", "benefits", "t.partner_client_id")}""",
    ),
    "benefit_child": (
        ("stg_benefits_children",),
        f"""
        SELECT lv.level AS linkage_level, g.person_key AS caregiver_key, c.person_key AS child_key, t.relationship,
               t.inclusion_start, t.inclusion_end, t.claim_date, {_age_days("d.dob", "t.claim_date")} AS child_age_days_at_claim
        FROM stg.stg_benefits_children t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("c", "benefits", "children", "child", "t.record_key")}
        {_id("g", "benefits", "t.client_id")}
        {_dob("d", "c.person_key")}""",
    ),
    "benefit_address": (
        ("stg_benefits_addresses",),
        f"""
        SELECT lv.level AS linkage_level, i.person_key, t.effective_from, a.deprivation_decile, a.office_code
        FROM stg.stg_benefits_addresses t CROSS JOIN {_LEVELS_SQL} lv
        {_id("i", "benefits", "t.client_id")}
        LEFT JOIN {_AREAS} a ON a.postcode = t.postcode""",
    ),
    "cp_notification": (
        ("stg_child_protection_notifications",),
        f"""
        SELECT lv.level AS linkage_level, t.notification_id AS _event_key, coalesce(p.person_key, i.person_key) AS person_key,
               t.notification_date, {_age_days("d.dob", "t.notification_date")} AS age_days, t.source, t.record_kind,
               t.further_action, t.office_code, g.person_key AS caregiver_key
        FROM stg.stg_child_protection_notifications t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "child_protection", "notifications", "person", "t.record_key")}
        {_id("i", "child_protection", "t.cp_person_id")}
        {_slot("g", "child_protection", "notifications", "caregiver1", "t.record_key")}
        {_dob("d", "coalesce(p.person_key, i.person_key)")}""",
    ),
    "cp_finding": (
        ("stg_child_protection_investigations",),
        f"""
        SELECT lv.level AS linkage_level, t.record_key AS _event_key, t.notification_id AS _notification_event_key,
               coalesce(n.person_key, i.person_key) AS person_key, t.response, t.start_date, t.completed_date, t.abuse_type,
               t.finding, {_age_days("d.dob", "t.start_date")} AS age_days
        FROM stg.stg_child_protection_investigations t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("n", "child_protection", "notifications", "person", "t.notification_id")}
        {_id("i", "child_protection", "t.cp_person_id")}
        {_dob("d", "coalesce(n.person_key, i.person_key)")}""",
    ),
    "sentence": (
        ("stg_corrections_sentences",),
        f"""
        SELECT lv.level AS linkage_level, coalesce(p.person_key, i.person_key) AS person_key, t.sentence_start,
               t.sentence_end, t.sentence_type, t.offence_category
        FROM stg.stg_corrections_sentences t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "corrections", "sentences", "person", "t.record_key")}
        {_id("i", "corrections", "t.offender_id")}""",
    ),
    "maternity": (
        ("stg_health_maternity",),
        f"""
        SELECT lv.level AS linkage_level, coalesce(p.person_key, i.person_key) AS mother_key,
               year(t.baby_dob) AS baby_birth_year, month(t.baby_dob) AS baby_birth_month, t.plurality,
               t.gestation_weeks, t.smoking_at_booking
        FROM stg.stg_health_maternity t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "health", "maternity", "mother", "t.record_key")}
        {_id("i", "health", "t.mother_health_id")}""",
    ),
    "hospitalisation": (
        ("stg_health_hospitalisations",),
        f"""
        SELECT lv.level AS linkage_level, coalesce(p.person_key, i.person_key) AS person_key, t.admit_date, t.discharge_date,
               t.diagnosis_code, t.external_cause_code, {_age_days("d.dob", "t.admit_date")} AS age_days
        FROM stg.stg_health_hospitalisations t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "health", "hospitalisations", "person", "t.record_key")}
        {_id("i", "health", "t.health_id")}
        {_dob("d", "coalesce(p.person_key, i.person_key)")}""",
    ),
    "mental_health": (
        ("stg_health_mental_health",),
        f"""
        SELECT lv.level AS linkage_level, coalesce(p.person_key, i.person_key) AS person_key, t.contact_date,
               t.service_type, t.diagnosis_group
        FROM stg.stg_health_mental_health t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "health", "mental_health", "person", "t.record_key")}
        {_id("i", "health", "t.health_id")}""",
    ),
}

# child-adult relations: parents on the registration (since the birth month), caregivers
# on benefit inclusions and CP notifications (since the first such record)
_FAMILY_PARTS: dict[str, str] = {
    "stg_births_registrations": f"""
        SELECT lv.level, c.person_key AS child_key, x.person_key AS adult_key, x.slot AS relation,
               CAST(date_trunc('month', t.child_dob) AS DATE) AS since
        FROM stg.stg_births_registrations t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("c", "births", "registrations", "child", "t.record_key")}
        JOIN {_SLOT_KEYS} x ON x.level = lv.level AND x.agency = 'births' AND x.record_type = 'registrations'
             AND x.slot IN ('mother', 'father') AND x.record_key = t.record_key""",
    "stg_benefits_children": f"""
        SELECT lv.level, c.person_key AS child_key, g.person_key AS adult_key,
               coalesce(lower(t.relationship), 'benefit_caregiver') AS relation, coalesce(t.inclusion_start, t.claim_date) AS since
        FROM stg.stg_benefits_children t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("c", "benefits", "children", "child", "t.record_key")}
        {_id("g", "benefits", "t.client_id")}""",
    "stg_child_protection_notifications": f"""
        SELECT lv.level, coalesce(p.person_key, i.person_key) AS child_key, g.person_key AS adult_key,
               'cp_caregiver' AS relation, t.notification_date AS since
        FROM stg.stg_child_protection_notifications t CROSS JOIN {_LEVELS_SQL} lv
        {_slot("p", "child_protection", "notifications", "person", "t.record_key")}
        {_id("i", "child_protection", "t.cp_person_id")}
        {_slot("g", "child_protection", "notifications", "caregiver1", "t.record_key")}""",
}


def staged_tables_read() -> list[str]:
    """The staged models the event tables read (the event_tables asset's deps)."""
    names = (
        {name for needs, _ in _QUERIES.values() for name in needs} | set(_FAMILY_PARTS) | {AREAS_TABLE.split(".")[1]}
    )
    return sorted(names)


def _person_sql(has_registrations: bool) -> str:
    ethnicity = (
        f"""LEFT JOIN (SELECT k.level, k.person_key, arg_max(r.ethnicity, r.reg_date) AS ethnicity
                      FROM stg.stg_births_registrations r JOIN {_SLOT_KEYS} k ON k.agency = 'births'
                           AND k.record_type = 'registrations' AND k.slot = 'child' AND k.record_key = r.record_key
                      WHERE r.ethnicity IS NOT NULL GROUP BY k.level, k.person_key) e ON e.level = p.level AND e.person_key = p.person_key"""
        if has_registrations
        else "LEFT JOIN (SELECT NULL AS level, NULL AS person_key, CAST(NULL AS VARCHAR) AS ethnicity) e ON FALSE"
    )
    return f"""
        SELECT p.level AS linkage_level, p.person_key, p.sex, CAST(coalesce(year(d.dob), p.birth_year) AS INTEGER) AS birth_year,
               CAST(month(d.dob) AS INTEGER) AS birth_month, e.ethnicity
        FROM (SELECT level, person_key, mode(sex) AS sex, mode(birth_year) AS birth_year FROM {_SLOT_KEYS} GROUP BY ALL) p
        LEFT JOIN {_BEST_DOB} d ON d.level = p.level AND d.person_key = p.person_key
        {ethnicity}"""


def _typed(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The table's exact columns, in order, with their types (linkage_level first)."""
    types = {"VARCHAR": pl.String, "INTEGER": pl.Int32, "DATE": pl.Date}
    columns = {"linkage_level": pl.String, **{c: types[t] for c, t in EVENT_TABLES[table].items()}}
    return frame.select(
        [pl.col(c).cast(dtype) if c in frame.columns else pl.lit(None, dtype).alias(c) for c, dtype in columns.items()]
    )


def _empty(table: str) -> pl.DataFrame:
    return _typed(pl.DataFrame(), table).clear()


def build_event_tables(con: duckdb.DuckDBPyConnection, secret: bytes) -> dict[str, pl.DataFrame]:
    """Every event table (EVENT_TABLES) at both linkage levels, from the identified zone's
    staged tables and person spine. A staged table not delivered yet gives an empty table."""
    _prepare(con)
    tables: dict[str, pl.DataFrame] = {}
    staged = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stg'"
        ).fetchall()
    }
    tables["person"] = _typed(con.sql(_person_sql("stg_births_registrations" in staged)).pl(), "person")
    for table, (needs, sql) in _QUERIES.items():
        if not set(needs) <= staged:
            tables[table] = _empty(table)
            continue
        frame = con.sql(sql).pl()
        if "_event_key" in frame.columns:
            frame = _hash_event_keys(frame, secret, table)
        tables[table] = _typed(frame, table)
    parts = [sql for name, sql in _FAMILY_PARTS.items() if name in staged]
    if parts:
        family = con.sql(
            "SELECT level AS linkage_level, child_key, adult_key, relation, min(since) AS since FROM ("
            + " UNION ALL ".join(parts)
            + ") WHERE child_key IS NOT NULL AND adult_key IS NOT NULL AND child_key <> adult_key GROUP BY ALL"
        ).pl()
        tables["family"] = _typed(family, "family")
    else:
        tables["family"] = _empty("family")
    return {table: tables[table] for table in EVENT_TABLES}


def _hash_event_keys(frame: pl.DataFrame, secret: bytes, table: str) -> pl.DataFrame:
    """Agency record IDs to event keys: _event_key by the table's own kind, a finding's
    _notification_event_key as a notification (so it equals that notification's event_key)."""
    for column, kind in (("_event_key", table), ("_notification_event_key", "cp_notification")):
        if column not in frame.columns:
            continue
        mapping = {i: event_key(secret, kind, i) for i in frame[column].drop_nulls().unique().to_list()}
        frame = frame.with_columns(
            pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String).alias(column[1:])
        ).drop(column)
    return frame


def write_event_tables(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame], schema: str = SCHEMA
) -> dict[str, int]:
    """Replace the event tables in the analysis zone (one transaction). Rows per table."""
    counts = {}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table, frame in tables.items():
            columns = {"linkage_level": "VARCHAR", **EVENT_TABLES[table]}
            body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
            con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} ({body})")
            con.register("_ev_frame", frame)
            try:
                con.execute(f"INSERT INTO {schema}.{table} SELECT {', '.join(columns)} FROM _ev_frame")
            finally:
                con.unregister("_ev_frame")
            counts[table] = frame.height
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return counts


def event_table_counts(tables: dict[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    """Rows per table and level, and rows without a person key (records no person record covers)."""
    out = {}
    for table, frame in tables.items():
        key = next(c for c in EVENT_TABLES[table] if c.endswith("_key") and c != "event_key")
        by_level = dict(frame.group_by("linkage_level").len().iter_rows())
        out[table] = {
            **{f"rows_{level}": int(by_level.get(level, 0)) for level in LINKAGE_LEVELS},
            "key_column": key,
            "rows_without_key": int(frame[key].null_count()),
        }
    return out
