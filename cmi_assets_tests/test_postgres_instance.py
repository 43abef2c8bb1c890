"""deploy/dagster.postgres.yaml against a real Postgres server: a throwaway cluster,
the instance that file configures, one raw_reference partition materialized through
it (in process, and by the CLI with the multiprocess executor), and its materialization,
check results and pool slot read back from Postgres.

The server programs come from PATH or from Debian's /usr/lib/postgresql/<version>/bin.
Where they (or dagster-postgres) are missing the tests skip and say why; under CI
(CI=true) they fail instead, so a CI machine without Postgres cannot pass unnoticed.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PG_USER, PG_PASSWORD, PG_DB = "dagster", "test-only-password", "cmi_dagster"
EXTRACT = "reference_areas_2021.csv"
SERVER_PROGRAMS = ("initdb", "pg_ctl")
DEBIAN_SERVER_ROOT = Path("/usr/lib/postgresql")


def unavailable(reason: str):
    """Skip, except under CI, where a missing prerequisite fails the run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def server_programs(path: str | None = None, debian_root: Path = DEBIAN_SERVER_ROOT) -> dict[str, str] | None:
    """initdb and pg_ctl from PATH (path: a PATH string, None for the environment's), else
    from the newest <debian_root>/<version>/bin holding both (Debian's postgresql package
    links only the client programs onto PATH)."""
    found = {name: shutil.which(name, path=path) for name in SERVER_PROGRAMS}
    if all(found.values()):
        return found

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", folder.parent.name)) or (0,)

    for folder in sorted(debian_root.glob("*/bin"), key=version, reverse=True):
        if all(os.access(folder / name, os.X_OK) for name in SERVER_PROGRAMS):
            return {name: str(folder / name) for name in SERVER_PROGRAMS}
    return None


def _server_os_user() -> str | None:
    """Postgres refuses to run as root; under root the cluster belongs to an unprivileged
    account instead (CMI_TEST_PG_OS_USER, else `postgres`, else `nobody`)."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("CMI_TEST_PG_OS_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    unavailable("running as root and no unprivileged account (postgres, nobody) to run Postgres as")


def _require_dagster_postgres() -> None:
    try:
        import dagster_postgres  # noqa: F401
    except ImportError:
        unavailable("dagster-postgres is not installed (pip install -e '.[postgres]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_server(tmp_path):
    """A Postgres cluster on a free 127.0.0.1 port with password authentication and an
    empty database; yields (port, db_name) and stops the server afterwards."""
    _require_dagster_postgres()
    programs = server_programs()
    if programs is None:
        unavailable(
            f"the PostgreSQL server programs (initdb, pg_ctl) are neither on PATH nor in {DEBIAN_SERVER_ROOT}/*/bin "
            "(Debian: apt-get install postgresql)"
        )
    import psycopg2

    os_user = _server_os_user()
    if os_user is None:
        root = tmp_path / "pg"
        root.mkdir()
    else:
        # pytest's tmp_path under root is private to root (/tmp/pytest-of-root is 0700),
        # so the server account could not reach it: use a folder of its own.
        root = Path(tempfile.mkdtemp(prefix="cmi-pg-"))
        shutil.chown(root, user=os_user)
    data, log = root / "data", root / "server.log"
    pwfile = root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os_user is not None:
        shutil.chown(pwfile, user=os_user)

    def run(*args: str) -> None:
        done = subprocess.run(args, user=os_user, cwd=root, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"

    port = _free_port()
    run(
        programs["initdb"],
        "-D",
        str(data),
        "-U",
        PG_USER,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--no-instructions",
    )
    # TCP on localhost only, no unix socket (its default folder may not exist or be writable).
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
    run(programs["pg_ctl"], "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {PG_DB}")
        connection.close()
        yield port, PG_DB
    finally:
        run(programs["pg_ctl"], "-D", str(data), "-m", "fast", "-w", "stop")
        if os_user is not None:
            shutil.rmtree(root, ignore_errors=True)


def test_postgres_config_names_a_driver_that_is_installed():
    """SQLAlchemy 2.1 maps a bare `postgresql://` URL to psycopg 3, but dagster-postgres
    installs psycopg2: the config has to name its driver (`scheme`) or storage fails to open."""
    _require_dagster_postgres()
    import yaml
    from dagster_postgres.utils import get_conn_string
    from sqlalchemy.engine import make_url

    db = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    url = make_url(get_conn_string(username="u", scheme=db.get("scheme", "postgresql")))
    dialect = url.get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError as missing:
        pytest.fail(
            f"{url.drivername}:// makes SQLAlchemy load the {dialect.driver} driver, which is not installed "
            f"({missing}); add `scheme: postgresql+psycopg2` under storage.postgres.postgres_db"
        )


def _query(port: int, sql: str, *params) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, dbname=PG_DB) as connection:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def test_postgres_instance_stores_a_materialization_and_its_checks(postgres_server, storage_env, tmp_path, monkeypatch):
    import dagster as dg
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from cmi_assets.defs.resources import StorageResource
    from cmi_assets.defs.sources.assets import RAW_ASSETS

    port, db_name = postgres_server
    home = tmp_path / "dagster_home"
    _use_postgres_instance(monkeypatch, home, port, db_name)

    landing = storage_env.landing_dir / "reference"
    landing.mkdir(parents=True)
    (landing / EXTRACT).write_text(
        "postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n06002,003,O02,9\n"
    )
    raw_reference = next(a for a in RAW_ASSETS if a.key == dg.AssetKey("raw_reference"))

    instance = dg.DagsterInstance.get()
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        instance.add_dynamic_partitions("reference_extracts", [EXTRACT])
        result = dg.materialize(
            [raw_reference],
            instance=instance,
            partition_key=EXTRACT,
            resources={"storage": StorageResource()},
            raise_on_error=False,
        )
        assert result.success
        run_id = result.run_id
    finally:
        instance.dispose()

    # A second instance from the same file sees what the first wrote.
    instance = dg.DagsterInstance.get()
    try:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_dynamic_partitions("reference_extracts") == [EXTRACT]
        event = instance.get_latest_materialization_event(raw_reference.key)
        materialization = event.asset_materialization
        assert materialization.partition == EXTRACT
        assert materialization.metadata["dagster/row_count"].value == 2
        assert materialization.metadata["file"].value == EXTRACT
        for check_name in ("schema_valid", "keys_unique"):
            check_key = dg.AssetCheckKey(raw_reference.key, check_name)
            [execution] = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=5)
            assert execution.run_id == run_id
            assert execution.status.value == "SUCCEEDED"
            assert execution.event.dagster_event.asset_check_evaluation_data.passed
    finally:
        instance.dispose()

    # And it is really Postgres that holds them, not a SQLite file next to DAGSTER_HOME.
    assert _query(port, "SELECT status FROM runs WHERE run_id = %s", run_id) == [("SUCCESS",)]
    events = dict(
        _query(
            port,
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY dagster_event_type",
            run_id,
        )
    )
    assert events["ASSET_MATERIALIZATION"] == 1
    assert events["ASSET_CHECK_EVALUATION"] == 2
    assert not list(home.rglob("*.db"))


def _use_postgres_instance(monkeypatch, home: Path, port: int, db_name: str) -> None:
    for name, value in {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "USER": PG_USER,
        "PASSWORD": PG_PASSWORD,
        "DB": db_name,
    }.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))


def test_server_programs_are_found_on_path_or_in_debian_folders(tmp_path):
    def programs(folder: Path, names=SERVER_PROGRAMS) -> Path:
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_text("#!/bin/sh\n")
            (folder / name).chmod(0o755)
        return folder

    debian = tmp_path / "postgresql"
    programs(debian / "13" / "bin")
    newest = programs(debian / "16" / "bin")
    programs(debian / "17" / "bin", names=("initdb",))  # a client-only or half-removed install
    empty = tmp_path / "empty"
    empty.mkdir()
    assert server_programs(path=str(empty), debian_root=debian) == {n: str(newest / n) for n in SERVER_PROGRAMS}
    on_path = programs(tmp_path / "bin")
    assert server_programs(path=str(on_path), debian_root=debian) == {n: str(on_path / n) for n in SERVER_PROGRAMS}
    assert server_programs(path=str(empty), debian_root=tmp_path / "none") is None


def test_a_missing_server_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no server"):
        unavailable("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no server"):
        unavailable("no server")


def test_multiprocess_executor_runs_through_the_postgres_instance(postgres_server, storage_env, tmp_path, monkeypatch):
    """The CLI materializes a partition with CMI_EXECUTOR=multiprocess and the shipped run
    config: the step runs in a process of its own, its run and events are in Postgres, and
    it held the duckdb_write pool, whose limit there is one."""
    import dagster as dg

    port, db_name = postgres_server
    home = tmp_path / "dagster_home"
    _use_postgres_instance(monkeypatch, home, port, db_name)
    landing = storage_env.landing_dir / "reference"
    landing.mkdir(parents=True)
    (landing / EXTRACT).write_text("postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n")
    instance = dg.DagsterInstance.get()
    try:
        instance.add_dynamic_partitions("reference_extracts", [EXTRACT])
    finally:
        instance.dispose()
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "cmi_assets.definitions"]
    command += [
        "--select",
        "raw_reference",
        "--partition",
        EXTRACT,
        "-c",
        str(DEPLOY / "executors" / "multiprocess.yaml"),
    ]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "CMI_EXECUTOR": "multiprocess"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [(run_id, status)] = _query(port, "SELECT run_id, status FROM runs")
    assert status == "SUCCESS"
    events = dict(
        _query(
            port,
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY dagster_event_type",
            run_id,
        )
    )
    assert events["STEP_WORKER_STARTED"] == 1 and events["ASSET_MATERIALIZATION"] == 1
    from dagster._serdes import deserialize_value

    engine_messages = [
        deserialize_value(body).dagster_event.message
        for (body,) in _query(
            port, "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ENGINE_EVENT'", run_id
        )
    ]
    assert any("multiprocess executor" in message for message in engine_messages), engine_messages
    # the step claimed the pool: Postgres holds its limit (the instance's default of one)
    # and its one slot, free again after the run
    assert _query(port, 'SELECT concurrency_key, "limit", using_default_limit FROM concurrency_limits') == [
        ("duckdb_write", 1, True)
    ]
    assert _query(port, "SELECT concurrency_key, run_id FROM concurrency_slots WHERE NOT deleted") == [
        ("duckdb_write", None)
    ]
