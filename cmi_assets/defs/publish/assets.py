"""The open data package as an asset (cmi_assets/publish/ is the library; `cmi publish` runs
the same function): community_indicators, cfsr_recurrence, incidence_rates -> open_data_package,
written under the data folder's reports/open_data."""

import dagster as dg
import polars as pl

from cmi_assets.defs.preset import group_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import column_schema, frame_table
from cmi_assets.publish.package import (
    CFSR_PUBLISHED_COLUMNS,
    INCIDENCE_PUBLISHED_COLUMNS,
    PUBLISHED_COLUMNS,
    publish_warehouse,
)

GROUP = "open_data"
OWNERS = ["team:prm-analytics"]
open_data_asset = group_asset(GROUP, OWNERS)
PACKAGE_SUBDIR = ("reports", "open_data")


# The columns of each CSV of the package (the UI shows them before a run).
CSV_SCHEMA = column_schema(PUBLISHED_COLUMNS)
CSV_SCHEMAS = {
    "community_indicators.csv": CSV_SCHEMA,
    "cfsr_recurrence.csv": column_schema(CFSR_PUBLISHED_COLUMNS),
    "incidence_rates.csv": column_schema(INCIDENCE_PUBLISHED_COLUMNS),
}


@open_data_asset(
    deps=["community_indicators", "cfsr_recurrence", "incidence_rates"],
    kinds={"csv", "json"},
    metadata={
        "dagster/column_schema": CSV_SCHEMA,
        **{name.removesuffix(".csv"): dg.MetadataValue.table_schema(schema) for name, schema in CSV_SCHEMAS.items()},
    },
)
def open_data_package(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The open data package: the community indicators, CFSR recurrence by state and pooled, and incidence
    rates as CSV, protected together by the project's one disclosure control (a count two tables both publish
    is hidden in both, and every table's margins count), with a Frictionless datapackage.json (Table Schema
    per file), a DCAT-US 1.1 data.json catalog and a data dictionary (every column's name, type, definition,
    source, unit and suppression rule), under reports/open_data of the data folder. Nothing from the
    identified zone, no person_key."""
    out = storage.storage().data_dir.joinpath(*PACKAGE_SUBDIR)
    with storage.warehouse(read_only=True) as con:
        files = publish_warehouse(con, out)
    listing = pl.DataFrame({"file": list(files), "rows": list(files.values())})
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out)),
            "files": frame_table(listing),
            "dagster/row_count": sum(files.values()),
        }
    )
