"""The UI, for real: start dagster-webserver on 127.0.0.1, read the asset graph over
GraphQL, launch a materialization through GraphQL, wait for it and read its checks."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


@pytest.fixture
def webserver(tmp_path, walkthrough):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    landing = data / "world" / "landing" / "reference"
    landing.mkdir(parents=True)
    (landing / "reference_areas_2021.csv").write_text(
        "postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n06002,003,O02,9\n"
    )
    port = walkthrough.free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CMI_DATA_DIR": str(data)}
    env.pop("CMI_LANDING_DIR", None)
    command = [
        str(Path(sys.executable).parent / "dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "workspace.yaml",
    ]
    with walkthrough.DevServer(command, env, tmp_path / "webserver.log", port, cwd=PROJECT_ROOT) as server:
        server.wait_until_serving()
        yield walkthrough.GraphQL(port), data


def _wait_for_run(gql, run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"][
            "status"
        ]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


def test_webserver_serves_graph_and_runs_a_materialization_with_checks(webserver, walkthrough):
    gql, data = webserver
    # workspace.yaml loads two locations; the sources (raw_reference) are the linker's
    repository = {**walkthrough.REPOSITORY, "repositoryLocationName": "cmi_linker"}
    nodes = gql("{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
    graph = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert graph["raw_reference"]["groupName"] == "sources"
    assert ["raw_reference"] in [d["path"] for d in graph["stg_reference_areas"]["dependencyKeys"]]

    added = gql(
        """mutation($sel: RepositorySelector!, $name: String!, $key: String!) {
             addDynamicPartition(repositorySelector: $sel, partitionsDefName: $name, partitionKey: $key) { __typename } }""",
        sel=repository,
        name="reference_extracts",
        key="reference_areas_2021.csv",
    )
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"

    checks = [{"assetKey": {"path": ["raw_reference"]}, "name": n} for n in ("schema_valid", "keys_unique")]
    launched = gql(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        p={
            "selector": {
                **repository,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": ["raw_reference"]}],
                "assetCheckSelection": checks,
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "reference_areas_2021.csv"}]},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert _wait_for_run(gql, launched["run"]["runId"]) == "SUCCESS"

    result = gql(
        """query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { ... on AssetNode {
             assetChecksOrError { ... on AssetChecks { checks { name blocking
               executionForLatestMaterialization { status evaluation { success } } } } } } } }""",
        k={"path": ["raw_reference"]},
    )
    by_name = {c["name"]: c for c in result["assetNodeOrError"]["assetChecksOrError"]["checks"]}
    assert by_name["schema_valid"]["blocking"]
    assert by_name["schema_valid"]["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
    assert by_name["schema_valid"]["executionForLatestMaterialization"]["evaluation"]["success"] is True
    assert (data / "identified.duckdb").exists()
