"""The one storage resource every asset uses, and the executor that runs their steps: a
deployment switches paths, DuckDB limits, the executor (CMI_EXECUTOR) and the engine that
scores linkage pairs (CMI_LINKAGE_ENGINE, read by cmi_assets/linkage/engine.py) by
configuration, not code. The analyst code location uses AnalystStorageResource, which
refuses to open the identified zone (cmi_assets/locations.py, docs/separation.md)."""

from __future__ import annotations

import getpass
import importlib
import os
import pwd
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb

from cmi_assets.storage import IDENTIFIED, WAREHOUSE, ZONES, Storage

# Dagster OSS has no login: the OS account whose process runs a run's code is who ran it.
LAUNCHED_BY_USER_TAG = "cmi/launched_by_user"


def os_user() -> str:
    """The effective OS account of this process. Not getpass.getuser() alone: that reads
    $USER first, which a process started under another uid (sudo, setpriv) keeps."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return getpass.getuser()


def tag_run_with_os_user(instance: dg.DagsterInstance | None, run: dg.DagsterRun | None) -> None:
    """Add LAUNCHED_BY_USER_TAG to a run that has none: runs launched from the UI, a sensor
    or a schedule get it when their first step sets up this resource."""
    if instance is None or run is None or LAUNCHED_BY_USER_TAG in run.tags:
        return
    instance.add_run_tags(run.run_id, {LAUNCHED_BY_USER_TAG: os_user()})


class StorageResource(dg.ConfigurableResource):
    """Paths and DuckDB limits; every field falls back to the CMI_* environment."""

    # Not a config field, so run config cannot widen it (AnalystStorageResource narrows it).
    OPENS_ZONES: ClassVar[tuple[str, ...]] = ZONES

    data_dir: str | None = None
    landing_dir: str | None = None
    memory_limit: str | None = None
    temp_dir: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        tag_run_with_os_user(context.instance, context.dagster_run)

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
            zones=self.OPENS_ZONES,
        )

    @contextmanager
    def identified(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(IDENTIFIED, read_only=read_only) as con:
            yield con

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(WAREHOUSE, read_only=read_only) as con:
            yield con


class AnalystStorageResource(StorageResource):
    """The analyst code location's storage: the analysis zone only. Opening the identified
    zone raises storage.ZoneRefusedError before the file is touched; the OS permissions of
    a deployment (docs/separation.md) are the barrier, this makes a mistake fail loudly."""

    OPENS_ZONES: ClassVar[tuple[str, ...]] = (WAREHOUSE,)


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
