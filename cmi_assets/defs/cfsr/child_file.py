"""The NCANDS Child File of each submission year as an asset (CFSR R4 rules, section 2.1
step 1: a period reads the files of t and t+1): one partition per FY, every state, from the
staged table, in the identified zone (agency IDs, dates of birth); the checks travel with it
(checks.py)."""

import dagster as dg

from cmi_assets.cfsr.child_file import (
    CHILD_FILE_TABLE,
    STAGED_TABLE,
    invalid_code_counts,
    missing_elements,
    rows_per_state,
)
from cmi_assets.cfsr.child_file_year import staged_year
from cmi_assets.cfsr.tables import CHILD_FILE_COLUMNS
from cmi_assets.defs.cfsr.checks import (
    child_file_check_specs,
    elements_and_codes_result,
    states_complete_result,
    undelivered_year_results,
)
from cmi_assets.defs.cfsr.partitions import FILE_YEARS, fy_of_key
from cmi_assets.defs.cfsr.preset import cfsr_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import mapping_table, states_named, table_metadata
from cmi_assets.storage import IDENTIFIED
from cmi_assets.tables import replace_partition_rows, table_exists

STAGED_KEY = dg.AssetKey("stg_child_protection_ncands_child")


@cfsr_asset(
    partitions_def=FILE_YEARS,
    deps=[STAGED_KEY],
    kinds={"duckdb"},
    check_specs=child_file_check_specs("ncands_child_file"),
    output_required=False,
    metadata=table_metadata(IDENTIFIED, CHILD_FILE_TABLE, CHILD_FILE_COLUMNS),
)
def ncands_child_file(context: dg.AssetExecutionContext, storage: StorageResource):
    """NCANDS Child File of one submission year (partition FYt = SUBYR t), every state, from the staged table;
    checked for the CFSR elements and codes and for states missing since the previous year. Identified zone
    (agency IDs, dates of birth). Partitions run to the newest FY whose file is due (1 February after the FY
    ends; CMI_CFSR_LAST_FY overrides). A due year with no rows is not materialized and its checks warn that no
    Child File was delivered; a year whose extracts are unchanged is not rematerialized."""
    fy = fy_of_key(context.partition_key)
    with storage.identified() as con:
        if not table_exists(con, STAGED_TABLE):
            raise dg.Failure(
                description=f"{STAGED_TABLE} does not exist yet: materialize {STAGED_KEY.to_user_string()}"
            )
        missing = missing_elements(con)
        if missing:
            yield elements_and_codes_result(missing, {}, 0)
            yield states_complete_result([], [], [])
            raise dg.Failure(description=f"{STAGED_TABLE} lacks CFSR elements: {', '.join(missing)}")
        year = staged_year(con, fy)
        frame = year.frame
        codes = elements_and_codes_result([], invalid_code_counts(frame), frame.height)
        complete = states_complete_result(year.missing_states, year.states, year.previous_states)
        if not year.delivered:
            # A due year nobody has delivered: nothing to store, and the checks say so
            # (WARN, not a pass on zero rows; not ERROR: a late file is not a bad one).
            context.log.warning(f"FY{fy}: no Child File delivered; nothing to materialize")
            yield from undelivered_year_results(fy, year.previous_states)
            return
        fingerprint = year.fingerprint
        if year.unchanged_since(_last_fingerprint(context)):
            context.log.info(f"FY{fy}: extracts unchanged (fingerprint {fingerprint}); not rematerialized")
            yield codes
            yield complete
            return
        replace_partition_rows(con, CHILD_FILE_TABLE, frame, "subyr", fy)
    per_state = rows_per_state(frame)
    context.log.info(f"FY{fy}: {frame.height} rows from {len(per_state)} states stored in {CHILD_FILE_TABLE}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "states": len(per_state),
            "rows_by_state": mapping_table(per_state, "state", "rows"),
            "extract_files": frame["_extract_file"].n_unique(),
            "extracts_fingerprint": fingerprint,
            "missing_states": states_named(year.missing_states),
        },
        check_results=[codes, complete],
        data_version=dg.DataVersion(fingerprint),
    )


def _last_fingerprint(context: dg.AssetExecutionContext) -> str | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("extracts_fingerprint")
    return value.value if value is not None else None
