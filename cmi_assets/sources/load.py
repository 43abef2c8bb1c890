"""Load validated extracts into the identified zone: raw.<agency>__<record_type>.

Each row keeps its provenance (file, content hash, delivery time, line number, load
time). A file's rows are replaced in one transaction (delete + insert), so a
re-delivered file with the same name replaces its earlier rows, and a failure leaves
the earlier rows and every other file's rows untouched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from cmi_assets.sources.landing import LandedFile, file_sha256, find_landed_file
from cmi_assets.sources.quarantine import quarantine_extract, quarantined_copies, reason_path
from cmi_assets.sources.spec import AgencySpec, RecordTypeSpec
from cmi_assets.sources.validate import FILE_NAME, ROW_NUMBER, SYMLINK, ExtractError, read_extract_bytes
from cmi_assets.tables import transaction

RAW_SCHEMA = "raw"

# Provenance columns of every raw table, in order, with their DuckDB types.
PROVENANCE_COLUMNS = {
    "_extract_file": "VARCHAR",
    "_extract_sha256": "VARCHAR",
    "_extract_delivered_at": "TIMESTAMP",  # the file's modification time in landing (UTC)
    ROW_NUMBER: "BIGINT",  # line in the file, header = line 1 (as in ExtractError.row)
    "_loaded_at": "TIMESTAMP",  # UTC
}
_DUCKDB_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "date": "DATE"}
_FRAME_VIEW = "__cmi_extract_frame"


class ExtractMissingError(FileNotFoundError):
    """A partition whose file is no longer in landing (quarantined, moved or deleted)."""


@dataclass(frozen=True)
class IngestResult:
    """What happened to one landed file. Counts, hashes and paths only: no values."""

    file_name: str
    sha256: str
    record_type: str | None
    table: str | None
    rows: int  # rows loaded (0 when quarantined)
    error: ExtractError | None = None
    quarantined_to: Path | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


def raw_table(spec: RecordTypeSpec) -> str:
    return f"{RAW_SCHEMA}.{spec.table_name}"


def raw_columns(spec: RecordTypeSpec) -> dict[str, str]:
    """Column name -> DuckDB type of the raw table, spec columns then provenance."""
    return {**{c.name: _DUCKDB_TYPES[c.type] for c in spec.columns}, **PROVENANCE_COLUMNS}


def ensure_raw_table(con: duckdb.DuckDBPyConnection, spec: RecordTypeSpec) -> None:
    """Create the record type's raw table; add columns a newer spec introduced."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    columns = raw_columns(spec)
    body = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(spec)} ({body})")
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [RAW_SCHEMA, spec.table_name],
        ).fetchall()
    }
    for name, kind in columns.items():
        if name not in existing:
            con.execute(f'ALTER TABLE {raw_table(spec)} ADD COLUMN "{name}" {kind}')


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, agency: AgencySpec) -> None:
    """Every record type's raw table, so staged models run before all types have files."""
    for spec in agency.record_types.values():
        ensure_raw_table(con, spec)


def load_extract(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, spec: RecordTypeSpec, file: LandedFile) -> int:
    """Replace `file`'s rows in the raw table with `frame` in one transaction; returns rows loaded."""
    rows = _with_provenance(frame, file)
    with transaction(con):
        ensure_raw_table(con, spec)
        con.execute(f"DELETE FROM {raw_table(spec)} WHERE _extract_file = ?", [file.name])
        con.register(_FRAME_VIEW, rows)
        try:
            con.execute(f"INSERT INTO {raw_table(spec)} BY NAME SELECT * FROM {_FRAME_VIEW}")
        finally:
            con.unregister(_FRAME_VIEW)
    return rows.height


def _with_provenance(frame: pl.DataFrame, file: LandedFile) -> pl.DataFrame:
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    delivered_at = file.modified_at.astimezone(UTC).replace(tzinfo=None)
    if ROW_NUMBER not in frame.columns:
        frame = frame.with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(ROW_NUMBER))
    return frame.with_columns(
        pl.lit(file.name, dtype=pl.Utf8).alias("_extract_file"),
        pl.lit(file.sha256, dtype=pl.Utf8).alias("_extract_sha256"),
        pl.lit(delivered_at, dtype=pl.Datetime("us")).alias("_extract_delivered_at"),
        pl.lit(loaded_at, dtype=pl.Datetime("us")).alias("_loaded_at"),
    )


def locate_extract(landing_dir: Path, quarantine_dir: Path, agency: str, name: str) -> LandedFile:
    """The landed file behind a partition key; ExtractMissingError saying why when it is gone."""
    landed = find_landed_file(landing_dir, agency, name)
    if landed is not None:
        return landed
    copies = quarantined_copies(quarantine_dir, agency, name)
    if copies:
        latest = copies[-1]
        raise ExtractMissingError(
            f"{name} is no longer in landing/{agency}: it was quarantined as {latest.name} "
            f"(reason in {reason_path(latest)}). Deliver a corrected file with the same name "
            "and re-materialize this partition."
        )
    raise ExtractMissingError(
        f"{name} is not in landing/{agency} and was never quarantined: it was moved or deleted "
        "after its partition was added. Re-deliver it, or delete the partition."
    )


def ingest_extract(
    con: duckdb.DuckDBPyConnection,
    agency: AgencySpec,
    file: LandedFile,
    quarantine_dir: Path,
    max_errors: int = 20,
) -> IngestResult:
    """Validate one landed file and load it, or quarantine it and load nothing."""
    # A symbolic link is never read: it can name any file the pipeline may read (another
    # agency's extract, a secret, a device), and its target can change behind the hash.
    data = None if file.path.is_symlink() else file.path.read_bytes()
    # The hash recorded is that of the bytes validated, even if the file changes meanwhile.
    file = file.with_sha256(hashlib.sha256(data).hexdigest() if data is not None else file_sha256(file.path))
    spec = agency.record_types.get(file.record_type) if file.record_type else None
    try:
        if data is None:
            raise ExtractError(
                file.name,
                None,
                None,
                "a symbolic link, not a delivered file: links in landing are not followed",
                SYMLINK,
            )
        if spec is None:
            raise ExtractError(
                file.name, None, None, f"file name matches no record type of the {agency.agency} spec", FILE_NAME
            )
        frame = read_extract_bytes(data, file.name, spec, max_errors)
    except ExtractError as error:
        target = quarantine_extract(file.path, quarantine_dir, agency.agency, error)
        return IngestResult(
            file.name, file.sha256, file.record_type, raw_table(spec) if spec else None, 0, error, target
        )
    rows = load_extract(con, frame, spec, file)
    return IngestResult(file.name, file.sha256, spec.name, raw_table(spec), rows)


def table_schema(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a schema-qualified table."""
    schema, name = table.split(".", 1)
    return [
        (row[0], row[1])
        for row in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def loaded_extracts(con: duckdb.DuckDBPyConnection, agency: AgencySpec) -> dict[str, str]:
    """File name -> sha256 of every extract of `agency` currently loaded (a sensor compares
    these with landing to spot a corrected re-delivery under the same name)."""
    existing = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [RAW_SCHEMA]
        ).fetchall()
    }
    loaded: dict[str, str] = {}
    for spec in agency.record_types.values():
        if spec.table_name in existing:
            rows = con.execute(f"SELECT DISTINCT _extract_file, _extract_sha256 FROM {raw_table(spec)}").fetchall()
            loaded.update(dict(rows))
    return loaded
