"""Canonical person records, built generically from the source specs' `persons:` lists.

One row per person slot per staged record (a birth registration gives three: the child,
the mother, the father when listed). Every agency's identity columns map onto one schema
(given, middle, family; DOB; sex; parents' given names and DOBs for children; address and
postcode; source; role child/adult), standardised for comparison. A new agency's YAML
with a `persons:` list needs no code here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import duckdb
import polars as pl

from cmi_assets.linkage import standardise as std
from cmi_assets.linkage.tables import PERSON_RECORDS_TABLE
from cmi_assets.sources.spec import AgencySpec, PersonSpec, RecordTypeSpec, all_specs
from cmi_assets.tables import table_exists

IDENTITIES_TABLE = "linkage.person_identities"

# The fields the model compares (the rest are derived from them). Records equal on all of
# them are one "identity": they compare identically with every other record, so Splink
# scores identities, not records. A child named on hundreds of notifications the same way
# costs one row, not hundreds squared pairs.
IDENTITY_COLUMNS = (
    "role",
    "id_namespace",
    "person_id",
    "given_name",
    "middle_name",
    "family_name",
    "dob",
    "birth_year",
    "sex",
    "parent1_given",
    "parent2_given",
    "postcode",
)
# Compared fields a file mapping may add (settings.FILE_FIELDS): part of an identity where
# the records carry them.
FILE_IDENTITY_COLUMNS = ("address", "locality", "shared_id", "dob_text")
# Fields an identity carries for Splink and the clustering constraints.
IDENTITY_FIELDS = IDENTITY_COLUMNS + (
    "family_parts",
    "given_forms",
    "given_is_known",
    "middle_forms",
    "middle_is_known",
    "given_soundex",
    "family_soundex",
    "dob_year_month",
    "parent_given_forms",
)
# (agency, record_type, slot) of registers holding at most one record per person: a birth
# registration is one child, so two registrations never merge (clustering.py).
DUPLICATE_FREE_SLOTS: frozenset[tuple[str, str, str]] = frozenset({("births", "registrations", "child")})
# Agencies whose person IDs are verified, one per person: a registration number per child;
# benefit clients and the children on their benefit are checked against a birth
# certificate (NZ para 98). Two of their IDs are two people (clustering.py, twins).
VERIFIED_ID_NAMESPACES: frozenset[str] = frozenset({"births", "benefits"})

_GIVEN_SUFFIXES = ("given_names", "given_name", "first_name")

ADULT_AGE_YEARS = 18  # spec role by_age: child when under 18 at the event date

# Staged rows read into polars at once: bounds the build's memory by this, not by the
# largest extract (a state's notifications run to tens of millions of rows).
CHUNK_ROWS = 2_000_000


def staged_table(spec: RecordTypeSpec, schema: str = "stg") -> str:
    return f"{schema}.stg_{spec.agency}_{spec.name}"


def slot_name(person: PersonSpec, index: int) -> str:
    """A slot name from the given-name column's prefix ("mother_given_names" -> "mother",
    "caregiver1_given_name" -> "caregiver1"); "person" when the column has no prefix
    (the record speaks of one person: a client, a patient, an offender)."""
    column = (person.given_names or person.given_name or "").lower()
    for suffix in _GIVEN_SUFFIXES:
        if column.endswith(suffix):
            prefix = column[: -len(suffix)].rstrip("_")
            if prefix:
                return prefix
    return "person" if index == 0 else f"person{index + 1}"


def _col(name: str | None, cast: str = "VARCHAR") -> str:
    return f'CAST("{name.lower()}" AS {cast})' if name else f"CAST(NULL AS {cast})"


def _rows_sql(rows: tuple[int, int] | None) -> str:
    """A row range of a staged table (its rowid), so one record type can be read in parts."""
    return "" if rows is None else f" AND rowid >= {int(rows[0])} AND rowid < {int(rows[1])}"


def _person_select(
    spec: RecordTypeSpec, person: PersonSpec, index: int, schema: str, rows: tuple[int, int] | None = None
) -> str:
    """SQL selecting one persons entry of one record type in the canonical raw columns."""
    given = person.given_names or person.given_name
    key = " || '|' || ".join(f'CAST("{k.lower()}" AS VARCHAR)' for k in spec.key)
    sex = _sex_sql(person)
    return f"""
        SELECT '{spec.agency}' AS agency, '{spec.name}' AS record_type, {key} AS record_key,
               '{slot_name(person, index)}' AS slot, '{person.role}' AS spec_role,
               {_col(person.person_id)} AS person_id,
               {_col(given)} AS given_raw, {_col(person.middle_name)} AS middle_raw,
               {_col(person.family_name)} AS family_raw, {_col(person.dob, "DATE")} AS dob,
               {_col(person.age_years, "BIGINT")} AS age_years,
               {sex} AS sex_raw,
               {_col(person.parent1_given_names)} AS parent1_given_raw, {_col(person.parent1_dob, "DATE")} AS parent1_dob,
               {_col(person.parent2_given_names)} AS parent2_given_raw, {_col(person.parent2_dob, "DATE")} AS parent2_dob,
               {_col(person.address)} AS address_raw, {_col(person.postcode)} AS postcode,
               {_col(person.event_date, "DATE")} AS event_date,
               {f'CAST("{person.given_names.lower()}" IS NOT NULL AS BOOLEAN)' if person.given_names else "FALSE"} AS _given_names_combined
        FROM {staged_table(spec, schema)}
        WHERE ({_any_identity_present(person)}){_rows_sql(rows)}
    """


def _sex_sql(person: PersonSpec) -> str:
    """Canonical sex M / F through the entry's sex_map; codes outside the map (unknown,
    indeterminate) are null; a constant where the record type implies the sex."""
    if person.sex:
        cases = " ".join(
            f"WHEN '{code}' THEN '{sex}'" for code, sex in (person.sex_map or {}).items() if sex in ("M", "F")
        )
        return f'CASE TRIM(CAST("{person.sex.lower()}" AS VARCHAR)) {cases or "WHEN NULL THEN NULL"} ELSE NULL END'
    if person.sex_constant in ("M", "F"):
        return f"'{person.sex_constant}'"
    return "CAST(NULL AS VARCHAR)"


def _any_identity_present(person: PersonSpec) -> str:
    """A slot is a person record only when it holds a name or a DOB (an unlisted father
    leaves his slot empty on the registration)."""
    columns = [c for c in (person.given_names, person.given_name, person.family_name, person.dob) if c]
    return " OR ".join(f"NULLIF(TRIM(CAST(\"{c.lower()}\" AS VARCHAR)), '') IS NOT NULL" for c in columns) or "TRUE"


def _caregiver_given_lookup(
    con, agency: AgencySpec, spec: RecordTypeSpec, schema: str
) -> tuple[str, pl.DataFrame] | None:
    """For a child slot without parents' names: a column of the record that holds the
    person ID of an adult slot in another record type of the same agency (benefits
    children carry the caregiver's client_id), and that adult's given names by ID.
    Gives the conservative rule (NZ para 88) a caregiver name to compare."""
    columns = {c.name.lower() for c in spec.columns}
    for other in agency.record_types.values():
        if other.name == spec.name:
            continue
        for adult in other.persons:
            id_column = (adult.person_id or "").lower()
            given = adult.given_names or adult.given_name
            if adult.role != "adult" or not id_column or not given or id_column not in columns:
                continue
            names = con.sql(
                f'SELECT DISTINCT CAST("{id_column}" AS VARCHAR) AS caregiver_id, CAST("{given.lower()}" AS VARCHAR) AS given '
                f'FROM {staged_table(other, schema)} WHERE "{given.lower()}" IS NOT NULL'
            ).pl()
            names = names.with_columns(std.first_word(std.standard_name(pl.col("given"))).alias("given")).drop_nulls()
            return id_column, names.group_by("caregiver_id").agg(pl.col("given").unique().sort().head(2))
    return None


def person_records_for(
    con: duckdb.DuckDBPyConnection,
    agency: AgencySpec,
    spec: RecordTypeSpec,
    schema: str = "stg",
    rows: tuple[int, int] | None = None,
) -> pl.DataFrame:
    """Raw canonical person rows (unstandardised) for every persons entry of one record
    type, or of the staged rows whose rowid lies in `rows` [start, end)."""
    frames = []
    for index, person in enumerate(spec.persons):
        frame = con.sql(_person_select(spec, person, index, schema, rows)).pl()
        if person.role == "child" and not person.parent1_given_names:
            lookup = _caregiver_given_lookup(con, agency, spec, schema)
            if lookup is not None:
                id_column, names = lookup
                ids = con.sql(
                    f'SELECT CAST("{id_column}" AS VARCHAR) AS caregiver_id FROM {staged_table(spec, schema)} WHERE ({_any_identity_present(person)}){_rows_sql(rows)}'
                ).pl()
                frame = (
                    frame.with_columns(ids["caregiver_id"])
                    .join(names, on="caregiver_id", how="left", maintain_order="left")
                    .with_columns(
                        pl.col("given").list.get(0, null_on_oob=True).alias("parent1_given_raw"),
                        pl.col("given").list.get(1, null_on_oob=True).alias("parent2_given_raw"),
                    )
                    .drop("caregiver_id", "given")
                )
        frames.append(frame)
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()


def standardise_person_records(raw: pl.DataFrame) -> pl.DataFrame:
    """Standardised canonical person records from raw canonical rows."""
    given_full = std.standard_name(pl.col("given_raw"))
    combined = pl.col("_given_names_combined") if "_given_names_combined" in raw.columns else pl.lit(False)
    middle = pl.when(combined).then(std.after_first_word(given_full)).otherwise(std.standard_name(pl.col("middle_raw")))
    age_at_event = _age_years(pl.col("dob"), pl.col("event_date"))
    age = pl.coalesce(age_at_event, pl.col("age_years"))
    frame = raw.with_columns(
        std.first_word(given_full).alias("given_name"),
        std.first_word(middle).alias("middle_name"),
        std.standard_name(pl.col("family_raw")).alias("family_name"),
        std.first_word(std.standard_name(pl.col("parent1_given_raw"))).alias("parent1_given"),
        std.first_word(std.standard_name(pl.col("parent2_given_raw"))).alias("parent2_given"),
        std.standard_name(pl.col("address_raw")).alias("address"),
        pl.col("postcode").str.strip_chars().replace("", None).alias("postcode"),
        pl.col("sex_raw").alias("sex"),
        pl.when(pl.col("spec_role") == "by_age")
        .then(pl.when(age < ADULT_AGE_YEARS).then(pl.lit("child")).otherwise(pl.lit("adult")))
        .otherwise(pl.col("spec_role"))
        .alias("role"),
        # Year of birth: from the DOB, else estimated from the age at the event (CP
        # notifications with an age only: NZ para 97, estimated DOBs).
        pl.coalesce(pl.col("dob").dt.year(), pl.col("event_date").dt.year() - pl.col("age_years"))
        .cast(pl.Int32)
        .alias("birth_year"),
        pl.col("dob").dt.strftime("%Y-%m").alias("dob_year_month"),
        (pl.col("agency") + "|" + pl.col("record_type") + "|" + pl.col("record_key") + "|" + pl.col("slot")).alias(
            "record_ref"
        ),
        (pl.col("agency") + "__" + pl.col("record_type")).alias("source_dataset"),
        pl.col("agency").alias("id_namespace"),
    )
    if "locality_raw" in frame.columns:
        frame = frame.with_columns(std.standard_name(pl.col("locality_raw")).alias("locality"))
    if "shared_id" in frame.columns:  # identifiers compare without case, spaces or punctuation
        frame = frame.with_columns(
            pl.col("shared_id").str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "").replace("", None)
        )
    frame = std.add_name_keys(frame)
    extra = [c for c in FILE_IDENTITY_COLUMNS if c in frame.columns and c != "address"]
    return frame.select(
        "record_ref",
        "source_dataset",
        "agency",
        "record_type",
        "record_key",
        "slot",
        "role",
        "id_namespace",
        "person_id",
        "given_name",
        "middle_name",
        "family_name",
        "family_parts",
        "given_forms",
        "given_is_known",
        "middle_forms",
        "middle_is_known",
        "given_soundex",
        "family_soundex",
        "dob",
        "dob_year_month",
        "birth_year",
        "sex",
        "parent1_given",
        "parent2_given",
        "parent_given_forms",
        "parent1_dob",
        "parent2_dob",
        "address",
        "postcode",
        "event_date",
        *extra,
    )


def _age_years(dob: pl.Expr, at: pl.Expr) -> pl.Expr:
    """Whole years from dob to at (birthday not yet reached that year counts one less)."""
    years = at.dt.year() - dob.dt.year()
    before_birthday = (at.dt.month() < dob.dt.month()) | (
        (at.dt.month() == dob.dt.month()) & (at.dt.day() < dob.dt.day())
    )
    return (years - before_birthday.cast(pl.Int32)).cast(pl.Int64)


def build_person_records(
    con: duckdb.DuckDBPyConnection,
    specs: Mapping[str, AgencySpec] | None = None,
    schema: str = "stg",
    table: str = PERSON_RECORDS_TABLE,
    agencies: Iterable[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict:
    """Build the standardised person-records table from every staged record type with a
    `persons:` list. Returns counts only (records by source and role).

    At most `chunk_rows` staged rows of one record type at a time are fetched,
    standardised and appended to a staging table, so polars holds one part of a record
    type, not a whole extract; DuckDB then sorts the whole table under its own memory
    limit. Standardisation is per record (name keys map each distinct value through a
    fixed function), so parts give the same rows as one frame of everything."""
    specs = specs or all_specs()
    staging = f"{table}__staging"
    _ensure_schema(con, table)
    columns: pl.Schema | None = None
    try:
        for agency in specs.values():
            if agencies is not None and agency.agency not in set(agencies):
                continue
            for spec in agency.record_types.values():
                if not (spec.persons and table_exists(con, staged_table(spec, schema))):
                    continue
                for rows in _row_ranges(con, staged_table(spec, schema), chunk_rows):
                    frame = standardise_person_records(person_records_for(con, agency, spec, schema, rows))
                    if columns is None:
                        # Every record type gives the same columns (canonical SQL, fixed casts);
                        # casting to the first frame's types keeps one table type per column.
                        columns = frame.schema
                        con.register("_person_records_frame", frame)
                        con.execute(f"CREATE OR REPLACE TABLE {staging} AS SELECT * FROM _person_records_frame")
                    else:
                        frame = frame.select(pl.col(name).cast(dtype) for name, dtype in columns.items())
                        con.register("_person_records_frame", frame)
                        con.execute(f"INSERT INTO {staging} SELECT * FROM _person_records_frame")
                    con.unregister("_person_records_frame")
                    del frame
        if columns is None:
            raise ValueError("no staged record type with a persons: list")
        _create_person_records_table(con, staging, table)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {staging}")
    return {**person_record_counts(con, table), "identities": build_identities(con, table)}


def _row_ranges(con: duckdb.DuckDBPyConnection, table: str, chunk_rows: int) -> list[tuple[int, int]]:
    """[start, end) rowid ranges covering a staged table, each at most chunk_rows long."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    end = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {table}").fetchone()[0]
    return [(start, min(start + chunk_rows, end)) for start in range(0, end, chunk_rows)] or [(0, 0)]


def _identity_id_sql(columns: tuple[str, ...] = IDENTITY_COLUMNS) -> str:
    parts = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '~')" for c in columns)
    return f"CAST(md5_number_lower(concat_ws('|', {parts})) >> 1 AS BIGINT)"


def write_person_records(
    con: duckdb.DuckDBPyConnection,
    records: pl.DataFrame,
    table: str = PERSON_RECORDS_TABLE,
    extra_fields: tuple[str, ...] = (),
) -> None:
    """Write standardised records with their stable BIGINT unique_id (from the record
    reference) and identity_id (from the compared fields: IDENTITY_COLUMNS and the
    mapping's extra_fields, of FILE_IDENTITY_COLUMNS)."""
    _ensure_schema(con, table)
    con.register("_person_records_frame", records)
    try:
        _create_person_records_table(con, "_person_records_frame", table, extra_fields)
    finally:
        con.unregister("_person_records_frame")


def _ensure_schema(con: duckdb.DuckDBPyConnection, table: str) -> None:
    if "." in table:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")


def _create_person_records_table(
    con: duckdb.DuckDBPyConnection, source: str, table: str, extra_fields: tuple[str, ...] = ()
) -> None:
    """The person-records table from standardised rows in `source` (a table or a
    registered frame), with unique_id and identity_id, in record_ref order."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
            SELECT CAST(md5_number_lower(record_ref) >> 1 AS BIGINT) AS unique_id, {_identity_id_sql(IDENTITY_COLUMNS + tuple(extra_fields))} AS identity_id, *
            FROM {source} ORDER BY record_ref"""
    )


def build_identities(
    con: duckdb.DuckDBPyConnection,
    records_table: str = PERSON_RECORDS_TABLE,
    table: str = IDENTITIES_TABLE,
    only_new_from: str | None = None,
    extra_fields: tuple[str, ...] = (),
) -> int:
    """One row per identity (unique_id = identity_id) with the compared fields, the number
    of records holding it, the smallest of their record references (a cluster's founding
    record, keys.py, is the smallest over its identities) and how many of them sit in a
    duplicate-free register. With only_new_from: the identities of that records table not
    yet in `table`."""
    dup_free = " OR ".join(
        f"(agency = '{a}' AND record_type = '{r}' AND slot = '{s}')" for a, r, s in sorted(DUPLICATE_FREE_SLOTS)
    )
    # The fields are the identity's own (identity_id hashes them), so they are read from its
    # founding record by a join: aggregating every field per identity holds all of them in
    # the hash table at once and runs out of memory at a state's volume.
    fields = ", ".join(f"r.{c}" for c in IDENTITY_FIELDS + tuple(extra_fields))
    source = only_new_from or records_table
    where = f"WHERE identity_id NOT IN (SELECT unique_id FROM {IDENTITIES_TABLE})" if only_new_from else ""
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
            WITH counted AS (
                SELECT identity_id, count(*) AS n_records, min(record_ref) AS first_record_ref,
                       count(*) FILTER (WHERE {dup_free or "FALSE"}) AS duplicate_free_records
                FROM {source} {where} GROUP BY identity_id)
            SELECT c.identity_id AS unique_id, {fields}, c.n_records, c.first_record_ref, c.duplicate_free_records
            FROM counted c JOIN {source} r ON r.identity_id = c.identity_id AND r.record_ref = c.first_record_ref
            ORDER BY unique_id"""
    )
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def person_record_counts(con: duckdb.DuckDBPyConnection, table: str = PERSON_RECORDS_TABLE) -> dict:
    """Records in the person-records table, in all and by source dataset and role."""
    rows = con.execute(
        f"""SELECT source_dataset, role, count(*) FROM {table} GROUP BY ALL
            ORDER BY source_dataset NULLS FIRST, role NULLS FIRST"""
    ).fetchall()
    return {
        "records": sum(n for _, _, n in rows),
        "by_source_role": {f"{source}:{role}": n for source, role, n in rows},
    }
