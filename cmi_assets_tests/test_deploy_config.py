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
    assert {m["mountPath"] for m in k8s["volume_mounts"]} == {compose["daemon"]["environment"]["CMI_DATA_DIR"]}


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


def test_compose_example_runs_the_image_on_the_postgres_instance_config():
    """deploy/docker-compose.yaml parses; webserver and daemon run the one image the
    Dockerfile builds, with deploy/dagster.postgres.yaml as the instance's dagster.yaml,
    every DAGSTER_PG_* variable it reads pointing at the compose Postgres, and the data
    volume where the image keeps the DuckDB zones."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    services = compose["services"]
    dockerfile = {}
    for line in (DEPLOY.parent / "Dockerfile").read_text().splitlines():
        for part in line.replace("ENV ", "").replace("\\", "").split():
            if "=" in part and part.split("=")[0].isupper():
                key, value = part.split("=", 1)
                dockerfile[key] = value
    home, data_dir = dockerfile["DAGSTER_HOME"], dockerfile["CMI_DATA_DIR"]

    dagster_services = [services["webserver"], services["daemon"]]
    assert len({s["image"] for s in dagster_services}) == 1
    for service in dagster_services:
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            DEPLOY.parent / "Dockerfile"
        )
        mounts = dict(v.split(":")[:2] for v in service["volumes"])
        assert (DEPLOY / "dagster.postgres.yaml").resolve() == (
            DEPLOY / next(source for source, target in mounts.items() if target == f"{home}/dagster.yaml")
        ).resolve()
        assert mounts["cmi-data"] == data_dir == service["environment"]["CMI_DATA_DIR"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"

    instance = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    read = {key: value["env"] for key, value in instance.items() if isinstance(value, dict)}
    env = services["daemon"]["environment"]
    assert set(read.values()) <= set(env)
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert env[read["hostname"]] == "postgres"
    assert env[read["port"]] == "5432"
    assert env[read["username"]] == postgres["environment"]["POSTGRES_USER"]
    assert env[read["password"]] == postgres["environment"]["POSTGRES_PASSWORD"]
    assert env[read["db_name"]] == postgres["environment"]["POSTGRES_DB"]
    assert set(compose["volumes"]) == {"pg-data", "cmi-data"}


def test_loading_the_code_location_imports_no_executor_or_spark_package():
    import subprocess
    import sys

    code = (
        "import sys; from cmi_assets.definitions import defs; defs(); "
        "print(sorted(m for m in ('dagster_k8s', 'dagster_celery', 'pyspark') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
