"""deploy/dagster.postgres.yaml against a real Postgres server: a throwaway cluster,
the instance that file configures, one raw_reference partition materialized through
it, and its materialization and check results read back from Postgres."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PG_USER, PG_PASSWORD, PG_DB = "dagster", "test-only-password", "cmi_dagster"
EXTRACT = "reference_areas_2021.csv"

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("initdb") and shutil.which("pg_ctl")),
        reason="PostgreSQL server binaries (initdb, pg_ctl) are not on PATH",
    ),
]


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
    pytest.skip("running as root and no unprivileged account (postgres, nobody) to run Postgres as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_server(tmp_path):
    """A Postgres cluster on a free 127.0.0.1 port with password authentication and an
    empty database; yields (port, db_name) and stops the server afterwards."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed (pip install -e '.[postgres]')")
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
        shutil.which("initdb"),
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
    run(shutil.which("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
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
        run(shutil.which("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        if os_user is not None:
            shutil.rmtree(root, ignore_errors=True)


def test_postgres_config_names_a_driver_that_is_installed():
    """SQLAlchemy 2.1 maps a bare `postgresql://` URL to psycopg 3, but dagster-postgres
    installs psycopg2: the config has to name its driver (`scheme`) or storage fails to open."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed (pip install -e '.[postgres]')")
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
    for name, value in {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "USER": PG_USER,
        "PASSWORD": PG_PASSWORD,
        "DB": db_name,
    }.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

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
