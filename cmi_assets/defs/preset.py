"""What every asset of a group shares, set once per group: `group_asset` makes the group's
decorator (group, owners, the DuckDB write pool, the eager automation, and any default of
the group's own such as its partitions); each asset adds its kinds, deps and metadata, and
may override a default. An asset's description is its function's docstring, so it is read
beside the code that makes the asset."""

import dagster as dg

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL


def group_asset(group: str, owners: list[str], **defaults):
    """The group's dg.asset."""

    def asset(**kwargs):
        settings = {"pool": DUCKDB_WRITE_POOL, **defaults, **kwargs}
        # a fresh condition per asset (each asset owns its evaluation state)
        settings.setdefault("automation_condition", follow_upstream())
        return dg.asset(group_name=group, owners=owners, **settings)

    return asset
