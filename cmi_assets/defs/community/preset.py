"""The community group's shared asset attributes (cmi_assets/defs/preset.py)."""

from cmi_assets.defs.preset import group_asset

GROUP = "community"
OWNERS = ["team:prm-analytics"]

community_asset = group_asset(GROUP, OWNERS)
