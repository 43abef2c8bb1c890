"""The linkage group's shared asset attributes, set once: group, owners, the DuckDB write
pool and the eager automation."""

import dagster as dg

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL

GROUP = "linkage"
OWNERS = ["team:data-linkage"]


def linkage_asset(**kwargs):
    """dg.asset with the group's attributes; kinds, deps, description and metadata per asset."""
    return dg.asset(
        group_name=GROUP, owners=OWNERS, pool=DUCKDB_WRITE_POOL, automation_condition=follow_upstream(), **kwargs
    )


def column_schema(*columns: tuple[str, str] | tuple[str, str, str]) -> dg.TableSchema:
    """`dagster/column_schema` from the library's (name, type[, description]) tuples."""
    return dg.TableSchema(
        columns=[dg.TableColumn(c[0], c[1], description=c[2] if len(c) > 2 else None) for c in columns]
    )


def table_metadata(zone: str, table: str, schema: dg.TableSchema | None = None) -> dict:
    """An asset's table name in its zone, with its column schema when given."""
    out = {"dagster/table_name": f"{zone}.{table}", "zone": zone}
    return {**out, "dagster/column_schema": schema} if schema else out
