"""raw_<agency>: one asset per agency spec, one partition per landed extract file.

Materializing a partition validates the file and either loads it into
identified.raw.<agency>__<record_type> or moves it to quarantine and loads nothing
(cmi_assets.sources.load.ingest_extract). Metadata carries counts, hashes and the
column schema, never a value.
"""

import hashlib

import dagster as dg

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.defs.sources.checks import extract_check_results, extract_check_specs
from cmi_assets.defs.sources.partitions import extract_partitions
from cmi_assets.sources import (
    AgencySpec,
    ExtractMissingError,
    all_specs,
    ensure_raw_tables,
    ingest_extract,
    locate_extract,
)
from cmi_assets.sources.load import IngestResult, raw_columns, table_schema
from cmi_assets.storage import IDENTIFIED

OWNERS = ["team:data-engineering"]
DATA_VERSION_LENGTH = 16


def raw_asset_name(agency: str) -> str:
    return f"raw_{agency}"


def build_raw_asset(agency: AgencySpec) -> dg.AssetsDefinition:
    name = raw_asset_name(agency.agency)

    @dg.asset(
        name=name,
        partitions_def=extract_partitions(agency.agency),
        group_name="sources",
        kinds={"duckdb", "csv"},
        owners=OWNERS,
        description=agency.description,
        pool=DUCKDB_WRITE_POOL,
        check_specs=extract_check_specs(name),
        code_version=_spec_version(agency),
        metadata={
            "tables": ", ".join(f"raw.{rt.table_name}" for rt in agency.record_types.values()),
            "dagster/column_schema": declared_schema(agency),
        },
    )
    def raw_extract(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
        paths = storage.storage()
        try:
            landed = locate_extract(paths.landing_dir, paths.quarantine_dir, agency.agency, context.partition_key)
        except ExtractMissingError as missing:
            raise dg.Failure(description=str(missing)) from None
        with paths.connect(IDENTIFIED) as con:
            ensure_raw_tables(con, agency)
            result = ingest_extract(con, agency, landed, paths.quarantine_dir)
            columns = table_schema(con, result.table) if result.table else []
        _log(context, result)
        return dg.MaterializeResult(
            metadata=_metadata(result, columns),
            check_results=extract_check_results(result, _key_columns(agency, result.record_type)),
            # the file's content is the partition's data: a redelivery with other bytes makes
            # everything built on it stale, the same bytes again make nothing stale
            data_version=dg.DataVersion(result.sha256[:DATA_VERSION_LENGTH]) if result.sha256 else None,
        )

    return raw_extract


def _key_columns(agency: AgencySpec, record_type: str | None) -> tuple[str, ...]:
    spec = agency.record_types.get(record_type) if record_type else None
    return tuple(spec.key) if spec else ()


PROVENANCE_DESCRIPTIONS = {
    "_extract_file": "name of the extract file the row was loaded from",
    "_extract_sha256": "SHA-256 of that file's bytes (a redelivery with other bytes has another)",
    "_extract_delivered_at": "when the file landed (its modification time in landing, UTC)",
    "_row_number": "line of the row in the file (the header is line 1)",
    "_loaded_at": "when the row was loaded (UTC)",
}


def column_description(record_type, name: str) -> str:
    """A raw column in words, from the spec: what it holds, its rules (required, codes,
    range), and "identifying" for a name, DOB, agency ID or address."""
    if name.startswith("_"):
        return PROVENANCE_DESCRIPTIONS.get(name, "load provenance")
    column = record_type.column(name)
    notes = []
    if column.required:
        notes.append("required")
    if column.identifying:
        notes.append("identifying: never shown")
    if column.min is not None or column.max is not None:
        notes.append(f"{column.min if column.min is not None else ''}-{column.max if column.max is not None else ''}")
    text = column.description or name.replace("_", " ")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def declared_schema(agency: AgencySpec) -> dg.TableSchema:
    """The columns every record type's raw table holds, as the spec declares them, each
    described in the spec's words. With one record type the names are the raw table's;
    with several, "<record type>.<column>" (one schema for the agency's asset)."""
    columns = []
    several = len(agency.record_types) > 1
    for record_type in agency.record_types.values():
        for name, kind in raw_columns(record_type).items():
            columns.append(
                dg.TableColumn(
                    name=f"{record_type.name}.{name}" if several else name,
                    type=kind,
                    description=column_description(record_type, name),
                )
            )
    return dg.TableSchema(columns=columns)


def _spec_version(agency: AgencySpec) -> str | None:
    # A changed spec makes every partition's validation stale.
    return hashlib.sha256(agency.path.read_bytes()).hexdigest()[:12] if agency.path else None


def _metadata(result: IngestResult, columns: list[tuple[str, str]]) -> dict:
    metadata = {
        "file": result.file_name,
        "sha256": result.sha256,
        "record_type": result.record_type or "(none)",
        "loaded": result.loaded,
        "rows": result.rows,
        "dagster/row_count": result.rows,
    }
    if result.table:
        metadata["table"] = result.table
        metadata["dagster/table_name"] = f"{IDENTIFIED}.{result.table}"
    # The declared schema (definition metadata: record type, identifying columns) is what the
    # UI shows; the loaded table's columns go under their own key so they do not replace it.
    if columns:
        metadata["loaded_columns"] = dg.TableSchema(
            columns=[dg.TableColumn(name=column, type=kind) for column, kind in columns]
        )
    if result.quarantined_to is not None:
        metadata["quarantined_to"] = dg.MetadataValue.path(str(result.quarantined_to))
        metadata["problems"] = result.error.total
    return metadata


def _log(context: dg.AssetExecutionContext, result: IngestResult) -> None:
    if result.loaded:
        context.log.info(f"{result.file_name}: {result.rows} rows loaded into {result.table}")
    else:
        context.log.error(
            f"{result.file_name}: {result.error.total} problem(s), quarantined to {result.quarantined_to}; "
            f"first: {result.error.errors[0].location}: {result.error.errors[0].reason}"
        )


RAW_ASSETS = [build_raw_asset(agency) for agency in all_specs().values()]
