"""The UI, for real: start dagster-webserver on 127.0.0.1, read the asset graph over
GraphQL, launch a materialization through GraphQL, wait for it and read its checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
REPOSITORY = {"repositoryLocationName": "cmi_assets", "repositoryName": "__repository__"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, **variables):
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        body = json.loads(urllib.request.urlopen(request, timeout=60).read())
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def webserver(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    landing = data / "world" / "landing" / "reference"
    landing.mkdir(parents=True)
    (landing / "reference_areas_2021.csv").write_text(
        "postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n06002,003,O02,9\n"
    )
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CMI_DATA_DIR": str(data)}
    env.pop("CMI_LANDING_DIR", None)
    log = open(tmp_path / "webserver.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert process.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "webserver did not start"
                time.sleep(1)
        yield GraphQL(port), data
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_run(gql, run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


def test_webserver_serves_graph_and_runs_a_materialization_with_checks(webserver):
    gql, data = webserver
    nodes = gql("{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
    graph = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert graph["raw_reference"]["groupName"] == "sources"
    assert ["raw_reference"] in [d["path"] for d in graph["stg_reference_areas"]["dependencyKeys"]]

    added = gql(
        """mutation($sel: RepositorySelector!, $name: String!, $key: String!) {
             addDynamicPartition(repositorySelector: $sel, partitionsDefName: $name, partitionKey: $key) { __typename } }""",
        sel=REPOSITORY, name="reference_extracts", key="reference_areas_2021.csv",
    )
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"

    checks = [{"assetKey": {"path": ["raw_reference"]}, "name": n} for n in ("schema_valid", "keys_unique")]
    launched = gql(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        p={
            "selector": {**REPOSITORY, "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["raw_reference"]}],
                         "assetCheckSelection": checks},
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
