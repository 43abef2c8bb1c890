"""The PRM group's shared asset attributes (cmi_assets/defs/preset.py)."""

from cmi_assets.defs.preset import group_asset

GROUP = "prm"
OWNERS = ["team:prm-analytics"]

prm_asset = group_asset(GROUP, OWNERS)
