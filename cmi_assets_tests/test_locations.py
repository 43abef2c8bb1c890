"""The two code locations (cmi_assets/locations.py, docs/separation.md): together they are
the whole graph, each loads alone, the analyst location's storage refuses the identified
zone, and every run is tagged with the OS user who ran it."""

from __future__ import annotations

import inspect
import os
import pwd
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cmi_assets.defs.resources import LAUNCHED_BY_USER_TAG, AnalystStorageResource, StorageResource, os_user
from cmi_assets.locations import ANALYST, LINKER, asset_keys, defining_module, location_of_module, names
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, ZoneRefusedError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def locations():
    from cmi_assets.definitions import analyst_defs, defs, linker_defs

    return {"whole": defs(), LINKER: linker_defs(), ANALYST: analyst_defs()}


def _check_keys(definitions: dg.Definitions) -> set:
    return set(definitions.resolve_asset_graph().asset_check_keys)


def test_the_two_locations_are_the_whole_graph_split_without_overlap(locations):
    whole, linker, analyst = locations["whole"], locations[LINKER], locations[ANALYST]
    assert asset_keys(linker) | asset_keys(analyst) == asset_keys(whole)
    assert not asset_keys(linker) & asset_keys(analyst)
    assert _check_keys(linker) | _check_keys(analyst) == _check_keys(whole)
    assert not _check_keys(linker) & _check_keys(analyst)
    assert names(linker.sensors) | names(analyst.sensors) == names(whole.sensors)
    assert names(linker.sensors) & names(analyst.sensors) == {"automation"}  # one per location
    assert names(linker.schedules) | names(analyst.schedules) == names(whole.schedules)


def test_membership_follows_the_defs_module(locations):
    linker = {key.to_user_string() for key in asset_keys(locations[LINKER])}
    analyst = {key.to_user_string() for key in asset_keys(locations[ANALYST])}
    assert {"raw_births", "stg_births_registrations", "person_spine", "event_tables"} <= linker
    # the CFSR assets that read the Child File rows or the per-child audit, and the PRM oracle
    assert {"ncands_child_file", "cfsr_recurrence", "cfsr_rsp", "cfsr_drilldown", "prm_oracle_risk"} <= linker
    assert {"cfsr_trend", "cfsr_report", "cohort_features", "prm_model", "incidence_estimate"} <= analyst
    assert {"community_indicators", "open_data_package"} <= analyst
    # a new file under a linker folder lands there; any other module is the analyst's
    assert location_of_module("cmi_assets.defs.linkage.a_module_added_later") == LINKER
    assert location_of_module("cmi_assets.defs.linkage") == LINKER
    assert location_of_module("cmi_assets.defs.cfsr.trend") == ANALYST
    assert location_of_module("cmi_assets.defs.cfsr.child_file") == LINKER
    assert location_of_module("cmi_assets.defs.sourcesx") == ANALYST  # a prefix of a name is not the folder
    with pytest.raises(ValueError, match="not a module of cmi_assets.defs"):
        location_of_module("cmi_assets.cfsr.recurrence")


def test_no_analyst_module_names_the_identified_zone(locations):
    """A fast guard beside test_separation.py's run: the code of every analyst asset and
    check neither opens the identified zone nor imports its name."""
    analyst = locations[ANALYST]
    modules = {defining_module(d) for d in [*(analyst.assets or []), *(analyst.asset_checks or [])]}
    assert "cmi_assets.defs.cfsr.trend" in modules
    for module in modules:
        source = inspect.getsource(__import__(module, fromlist=["_"]))
        assert ".identified(" not in source and "IDENTIFIED" not in source, module


def test_each_location_loads_alone_and_keeps_its_deps_on_the_other(locations):
    for name in (LINKER, ANALYST):
        dg.Definitions.validate_loadable(locations[name])
    graph = locations[ANALYST].resolve_asset_graph()
    cohort = dg.AssetKey("cohort_population")
    assert dg.AssetKey("event_tables") in graph.get(cohort).parent_keys  # a linker asset, external here
    assert not graph.get(dg.AssetKey("event_tables")).is_materializable


def test_jobs_and_schedules_go_where_their_assets_are(locations):
    linker, analyst, whole = (locations[n].get_repository_def() for n in (LINKER, ANALYST, "whole"))
    assert linker.has_job("cfsr_period_job") and not analyst.has_job("cfsr_period_job")
    refresh = {name: set(repo.get_job("prm_refresh_job").asset_layer.executable_asset_keys) for name, repo in
               (("linker", linker), ("analyst", analyst), ("whole", whole))}  # fmt: skip
    assert refresh["linker"] == {dg.AssetKey("prm_oracle_risk")}
    assert refresh["linker"] | refresh["analyst"] == refresh["whole"]
    assert not refresh["linker"] & refresh["analyst"]


def test_the_analyst_storage_refuses_the_identified_zone_before_touching_it(tmp_path):
    storage = AnalystStorageResource(data_dir=str(tmp_path))
    with pytest.raises(ZoneRefusedError, match="never identified.duckdb: materialize what reads the identified"):
        with storage.identified(read_only=True):
            pass
    with pytest.raises(ZoneRefusedError):  # libraries given the Storage get the same refusal
        with storage.storage().connect(IDENTIFIED):
            pass
    assert not (tmp_path / "identified.duckdb").exists()
    with storage.warehouse() as con:
        assert con.execute("select 42").fetchone() == (42,)
    with StorageResource(data_dir=str(tmp_path)).identified() as con:  # the linker's opens it
        assert con.execute("select 1").fetchone() == (1,)
    # The allowed zones are not configuration: run config cannot widen them.
    assert set(AnalystStorageResource.to_config_schema().as_field().config_type.fields) == {
        "data_dir",
        "landing_dir",
        "memory_limit",
        "temp_dir",
    }
    assert AnalystStorageResource.OPENS_ZONES == (WAREHOUSE,)


def test_the_analyst_location_gets_the_refusing_storage(locations):
    assert type(locations[ANALYST].resources["storage"]) is AnalystStorageResource
    assert type(locations[LINKER].resources["storage"]) is StorageResource


def test_the_workspace_names_both_locations():
    entries = [e["python_module"] for e in yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())["load_from"]]
    assert {(e["location_name"], e["attribute"]) for e in entries} == {
        ("cmi_linker", "linker_defs"),
        ("cmi_analyst", "analyst_defs"),
    }
    assert {e["module_name"] for e in entries} == {"cmi_assets.definitions"}


# --- who ran a run ----------------------------------------------------------------------------


@dg.asset
def touches_the_warehouse(storage: StorageResource) -> None:
    with storage.warehouse() as con:
        con.execute("select 1")


def test_a_run_with_no_tag_is_tagged_with_the_os_user_when_its_step_starts(tmp_path, monkeypatch):
    """The path of runs launched from the UI, a sensor or a schedule: nothing tags them
    before they start; the storage resource does, on a real (SQLite) instance."""
    monkeypatch.setenv("USER", "someone-else")  # os_user reads the process's uid, not $USER
    monkeypatch.setenv("LOGNAME", "someone-else")
    expected = pwd.getpwuid(os.geteuid()).pw_name
    assert os_user() == expected != "someone-else"
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = StorageResource(data_dir=str(tmp_path / "data"))
        result = dg.materialize([touches_the_warehouse], instance=instance, resources={"storage": storage})
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags[LAUNCHED_BY_USER_TAG] == expected
        # a tag set at launch (cmi demo sets it) is kept
        tagged = dg.materialize(
            [touches_the_warehouse],
            instance=instance,
            resources={"storage": storage},
            tags={LAUNCHED_BY_USER_TAG: "set-at-launch"},
        )
        assert instance.get_run_by_id(tagged.run_id).tags[LAUNCHED_BY_USER_TAG] == "set-at-launch"


def test_the_demo_tags_every_run_it_launches(tmp_path, monkeypatch):
    from cmi_assets.demo import materialize_everything

    monkeypatch.setenv("USER", "someone-else")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        defs = dg.Definitions(
            assets=[touches_the_warehouse], resources={"storage": StorageResource(data_dir=str(tmp_path / "data"))}
        )
        done = materialize_everything(defs, instance, log=lambda *_: None)
        assert done.runs == 1 and done.failed == []
        (run,) = instance.get_runs()
        assert run.tags["cmi/launched_by"] == "cmi demo"
        assert run.tags[LAUNCHED_BY_USER_TAG] == pwd.getpwuid(os.geteuid()).pw_name
