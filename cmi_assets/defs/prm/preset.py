"""The PRM group's shared asset attributes, set once: group, owners, the DuckDB write pool
and the eager automation."""

import dagster as dg

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL

GROUP = "prm"
OWNERS = ["team:prm-analytics"]


def prm_asset(**kwargs):
    """dg.asset with the group's attributes; kinds, deps, description and metadata per asset."""
    return dg.asset(
        group_name=GROUP, owners=OWNERS, pool=DUCKDB_WRITE_POOL, automation_condition=follow_upstream(), **kwargs
    )
