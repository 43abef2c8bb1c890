"""The two roles in the UI, for real (docs/separation.md): the command `cmi demo` prints
(`dg dev -w workspace.yaml`) serves both code locations and launches runs, each run tagged
with the OS user that ran it; the analyst's `dagster-webserver --read-only` on the same
instance shows the analyst location and its runs and refuses to launch one."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from cmi_assets_tests.defs.test_ui_smoke import INSTANCE_YAML  # one instance config for the UI tests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ANALYST_WORKSPACE = """\
load_from:
  - python_module:
      module_name: cmi_assets.definitions
      attribute: analyst_defs
      location_name: cmi_analyst
"""
LINKER = {"repositoryLocationName": "cmi_linker", "repositoryName": "__repository__"}
ANALYST = {"repositoryLocationName": "cmi_analyst", "repositoryName": "__repository__"}
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"""
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { assetNodes { assetKey { path } } } } } } } } }"""


def _printed_ui_command(data: Path, home: Path) -> tuple[dict[str, str], list[str]]:
    """The variables and the command of the line `cmi demo` prints for the UI."""
    from cmi_assets.demo import DemoReport, format_report

    report = DemoReport(data_dir=data, dagster_home=home, world_summary=None)
    line = next(line for line in format_report(report).splitlines() if line.strip().split(" ")[-1] == "workspace.yaml")
    words = shlex.split(line)
    variables = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    return variables, [w for w in words if w.split("=", 1)[0] not in variables]


def _launch(gql, repository: dict, asset: str, tags: list | None = None) -> dict:
    params = {"selector": {**repository, "jobName": "__ASSET_JOB", "assetSelection": [{"path": [asset]}]}}
    if tags:
        params["executionMetadata"] = {"tags": tags}
    return gql(LAUNCH, p=params)["launchRun"]


def _finished(gql, run_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = gql(RUN, id=run_id)["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return {"status": run["status"], "tags": {t["key"]: t["value"] for t in run["tags"]}}
        time.sleep(1)
    raise AssertionError(f"run {run_id} still going after {timeout} s")


@pytest.fixture
def servers(tmp_path, walkthrough, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)  # the printed command is relative to the project folder
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    landing = data / "world" / "landing" / "reference"
    landing.mkdir(parents=True)
    (landing / "reference_areas_2021.csv").write_text(
        "postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n06002,003,O02,9\n"
    )
    variables, command = _printed_ui_command(data, home)
    assert command[1:] == ["dev", "-w", "workspace.yaml"], command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMI_", "DAGSTER_"))}
    env.update(variables)
    env["CMI_PSEUDONYM_KEY"] = "test-only-key-not-secret"
    linker_port, analyst_port = walkthrough.free_port(), walkthrough.free_port()
    # the analyst's own server loads the analyst location only (deploy/ does the same over gRPC)
    analyst_workspace = tmp_path / "workspace.analyst.yaml"
    analyst_workspace.write_text(ANALYST_WORKSPACE)
    analyst_command = [
        str(Path(sys.executable).parent / "dagster-webserver"),
        "--read-only",
        "-h",
        "127.0.0.1",
        "-p",
        str(analyst_port),
        "-w",
        str(analyst_workspace),
    ]
    # The analyst's server starts once `dg dev` serves: two processes creating one fresh
    # instance's storage at the same moment race on its schema migration.
    with walkthrough.DevServer(
        [*command, "-h", "127.0.0.1", "-p", str(linker_port)], env, tmp_path / "dev.log", linker_port
    ) as dev:
        dev.wait_until_serving()
        with walkthrough.DevServer(analyst_command, env, tmp_path / "analyst.log", analyst_port) as analyst:
            analyst.wait_until_serving()
            yield walkthrough.GraphQL(linker_port), walkthrough.GraphQL(analyst_port)


def _locations(gql) -> dict[str, set[str]]:
    entries = gql(LOCATIONS)["workspaceOrError"]["locationEntries"]
    found = {}
    for entry in entries:
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", entry
        found[entry["name"]] = {
            "/".join(node["assetKey"]["path"]) for repo in location["repositories"] for node in repo["assetNodes"]
        }
    return found


def test_the_linker_launches_and_the_read_only_analyst_server_refuses(servers):
    from cmi_assets.defs.resources import LAUNCHED_BY_USER_TAG, os_user

    dev, analyst = servers
    # `dg dev -w workspace.yaml` shows both locations; analyst nodes name the linker's assets
    # they depend on, so the lineage runs across both.
    shown = _locations(dev)
    assert set(shown) == {"cmi_linker", "cmi_analyst"}
    assert {"raw_reference", "person_spine"} <= shown["cmi_linker"]
    assert {"cfsr_trend", "cohort_population"} <= shown["cmi_analyst"]
    assert "raw_reference" not in shown["cmi_analyst"] or "cfsr_trend" not in shown["cmi_linker"]

    added = dev(
        """mutation($sel: RepositorySelector!, $name: String!, $key: String!) {
             addDynamicPartition(repositorySelector: $sel, partitionsDefName: $name, partitionKey: $key) { __typename } }""",
        sel=LINKER,
        name="reference_extracts",
        key="reference_areas_2021.csv",
    )
    # the landing sensor (running under `dg dev`) may have registered the file first
    assert added["addDynamicPartition"]["__typename"] in (
        "AddDynamicPartitionSuccess",
        "DuplicateDynamicPartitionError",
    )
    launched = _launch(
        dev, LINKER, "raw_reference", [{"key": "dagster/partition", "value": "reference_areas_2021.csv"}]
    )
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run = _finished(dev, launched["run"]["runId"])
    assert run["status"] == "SUCCESS"
    # launched from the UI with no tag of ours: the run worker named its OS user
    assert run["tags"][LAUNCHED_BY_USER_TAG] == os_user()

    # The analyst's server: read-only, on the same instance; the same launch is refused.
    assert _locations(analyst).keys() == {"cmi_analyst"}
    refused = _launch(analyst, ANALYST, "cfsr_trend")
    assert refused["__typename"] == "UnauthorizedError", refused
    runs = analyst("{ runsOrError { ... on Runs { results { runId assetSelection { path } } } } }")["runsOrError"][
        "results"
    ]
    # it sees the history (the sensors under `dg dev` may add runs of their own) and nothing new
    assert launched["run"]["runId"] in [r["runId"] for r in runs]
    assert not [r for r in runs if ["cfsr_trend"] in [a["path"] for a in r["assetSelection"] or []]]
    # while the writable server accepts that very launch (the run fails: nothing upstream of it exists)
    accepted = _launch(dev, ANALYST, "cfsr_trend")
    assert accepted["__typename"] == "LaunchRunSuccess", accepted
    assert _finished(dev, accepted["run"]["runId"])["tags"][LAUNCHED_BY_USER_TAG] == os_user()
