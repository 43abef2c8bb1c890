"""The two code locations (the separation principle, docs/separation.md): the linker
location alone opens the identified zone; the analyst location sees the analysis zone only.

Membership is decided here and nowhere else, by the defs module that holds a definition's
code: LINKER_MODULES (a folder counts at every depth, so a new file under defs/linkage/
lands in the linker location) and every other module in the analyst location. A sensor
belongs with its function's module; a job or schedule goes to each location holding an
asset it targets, where its selection resolves to that location's part; the automation
sensor (it targets every asset of its location) is in both. Analyst assets keep their deps
on linker assets: a workspace with both locations shows one lineage.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

LINKER, ANALYST = "linker", "analyst"
DEFS_PACKAGE = "cmi_assets.defs"

LINKER_MODULES = (
    "sources",  # extracts into the identified zone, and the landing sensors
    "staging",
    "linkage",  # person records, links, the spine, and the de-identified event tables
    "cfsr.child_file",  # NCANDS Child File rows
    "cfsr.assets",  # the per-child recurrence audit, RSP and drill-downs read it
    "cfsr.schedules",  # runs the per-period job of cfsr.assets
    "prm.oracle",  # reads person_records and the spine
    "run_recovery",  # marks dead runs failed: the operators' side
)


def location_of_module(module: str) -> str:
    """LINKER or ANALYST for a module under cmi_assets.defs."""
    if module != DEFS_PACKAGE and not module.startswith(DEFS_PACKAGE + "."):
        raise ValueError(f"{module} is not a module of {DEFS_PACKAGE}: no code location is decided for it")
    relative = module.removeprefix(DEFS_PACKAGE).lstrip(".")
    if any(relative == name or relative.startswith(name + ".") for name in LINKER_MODULES):
        return LINKER
    return ANALYST


def defining_module(definition) -> str | None:
    """The module of the function an asset, observation, check or sensor runs; None for a
    declaration without code (an AssetSpec, a plain SourceAsset)."""
    if isinstance(definition, dg.SourceAsset):
        function = definition.observe_fn
    elif isinstance(definition, dg.AssetsDefinition):
        compute = getattr(definition.node_def, "compute_fn", None) if definition.is_executable else None
        function = getattr(compute, "decorated_fn", None) or getattr(compute, "__wrapped__", None)
    else:
        function = getattr(definition, "_raw_fn", None)
    return getattr(function, "__module__", None)


def _location_of_code(definition, what: str) -> str:
    module = defining_module(definition)
    if module is None:
        if isinstance(definition, dg.SourceAsset | dg.AssetSpec | dg.AssetsDefinition):
            return LINKER  # data declared, not computed: what arrives from outside lands with the linker
        raise ValueError(f"{what} {definition!r}: no module found to decide its code location")
    return location_of_module(module)


def _locations_of_targets(job, asset_locations: dict, asset_graph, what: str) -> set[str]:
    selection = getattr(job, "selection", None)
    if selection is None:
        raise ValueError(f"{what} targets no asset selection: no code location is decided for it")
    return {asset_locations[key] for key in selection.resolve(asset_graph)}


def split_locations(whole: dg.Definitions, analyst_resources: dict) -> dict[str, dg.Definitions]:
    """{LINKER: ..., ANALYST: ...} from the whole graph; the analyst location's resources
    are `analyst_resources` over the whole graph's."""
    asset_graph = whole.resolve_asset_graph()
    parts: dict[str, dict[str, list]] = {
        name: {"assets": [], "asset_checks": [], "sensors": [], "schedules": [], "jobs": []}
        for name in (LINKER, ANALYST)
    }
    asset_locations: dict = {}
    for assets_def in whole.assets or []:
        location = _location_of_code(assets_def, "asset")
        parts[location]["assets"].append(assets_def)
        for key in assets_def.keys:
            asset_locations[key] = location
    for check in whole.asset_checks or []:
        parts[_location_of_code(check, "asset check")]["asset_checks"].append(check)
    for sensor in whole.sensors or []:
        if isinstance(sensor, dg.AutomationConditionSensorDefinition):
            for part in parts.values():
                part["sensors"].append(sensor)
        else:
            parts[_location_of_code(sensor, "sensor")]["sensors"].append(sensor)
    for kind, items in (("jobs", whole.jobs), ("schedules", whole.schedules)):
        for item in items or []:
            job = item if kind == "jobs" else item.job
            for location in _locations_of_targets(job, asset_locations, asset_graph, f"{kind[:-1]} {item.name}"):
                parts[location][kind].append(item)
    resources = dict(whole.resources or {})
    return {
        name: dg.Definitions(
            **part,
            resources=resources if name == LINKER else {**resources, **analyst_resources},
            executor=whole.executor,
        )
        for name, part in parts.items()
    }


def asset_keys(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The keys a location materializes (not the other location's assets its deps name)."""
    return {key for assets_def in defs.assets or [] for key in assets_def.keys}


def names(items: Iterable) -> set[str]:
    return {item.name for item in items or []}
