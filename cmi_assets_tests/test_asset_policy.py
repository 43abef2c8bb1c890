"""What every asset of the whole graph carries, checked once over the resolved graph rather
than group by group: a named group owned by that group's team, kinds and a description for
the UI, the one-writer pool on every step that opens a DuckDB zone, and an automation
condition everywhere except where something outside the graph starts the work."""

from __future__ import annotations

import dagster as dg
import pytest

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL

GROUP_OWNERS = {
    "sources": ["team:data-engineering"],
    "staging": ["team:data-engineering"],
    "linkage": ["team:data-linkage"],
    "cfsr": ["team:cfsr-analysts"],
    "cohorts": ["team:prm-analytics"],
    "prm": ["team:prm-analytics"],
    "incidence": ["team:prm-analytics"],
    "community": ["team:prm-analytics"],
    "open_data": ["team:prm-analytics"],
}
# Extract partitions are started by the landing sensor when a file lands; the clerical
# review decisions are observed when `cmi review import` records them.
STARTED_FROM_OUTSIDE = {
    "raw_benefits",
    "raw_births",
    "raw_child_protection",
    "raw_corrections",
    "raw_health",
    "raw_reference",
    "review_decisions",
}


@pytest.fixture(scope="module")
def assets():
    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).assets_def for key in graph.get_all_asset_keys()}


def _spec(assets_def: dg.AssetsDefinition, name: str) -> dg.AssetSpec:
    return assets_def.specs_by_key[dg.AssetKey(name)]


def test_every_asset_is_in_a_named_group_owned_by_its_team(assets):
    groups = {name: _spec(a, name).group_name for name, a in assets.items()}
    assert set(groups.values()) == set(GROUP_OWNERS)
    wrong = {
        name: _spec(a, name).owners for name, a in assets.items() if _spec(a, name).owners != GROUP_OWNERS[groups[name]]
    }
    assert wrong == {}


def test_every_asset_has_kinds_and_a_description(assets):
    assert [name for name, a in assets.items() if not (_spec(a, name).kinds and _spec(a, name).description)] == []


def test_every_executable_step_that_opens_duckdb_takes_the_one_writer_pool(assets):
    opening = {
        name: a
        for name, a in assets.items()
        if a.is_executable and not a.is_observable and "storage" in a.required_resource_keys
    }
    assert len(opening) > 40
    assert [name for name, a in opening.items() if a.op.pool != DUCKDB_WRITE_POOL] == []


def test_every_asset_follows_an_automation_condition_unless_started_from_outside(assets):
    without = {name for name, a in assets.items() if _spec(a, name).automation_condition is None}
    assert without == STARTED_FROM_OUTSIDE
