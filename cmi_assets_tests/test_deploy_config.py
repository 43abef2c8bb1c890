"""The instance configuration we ship: deploy/dagster.yaml loads into a real instance
that serialises DuckDB writers, and the Postgres variant is valid instance config."""

from __future__ import annotations

import shutil
from pathlib import Path

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
