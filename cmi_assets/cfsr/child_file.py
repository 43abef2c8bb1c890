"""The NCANDS Child File of one submission year as the CFSR indicator reads it
(CFSR R4 rules, section 2.1 step 1 and section 6), taken from the staged table
stg.stg_child_protection_ncands_child (lower-case element names, typed) and kept in
the identified zone as cfsr.ncands_child_file (agency IDs and dates of birth).

The raw layer already validated every extract against the spec; these functions
re-check the elements the indicator needs and their code values on the assembled
file (every state of one SUBYR), find states missing from the year, and hand the
rules engine its upper-case NCANDS frame. Results are counts and state codes only.
"""

from __future__ import annotations

import hashlib

import duckdb
import polars as pl

from cmi_assets.cfsr.recurrence import CHILD_FILE_SCHEMA
from cmi_assets.sources.spec import load_spec
from cmi_assets.tables import table_exists

STAGED_TABLE = "stg.stg_child_protection_ncands_child"
CHILD_FILE_TABLE = "cfsr.ncands_child_file"

RACE_FLAGS = ["CHRACAI", "CHRACAS", "CHRACBL", "CHRACNH", "CHRACWH", "CHRACUD"]
MALTREATMENT_TYPES = ["CHMAL1", "CHMAL2", "CHMAL3", "CHMAL4"]

# The Child File elements the indicator, the DQ checks and the drill-downs read
# (section 6 numbering: #1-6, #10, #12-21, #26-34, #145-146).
CFSR_ELEMENTS: list[str] = [
    *CHILD_FILE_SCHEMA,
    "RPTCNTY",
    "RPTDISDT",
    *RACE_FLAGS,
    "CHETHN",
    *MALTREATMENT_TYPES,
    "AFCARSID",
]
PROVENANCE_COLUMNS = ["_extract_file", "_extract_sha256", "_row_number"]
EXTRA_TYPES: dict[str, pl.DataType] = {"RPTDISDT": pl.Date()}


def child_file_spec():
    return load_spec("child_protection").record_types["ncands_child"]


# --- reading ------------------------------------------------------------------------------


def missing_elements(con: duckdb.DuckDBPyConnection, table: str = STAGED_TABLE) -> list[str]:
    """CFSR elements absent from `table` (the element list check)."""
    schema, name = table.split(".")
    present = {
        row[0].upper()
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    return [element for element in CFSR_ELEMENTS if element not in present]


def staged_child_file(con: duckdb.DuckDBPyConnection, fy: int) -> pl.DataFrame:
    """Every state's Child File rows of submission year `fy` from the staged table,
    lower-case element columns plus provenance (identified zone: stays there)."""
    columns = ", ".join([*(element.lower() for element in CFSR_ELEMENTS), *PROVENANCE_COLUMNS])
    return con.execute(f"select {columns} from {STAGED_TABLE} where subyr = ? order by staterr, rptid, chid", [fy]).pl()


def states_in_year(con: duckdb.DuckDBPyConnection, fy: int) -> list[str]:
    """States with at least one staged row of submission year `fy`."""
    rows = con.execute(f"select distinct staterr from {STAGED_TABLE} where subyr = ? order by 1", [fy]).fetchall()
    return [row[0] for row in rows]


def read_child_file(con: duckdb.DuckDBPyConnection, fy: int) -> pl.DataFrame:
    """The stored file of submission year `fy` (cfsr.ncands_child_file) for the rules."""
    if not table_exists(con, CHILD_FILE_TABLE):
        return for_rules(pl.DataFrame(schema={element.lower(): pl.String for element in CFSR_ELEMENTS}))
    columns = ", ".join(element.lower() for element in CFSR_ELEMENTS)
    return for_rules(con.execute(f"select {columns} from {CHILD_FILE_TABLE} where subyr = ?", [fy]).pl())


def for_rules(frame: pl.DataFrame) -> pl.DataFrame:
    """Upper-case NCANDS names and the types the rules engine expects."""
    renamed = frame.rename({column: column.upper() for column in frame.columns if column.lower() == column})
    types = {**CHILD_FILE_SCHEMA, **EXTRA_TYPES}
    return renamed.select([pl.col(c).cast(types.get(c, pl.String())) for c in CFSR_ELEMENTS if c in renamed.columns])


# --- validation ---------------------------------------------------------------------------


def invalid_code_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Per coded CFSR element, rows whose value is outside the spec's code list (the
    spec is the one place the section 6 code lists live). Zero after a clean raw load."""
    spec = child_file_spec()
    counts = {}
    for element in CFSR_ELEMENTS:
        column = spec.column(element)
        if not column.codes or element.lower() not in frame.columns:
            continue
        values = pl.col(element.lower())
        codes = [int(c) for c in column.codes] if column.type == "int" else [str(c) for c in column.codes]
        counts[element] = int(frame.select((values.is_not_null() & ~values.is_in(codes)).sum()).item())
    return counts


def rows_per_state(frame: pl.DataFrame) -> dict[str, int]:
    """Report-child rows per state (lower- or upper-case frame)."""
    state = "staterr" if "staterr" in frame.columns else "STATERR"
    return dict(frame.group_by(state).len().sort(state).iter_rows())


def states_missing_from(states: list[str], previous_year_states: list[str]) -> list[str]:
    """States with a file in the previous year but none in this one: the period that
    pairs the two years cannot be computed for them (section 2.1 step 1: every state)."""
    return sorted(set(previous_year_states) - set(states))


def extracts_fingerprint(frame: pl.DataFrame) -> str:
    """A short hash of the extract files (content hashes) behind one year's rows: equal
    fingerprints mean the year's data did not change, so its periods need no rerun."""
    hashes = frame.select("_extract_file", "_extract_sha256").unique().sort("_extract_file", "_extract_sha256")
    text = "\n".join(f"{name}:{sha}" for name, sha in hashes.iter_rows())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
