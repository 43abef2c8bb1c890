"""The CFSR group's shared asset attributes, set once: group, owners, the DuckDB write pool
and the eager automation (a period asset passes its own)."""

import dagster as dg

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL

GROUP = "cfsr"
OWNERS = ["team:cfsr-analysts"]


def cfsr_asset(automation_condition: dg.AutomationCondition | None = None, **kwargs):
    """dg.asset with the group's attributes; kinds, deps, description and metadata per asset."""
    return dg.asset(
        group_name=GROUP,
        owners=OWNERS,
        pool=DUCKDB_WRITE_POOL,
        automation_condition=automation_condition or follow_upstream(),
        **kwargs,
    )
