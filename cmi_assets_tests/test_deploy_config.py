"""The instance configuration we ship: deploy/dagster.yaml loads into a real instance
that serialises DuckDB writers, and the Postgres variant is valid instance config."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_local_instance_config_limits_the_duckdb_pool_to_one(tmp_path, monkeypatch):
    import dagster as dg

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    try:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    finally:
        instance.dispose()


def test_postgres_config_reads_every_connection_setting_from_the_environment():
    config = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    assert {k for k, v in db.items() if isinstance(v, dict) and "env" in v} == {
        "hostname",
        "port",
        "username",
        "password",
        "db_name",
    }  # no secret in the file
    assert db["scheme"] == "postgresql+psycopg2"
    assert config["concurrency"]["pools"]["default_limit"] == 1


# --- running bigger: executors, pools, the compose example -----------------------------------------

EXECUTOR_EXAMPLES = DEPLOY / "executors"


def _definitions(monkeypatch, executor: str | None):
    from cmi_assets.definitions import defs

    if executor is None:
        monkeypatch.delenv("CMI_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("CMI_EXECUTOR", executor)
    return defs()


def test_the_executor_is_chosen_by_configuration(monkeypatch):
    import pytest

    assert _definitions(monkeypatch, None).resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
    for name in ("multiprocess", "k8s", "celery"):
        job = _definitions(monkeypatch, name).resolve_implicit_global_asset_job_def()
        assert job.executor_def.name == name
    from cmi_assets.defs.resources import executor_from_env

    with pytest.raises(ValueError, match="CMI_EXECUTOR: unknown executor 'ray'"):
        executor_from_env({"CMI_EXECUTOR": "ray"})


def test_an_executor_package_that_is_missing_is_named(monkeypatch):
    import sys

    import pytest

    from cmi_assets.defs.resources import executor_from_env

    monkeypatch.setitem(sys.modules, "dagster_celery", None)  # as if not installed
    with pytest.raises(ImportError, match=r"CMI_EXECUTOR=celery needs the dagster-celery==0.29.27 package"):
        executor_from_env({"CMI_EXECUTOR": "celery"})


def test_each_executor_example_is_valid_run_config_for_the_asset_job(monkeypatch):
    """deploy/executors/<name>.yaml validates against that executor's own config schema (the
    installed dagster-k8s and dagster-celery), and a misspelt key does not."""
    import dagster as dg
    import pytest

    monkeypatch.setenv("CMI_CELERY_BROKER_URL", "pyamqp://guest@rabbitmq//")
    examples = sorted(EXECUTOR_EXAMPLES.glob("*.yaml"))
    assert [p.stem for p in examples] == ["celery", "k8s", "multiprocess"]
    for path in examples:
        job = _definitions(monkeypatch, path.stem).resolve_implicit_global_asset_job_def()
        run_config = yaml.safe_load(path.read_text())
        resolved = dg.validate_run_config(job, run_config)
        assert resolved["execution"][path.stem], path.name  # resolved under the executor's name
        broken = {"execution": {"config": {**run_config["execution"]["config"], "max_concurent": 2}}}
        with pytest.raises(dg.DagsterInvalidConfigError, match="max_concurent"):
            dg.validate_run_config(job, broken)
    k8s = yaml.safe_load((EXECUTOR_EXAMPLES / "k8s.yaml").read_text())["execution"]["config"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())["services"]
    assert k8s["job_image"] == compose["daemon"]["image"]  # the image the compose example builds
    assert {m["mountPath"] for m in k8s["volume_mounts"]} == {compose["analyst-code"]["environment"]["CMI_DATA_DIR"]}


def test_every_step_that_opens_duckdb_takes_the_one_writer_pool(monkeypatch):
    """Whatever the executor, a step that opens a DuckDB zone (it requires the storage
    resource) declares the duckdb_write pool, and both instance configs give it one slot."""
    import dagster as dg

    from cmi_assets.defs.resources import DUCKDB_WRITE_POOL

    job = _definitions(monkeypatch, "multiprocess").resolve_implicit_global_asset_job_def()
    ops = [node for node in job.graph.iterate_node_defs() if isinstance(node, dg.OpDefinition)]
    opening = [op for op in ops if "storage" in op.required_resource_keys]
    assert len(opening) > 50
    # Observable sources cannot take a pool in Dagster 1.13: review_decisions' observation
    # opens the identified file read-only for one hash query, and a writer that meets its
    # lock waits it out (CMI_DUCKDB_LOCK_WAIT_SECONDS). Nothing else may be outside the pool.
    outside = [op.name for op in opening if op.pool != DUCKDB_WRITE_POOL]
    assert outside == ["review_decisions"]
    for name in ("dagster.yaml", "dagster.postgres.yaml"):
        pools = yaml.safe_load((DEPLOY / name).read_text())["concurrency"]["pools"]
        assert pools == {"default_limit": 1, "granularity": "op"}, name


def _dockerfile() -> str:
    return (DEPLOY.parent / "Dockerfile").read_text()


def _dockerfile_env() -> dict[str, str]:
    values = {}
    for line in _dockerfile().splitlines():
        for part in line.replace("ENV ", "").replace("ARG ", "").replace("\\", "").split():
            if "=" in part and part.split("=")[0].isupper():
                key, value = part.split("=", 1)
                values[key] = value
    return values


def _dockerfile_users() -> tuple[dict[str, int], dict[str, int], dict[str, set[str]]]:
    """users -> uid, groups -> gid, user -> supplementary groups, from the Dockerfile's
    groupadd / useradd lines (ARG values substituted)."""
    args = _dockerfile_env()
    text = re.sub(r'"?\$(\w+)"?', lambda m: args.get(m.group(1), m.group(0)), _dockerfile())
    groups = {name: int(gid) for gid, name in re.findall(r"groupadd --gid (\d+) ([\w-]+)", text)}
    users, member_of = {}, {}
    for options, name in re.findall(r"useradd ((?:--[\w-]+ [^\s]+ |--create-home )+)([\w-]+)", text):
        flags = dict(re.findall(r"--([\w-]+) ([^\s]+)", options))
        users[name] = int(flags["uid"])
        member_of[name] = set(flags.get("groups", "").split(",")) - {""}
    return users, groups, member_of


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def _mounts(service: dict) -> dict[str, str]:
    """volume or host path -> path in the container"""
    return dict(v.split(":")[:2] for v in service.get("volumes", []))


def _option(command: list[str], *names: str) -> str:
    return next(command[i + 1] for i, part in enumerate(command) if part in names)


def test_compose_example_runs_the_image_on_the_postgres_instance_config():
    """deploy/docker-compose.yaml parses; every Dagster process (webservers, daemon, code
    servers) runs the one image the Dockerfile builds, with deploy/dagster.postgres.yaml as
    the instance's dagster.yaml and every DAGSTER_PG_* variable it reads pointing at the
    compose Postgres; the code servers keep the analysis zone on the data volume where the
    image puts CMI_DATA_DIR."""
    compose = _compose()
    services = compose["services"]
    dockerfile = _dockerfile_env()
    home, data_dir = dockerfile["DAGSTER_HOME"], dockerfile["CMI_DATA_DIR"]

    dagster_services = [services[name] for name in DAGSTER_SERVICES]
    assert len({s["image"] for s in dagster_services} | {services["prepare-volumes"]["image"]}) == 1
    instance = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    read = {key: value["env"] for key, value in instance.items() if isinstance(value, dict)}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    for service in [*dagster_services, services["prepare-volumes"]]:
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            DEPLOY.parent / "Dockerfile"
        )
    for service in dagster_services:
        mounts = _mounts(service)
        assert (DEPLOY / "dagster.postgres.yaml").resolve() == (
            DEPLOY / next(source for source, target in mounts.items() if target == f"{home}/dagster.yaml")
        ).resolve()
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        env = service["environment"]
        assert set(read.values()) <= set(env)
        assert env[read["hostname"]] == "postgres"
        assert env[read["port"]] == "5432"
        assert env[read["username"]] == postgres["environment"]["POSTGRES_USER"]
        assert env[read["password"]] == postgres["environment"]["POSTGRES_PASSWORD"]
        assert env[read["db_name"]] == postgres["environment"]["POSTGRES_DB"]
    for name in CODE_SERVERS.values():
        service = services[name]
        assert _mounts(service)["cmi-data"] == data_dir == service["environment"]["CMI_DATA_DIR"]
        assert service["depends_on"]["prepare-volumes"]["condition"] == "service_completed_successfully"
    assert set(compose["volumes"]) == {"pg-data", "cmi-data", *PRIVATE_VOLUMES}


# --- the two roles in the compose example (docs/separation.md) -------------------------------------

CODE_SERVERS = {"cmi_linker": "linker-code", "cmi_analyst": "analyst-code"}
DAGSTER_SERVICES = ("webserver", "analyst-webserver", "daemon", *CODE_SERVERS.values())
# what carries identities: the identified zone, the linkage files, the extracts
PRIVATE_VOLUMES = ("cmi-identified", "cmi-linkage", "cmi-extracts")
LINKER_SERVICES, ANALYST_SERVICES = ("linker-code", "webserver", "daemon"), ("analyst-code", "analyst-webserver")


def test_analyst_containers_never_mount_identities_or_hold_the_secret():
    services = _compose()["services"]
    linker = services["linker-code"]
    private_targets = {target for source, target in _mounts(linker).items() if source in PRIVATE_VOLUMES}
    assert len(private_targets) == len(PRIVATE_VOLUMES)
    for name in ANALYST_SERVICES:
        service = services[name]
        mounts = _mounts(service)
        assert not set(mounts) & set(PRIVATE_VOLUMES), name
        assert not set(mounts.values()) & private_targets, name
        assert {source for source in mounts if not source.startswith(".")} <= {"cmi-data"}, name
        env = service.get("environment", {})
        assert not {k for k in env if k.startswith("CMI_") and k != "CMI_DATA_DIR"}, name
    # every container that mounts a private volume is the linker's, or the root step that
    # sets the volumes' owners
    for name, service in services.items():
        if set(_mounts(service)) & set(PRIVATE_VOLUMES):
            assert (name, service["user"]) in {("linker-code", "linker"), ("prepare-volumes", "root")}, name
    for name in ("webserver", "analyst-webserver", "daemon"):  # they load no project code
        assert all(source.startswith(".") for source in _mounts(services[name])), name
    assert set(_mounts(services["prepare-volumes"])) >= set(PRIVATE_VOLUMES) | {"cmi-data"}
    assert "CMI_PSEUDONYM_KEY" in linker["environment"]  # only the linker keys the spine


def test_linker_paths_point_at_the_linker_only_volumes():
    services = _compose()["services"]
    linker, prepare = services["linker-code"], services["prepare-volumes"]
    env, mounts = linker["environment"], _mounts(linker)
    assert env["CMI_IDENTIFIED_DIR"] == mounts["cmi-identified"] != env["CMI_DATA_DIR"]
    assert f"{env['CMI_DATA_DIR']}/linkage" == mounts["cmi-linkage"]  # models and review files
    for name in ("CMI_LANDING_DIR", "CMI_QUARANTINE_DIR", "CMI_TRUTH_DIR"):
        assert Path(env[name]).parent == Path(mounts["cmi-extracts"]), name
    # the step that sets owners and modes sees the same folders at the same paths
    assert _mounts(prepare) == {k: v for k, v in mounts.items() if not k.startswith(".")}
    assert {k: v for k, v in env.items() if k.startswith("CMI_") and k != "CMI_PSEUDONYM_KEY"} == prepare["environment"]
    assert prepare["command"] == ["/opt/cmi_assets/deploy/prepare-volumes.sh"]


def test_the_roles_run_as_different_non_root_users_of_the_image():
    services = _compose()["services"]
    users, groups, member_of = _dockerfile_users()
    roles = {"linker": LINKER_SERVICES, "analyst": ANALYST_SERVICES}
    for user, names in roles.items():
        for name in names:
            assert services[name]["user"] == user, name
            assert services[name]["group_add"] == ["cmi-analysis"], name
    assert users["linker"] != users["analyst"] and 0 not in users.values()
    assert member_of == {"linker": {"cmi-analysis"}, "analyst": {"cmi-analysis"}}
    assert "cmi-analysis" in groups and groups["cmi-analysis"] not in users.values()
    script = (DEPLOY / "prepare-volumes.sh").read_text()
    assert '"${CMI_LINKER_USER:-linker}"' in script and '"${CMI_ANALYSIS_GROUP:-cmi-analysis}"' in script


def test_only_the_analyst_webserver_is_read_only():
    services = _compose()["services"]
    analyst, linker = services["analyst-webserver"]["command"], services["webserver"]["command"]
    assert analyst[0] == linker[0] == "dagster-webserver"
    assert "--read-only" in analyst and "--read-only" not in linker
    assert _option(analyst, "-p", "--port") != _option(linker, "-p", "--port")
    for service, command in ((services["analyst-webserver"], analyst), (services["webserver"], linker)):
        assert service["ports"] == [f"{_option(command, '-p')}:{_option(command, '-p')}"]


def _grpc_locations(path: Path) -> dict[str, tuple[str, int]]:
    entries = [entry["grpc_server"] for entry in yaml.safe_load(path.read_text())["load_from"]]
    return {e["location_name"]: (e["host"], e["port"]) for e in entries}


def test_the_grpc_workspace_names_the_locations_of_workspace_yaml_served_by_the_code_servers():
    services = _compose()["services"]
    local = {
        entry["python_module"]["location_name"]: entry["python_module"]
        for entry in yaml.safe_load((DEPLOY.parent / "workspace.yaml").read_text())["load_from"]
    }
    grpc = _grpc_locations(DEPLOY / "workspace.grpc.yaml")
    assert set(grpc) == set(local) == set(CODE_SERVERS)
    for location, (host, port) in grpc.items():
        assert host == CODE_SERVERS[location]
        command = services[host]["command"]
        assert command[:3] == ["dagster", "code-server", "start"]
        assert int(_option(command, "-p", "--port")) == port
        assert _option(command, "-h", "--host") == "0.0.0.0"
        assert _option(command, "--location-name") == location
        assert _option(command, "-m", "--module-name") == local[location]["module_name"]
        assert _option(command, "-a", "--attribute") == local[location]["attribute"]
    analyst = _grpc_locations(DEPLOY / "workspace.analyst.grpc.yaml")
    assert analyst == {"cmi_analyst": grpc["cmi_analyst"]}
    workdir = Path(re.search(r"^WORKDIR (\S+)", _dockerfile(), re.M).group(1))
    used = {name: _option(services[name]["command"], "-w", "--workspace") for name in ("webserver", "daemon")}
    used["analyst-webserver"] = _option(services["analyst-webserver"]["command"], "-w", "--workspace")
    assert used == {
        "webserver": "deploy/workspace.grpc.yaml",
        "daemon": "deploy/workspace.grpc.yaml",
        "analyst-webserver": "deploy/workspace.analyst.grpc.yaml",
    }
    assert "COPY deploy ./deploy" in _dockerfile()  # so the paths resolve under the WORKDIR
    assert workdir.is_absolute()


def test_loading_the_code_location_imports_no_executor_or_spark_package():
    import subprocess
    import sys

    code = (
        "import sys; from cmi_assets.definitions import defs; defs(); "
        "print(sorted(m for m in ('dagster_k8s', 'dagster_celery', 'pyspark') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


ROLE_PROBE = """
import json, os, sys
import duckdb
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage

role, private = sys.argv[1], json.loads(sys.argv[2])
# the interpreter may live where only root can read: imports first, then the role's ids
uid, group = (int(v) for v in sys.argv[3:5])
os.setgroups([group])
os.setgid(uid)
os.setuid(uid)
assert (os.getuid(), os.geteuid(), os.getgroups()) == (uid, uid, [group])
storage = Storage.from_env()
seen = {}
if role == "linker":
    with storage.connect(IDENTIFIED) as con:
        con.execute("CREATE OR REPLACE TABLE names AS SELECT 'a name' AS given_name")
    with storage.connect(WAREHOUSE) as con:
        con.execute("CREATE OR REPLACE TABLE from_linker AS SELECT 1 AS n")
        seen["from_analyst"] = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'from_analyst'").fetchone()[0]
    for folder in private["folders"]:
        with open(os.path.join(folder, "extract.csv"), "w") as f:
            f.write("given_name\\na name\\n")
    seen["wrote"] = True
else:
    try:
        duckdb.connect(private["identified_file"], read_only=True).close()
        seen["identified"] = "opened"
    except duckdb.Error as error:
        seen["identified"] = type(error).__name__
    for folder in private["folders"]:
        try:
            os.listdir(folder)
            seen[folder] = "listed"
        except PermissionError:
            seen[folder] = "PermissionError"
    with storage.connect(WAREHOUSE) as con:
        seen["from_linker"] = con.execute("SELECT n FROM from_linker").fetchone()[0]
        con.execute("CREATE OR REPLACE TABLE from_analyst AS SELECT 2 AS n")
print(json.dumps(seen))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="sets owners and switches users: needs root (as in CI)")
def test_the_volume_permissions_keep_identities_from_the_analyst_and_share_the_warehouse():
    """deploy/prepare-volumes.sh run as root over folders laid out as the compose volumes,
    then real processes started through deploy/entrypoint.sh that take the Dockerfile's
    linker and analyst uids (group cmi-analysis) before touching a file: the linker writes the identified zone, an extract and
    the warehouse; the analyst cannot open the identified file nor list the linker's folders,
    and reads and writes the warehouse the linker created; the linker then sees the
    analyst's table."""
    users, groups, _ = _dockerfile_users()
    services = _compose()["services"]
    root = Path(tempfile.mkdtemp(prefix="cmi_volumes_"))
    try:
        os.chmod(root, 0o755)
        linker_env = {k: v for k, v in services["linker-code"]["environment"].items() if k.startswith("CMI_")}
        paths = {k: str(root / v.lstrip("/")) for k, v in linker_env.items() if k != "CMI_PSEUDONYM_KEY"}
        prepare = subprocess.run(
            ["sh", str(DEPLOY / "prepare-volumes.sh")],
            env={
                "PATH": os.environ["PATH"],
                **paths,
                "CMI_LINKER_USER": str(users["linker"]),
                "CMI_ANALYSIS_GROUP": str(groups["cmi-analysis"]),
            },
            capture_output=True,
            text=True,
        )
        assert prepare.returncode == 0, prepare.stderr
        data, identified = Path(paths["CMI_DATA_DIR"]), Path(paths["CMI_IDENTIFIED_DIR"])
        linker_folders = [
            identified,
            data / "linkage",
            *(Path(paths[k]) for k in ("CMI_LANDING_DIR", "CMI_QUARANTINE_DIR", "CMI_TRUTH_DIR")),
        ]
        for folder in linker_folders:
            info = folder.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (users["linker"], 0o700), folder
        info = data.stat()
        assert info.st_gid == groups["cmi-analysis"] and stat.S_IMODE(info.st_mode) == 0o2770
        home = root / "home"
        home.mkdir(mode=0o777)
        os.chmod(home, 0o777)
        private = json.dumps(
            {"identified_file": str(identified / "identified.duckdb"), "folders": [str(f) for f in linker_folders[1:]]}
        )

        def run_as(role: str, env: dict[str, str]) -> dict:
            ids = [str(users[role]), str(groups["cmi-analysis"])]
            command = ["sh", str(DEPLOY / "entrypoint.sh"), sys.executable, "-c", ROLE_PROBE, role, private, *ids]
            done = subprocess.run(
                command,
                cwd=DEPLOY.parent,
                env={"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", **env},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            return json.loads(done.stdout.strip().splitlines()[-1])

        analyst_env = {"CMI_DATA_DIR": paths["CMI_DATA_DIR"]}  # as analyst-code: the data folder only
        assert run_as("linker", paths) == {"from_analyst": 0, "wrote": True}
        seen = run_as("analyst", analyst_env)
        assert seen.pop("identified") == "IOException"
        assert seen.pop("from_linker") == 1
        assert seen == {str(f): "PermissionError" for f in linker_folders[1:]}
        assert run_as("linker", paths)["from_analyst"] == 1
        warehouse = (data / "warehouse.duckdb").stat()
        assert warehouse.st_gid == groups["cmi-analysis"] and stat.S_IMODE(warehouse.st_mode) == 0o660
        assert (identified / "identified.duckdb").stat().st_uid == users["linker"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(600)
def test_the_code_servers_serve_both_locations_to_the_grpc_workspace(tmp_path, monkeypatch):
    """Each code server started with its compose command (on localhost and a free port, the
    compose paths under a temporary folder) serves its location, and the gRPC workspace
    (host and port pointed at them) loads both: the linker's with the spine, the analyst's
    with exactly the analyst location's assets and none of the linker's."""
    import time

    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._grpc.client import DagsterGrpcClient

    from cmi_assets.definitions import analyst_defs
    from cmi_assets.locations import asset_keys

    services = _compose()["services"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    dg.DagsterInstance.get().dispose()  # its storage created once, not by both servers at a time
    ports = {location: _free_port() for location in CODE_SERVERS}
    processes = []
    try:
        for location, name in CODE_SERVERS.items():
            command = list(services[name]["command"])
            command[command.index("-h") + 1] = "127.0.0.1"
            command[command.index("-p") + 1] = str(ports[location])
            paths = {k: v for k, v in services[name]["environment"].items() if k.endswith("_DIR")}
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("CMI_", "DAGSTER_"))},
                **{k: str(tmp_path / v.lstrip("/")) for k, v in paths.items()},  # the compose paths, in tmp
                "DAGSTER_HOME": str(home),
            }
            executable = Path(sys.executable).with_name(command[0])
            processes.append(subprocess.Popen([str(executable), *command[1:]], cwd=DEPLOY.parent, env=env))
        for location, port in ports.items():
            client = DagsterGrpcClient(port=port, host="127.0.0.1")
            deadline = time.monotonic() + 300
            while True:
                try:
                    client.ping("ready")
                    break
                except Exception:
                    assert time.monotonic() < deadline, f"{location}'s code server did not start"
                    assert all(p.poll() is None for p in processes), "a code server exited"
                    time.sleep(1)
        workspace = yaml.safe_load((DEPLOY / "workspace.grpc.yaml").read_text())
        for entry in workspace["load_from"]:
            entry["grpc_server"].update(host="127.0.0.1", port=ports[entry["grpc_server"]["location_name"]])
        local = tmp_path / "workspace.grpc.yaml"
        local.write_text(yaml.safe_dump(workspace))
        with dg.DagsterInstance.get() as instance:
            with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(local)])) as context:
                request = context.create_request_context()
                served = {}
                for location in CODE_SERVERS:
                    assert request.get_code_location_error(location) is None, location
                    (repository,) = request.get_code_location(location).get_repositories().values()
                    served[location] = {
                        node.asset_key for node in repository.get_asset_node_snaps() if node.is_materializable
                    }
        assert served["cmi_analyst"] == asset_keys(analyst_defs())
        assert dg.AssetKey("person_spine") in served["cmi_linker"]
        assert not served["cmi_linker"] & served["cmi_analyst"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
