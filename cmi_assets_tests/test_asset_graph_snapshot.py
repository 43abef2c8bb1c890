"""A snapshot of the asset graph: for every asset its group, upstream assets, partitions,
automation condition and checks; the sensors and schedules with their default status.

A change to the graph shows here as a readable diff. When the change is intended,
regenerate the snapshot with one command and commit it with the change:

    CMI_UPDATE_SNAPSHOT=1 .venv/bin/pytest cmi_assets_tests/test_asset_graph_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).with_name("asset_graph_snapshot.json")
UPDATE_VARIABLE = "CMI_UPDATE_SNAPSHOT"


def _partitions(pdef: dg.PartitionsDefinition | None) -> dict | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.DynamicPartitionsDefinition):
        return {"kind": "dynamic", "name": pdef.name}
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return {
            "kind": "time_window",
            "cron": pdef.cron_schedule,
            "start": pdef.start.isoformat(),
            "timezone": pdef.timezone,
        }
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        return {"kind": "multi", "dimensions": {d.name: _partitions(d.partitions_def) for d in pdef.partitions_defs}}
    if isinstance(pdef, dg.StaticPartitionsDefinition):
        return {"kind": "static", "keys": list(pdef.get_partition_keys())}
    return {"kind": type(pdef).__name__}


def graph_snapshot(definitions: dg.Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if not node.is_materializable:
            continue
        condition = node.automation_condition
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "automation": (condition.get_label() or condition.name) if condition is not None else None,
            "checks": sorted(
                f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}" for c in node.check_keys
            ),
        }
    sensors = {
        s.name: {"status": s.default_status.value, "type": type(s).__name__}
        for s in sorted(definitions.sensors or [], key=lambda s: s.name)
    }
    schedules = {
        s.name: {"status": s.default_status.value, "cron": s.cron_schedule, "timezone": s.execution_timezone}
        for s in sorted(definitions.schedules or [], key=lambda s: s.name)
    }
    return {"assets": assets, "sensors": sensors, "schedules": schedules}


def _text(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def describe_changes(expected: dict, current: dict) -> list[str]:
    """One line per change, named by section, entry and field: `+` new, `-` gone, `~` changed."""
    lines = []
    for section in sorted(set(expected) | set(current)):
        old, new = expected.get(section, {}), current.get(section, {})
        for name in sorted(set(old) | set(new)):
            if name not in old:
                lines.append(f"+ {section} {name}: {json.dumps(new[name], sort_keys=True)}")
            elif name not in new:
                lines.append(f"- {section} {name}")
            else:
                for key in sorted(set(old[name]) | set(new[name])):
                    if old[name].get(key) != new[name].get(key):
                        lines.append(
                            f"~ {section} {name} {key}: {json.dumps(old[name].get(key))} -> "
                            f"{json.dumps(new[name].get(key))}"
                        )
    return lines


def test_asset_graph_matches_the_snapshot():
    from cmi_assets.definitions import defs

    current = graph_snapshot(defs())
    if os.environ.get(UPDATE_VARIABLE):
        SNAPSHOT.write_text(_text(current))
        print(f"wrote {SNAPSHOT}")
        return
    assert SNAPSHOT.exists(), (
        f"no snapshot yet: {UPDATE_VARIABLE}=1 .venv/bin/pytest cmi_assets_tests/{Path(__file__).name}"
    )
    expected = json.loads(SNAPSHOT.read_text())
    changes = describe_changes(expected, json.loads(_text(current)))
    if changes:
        raise AssertionError(
            f"the asset graph differs from {SNAPSHOT.name} (committed -> now):\n  "
            + "\n  ".join(changes)
            + "\nIf the change is intended, regenerate the snapshot and commit it:\n"
            f"    {UPDATE_VARIABLE}=1 .venv/bin/pytest cmi_assets_tests/{Path(__file__).name}\n"
        )


def test_changes_are_described_by_asset_and_field():
    old = {"assets": {"a": {"group": "g", "deps": []}, "b": {"group": "g"}}, "sensors": {}}
    new = {"assets": {"a": {"group": "h", "deps": ["c"]}, "c": {"group": "g"}}, "sensors": {}}
    assert describe_changes(old, new) == [
        '~ assets a deps: [] -> ["c"]',
        '~ assets a group: "g" -> "h"',
        "- assets b",
        '+ assets c: {"group": "g"}',
    ]
    assert describe_changes(old, old) == []


def test_snapshot_sees_what_it_should():
    """The snapshot itself is not vacuous: it records the things a reviewer relies on."""
    from cmi_assets.definitions import defs

    snapshot = graph_snapshot(defs())
    raw = snapshot["assets"]["raw_births"]
    assert raw["partitions"] == {"kind": "dynamic", "name": "births_extracts"}
    assert raw["checks"] == ["keys_unique (blocking)", "schema_valid (blocking)"]
    staged = snapshot["assets"]["stg_births_registrations"]
    assert staged["deps"] == ["raw_births"] and staged["group"] == "staging"
    assert staged["automation"] == "eager, relaxed, gated on blocking checks"
    assert snapshot["sensors"]["landing_births"] == {"status": "RUNNING", "type": "SensorDefinition"}
    assert snapshot["sensors"]["automation"]["status"] == "RUNNING"
