"""Agency extracts: specs (the YAML contract), validation, quarantine and loading
into the identified zone's `raw` schema. Plain Python; the Dagster assets live in
cmi_assets/defs/sources/."""

from cmi_assets.sources.landing import LandedFile, changed_files, file_sha256, landed_files, new_partition_keys
from cmi_assets.sources.load import (
    ExtractMissingError,
    IngestResult,
    ensure_raw_tables,
    ingest_extract,
    load_extract,
    loaded_extracts,
    locate_extract,
)
from cmi_assets.sources.quarantine import quarantine_extract
from cmi_assets.sources.spec import AgencySpec, ColumnSpec, PersonSpec, RecordTypeSpec, all_specs, load_spec
from cmi_assets.sources.validate import ExtractError, read_extract

__all__ = [
    "AgencySpec",
    "ColumnSpec",
    "ExtractError",
    "ExtractMissingError",
    "IngestResult",
    "LandedFile",
    "PersonSpec",
    "RecordTypeSpec",
    "all_specs",
    "changed_files",
    "ensure_raw_tables",
    "file_sha256",
    "ingest_extract",
    "landed_files",
    "load_extract",
    "load_spec",
    "loaded_extracts",
    "locate_extract",
    "new_partition_keys",
    "quarantine_extract",
    "read_extract",
]
