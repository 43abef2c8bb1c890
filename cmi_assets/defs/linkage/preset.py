"""The linkage group's shared asset attributes (cmi_assets/defs/preset.py)."""

from cmi_assets.defs.preset import group_asset

GROUP = "linkage"
OWNERS = ["team:data-linkage"]

linkage_asset = group_asset(GROUP, OWNERS)
