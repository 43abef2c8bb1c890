"""The CFSR group's shared asset attributes (cmi_assets/defs/preset.py); a period asset
passes its own automation."""

from cmi_assets.defs.preset import group_asset

GROUP = "cfsr"
OWNERS = ["team:cfsr-analysts"]

cfsr_asset = group_asset(GROUP, OWNERS)
