"""The one storage resource every asset uses, and the executor that runs their steps: a
deployment switches paths, DuckDB limits, the executor (CMI_EXECUTOR) and the engine that
scores linkage pairs (CMI_LINKAGE_ENGINE, read by cmi_assets/linkage/engine.py) by
configuration, not code."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage


class StorageResource(dg.ConfigurableResource):
    """Paths and DuckDB limits; every field falls back to the CMI_* environment."""

    data_dir: str | None = None
    landing_dir: str | None = None
    memory_limit: str | None = None
    temp_dir: str | None = None

    def storage(self) -> Storage:
        base = Storage.from_env()
        data_dir = Path(self.data_dir).resolve() if self.data_dir else base.data_dir
        landing = Path(self.landing_dir).resolve() if self.landing_dir else base.landing_dir
        if self.data_dir and not self.landing_dir:
            landing = data_dir / "world" / "landing"
        return Storage(
            data_dir=data_dir,
            landing_dir=landing,
            quarantine_dir=landing.parent / "quarantine"
            if (self.data_dir or self.landing_dir)
            else base.quarantine_dir,
            truth_dir=landing.parent / "truth" if (self.data_dir or self.landing_dir) else base.truth_dir,
            memory_limit=self.memory_limit or base.memory_limit,
            temp_dir=Path(self.temp_dir) if self.temp_dir else base.temp_dir,
            threads=base.threads,
            lock_wait_seconds=base.lock_wait_seconds,
        )

    @contextmanager
    def identified(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(IDENTIFIED, read_only=read_only) as con:
            yield con

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(WAREHOUSE, read_only=read_only) as con:
            yield con


# DuckDB allows one writer process per file: every asset that opens a DuckDB zone declares
# this pool, and the instance (deploy/dagster*.yaml) limits it to one slot, whichever
# executor runs the steps and in however many processes or pods.
DUCKDB_WRITE_POOL = "duckdb_write"

EXECUTOR_ENV = "CMI_EXECUTOR"
# name -> (module, attribute, the package a deployment installs for it)
EXECUTORS: dict[str, tuple[str, str, str]] = {
    "in_process": ("dagster", "in_process_executor", "dagster"),
    "multiprocess": ("dagster", "multiprocess_executor", "dagster"),
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s==0.29.27"),
    "celery": ("dagster_celery", "celery_executor", "dagster-celery==0.29.27"),
}


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """CMI_EXECUTOR: in_process (the default: steps share one process, no ~3 s subprocess
    start per step, and the DuckDB writers are serialised by the pool of one anyway),
    multiprocess (a process per step; run config sets max_concurrent), k8s (a Kubernetes
    job per step, dagster-k8s) or celery (Celery workers, dagster-celery). The k8s and
    celery packages are imported only when chosen: loading the code location stays fast."""
    env = os.environ if environ is None else environ
    name = (env.get(EXECUTOR_ENV) or "in_process").strip().lower()
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}: unknown executor {name!r} (one of: {', '.join(EXECUTORS)})")
    module, attribute, package = EXECUTORS[name]
    try:
        return getattr(importlib.import_module(module), attribute)
    except ImportError as missing:
        raise ImportError(f"{EXECUTOR_ENV}={name} needs the {package} package (pip install {package})") from missing


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"storage": StorageResource()}, executor=executor_from_env())
