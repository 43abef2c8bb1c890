"""The Splink backends behind one small module: which engine scores the blocked pairs
(configuration, never code), a DuckDB API over a caller's connection, and input tables
registered under names Splink can introspect.

Two engines score pairs with the same trained artefact: `duckdb` (the default, in the
caller's connection) and `spark` (splink[spark] on pyspark, spark_engine.py), which reads
the identities from Parquet and writes its scored pairs back as Parquet into the same
DuckDB table. Training, the thresholds, the guards and the clustering run on DuckDB
whichever engine scores: they work on the scored pairs, far fewer than the comparisons.

Splink finds an input table's columns by its bare name in information_schema, so a
schema-qualified table (linkage.person_records) is exposed through a temporary view
with a bare name.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
from splink import DuckDBAPI

ENGINE_ENV = "CMI_LINKAGE_ENGINE"
SPARK_MASTER_ENV = "CMI_SPARK_MASTER"
SPARK_WORK_DIR_ENV = "CMI_SPARK_WORK_DIR"
SPARK_DRIVER_MEMORY_ENV = "CMI_SPARK_DRIVER_MEMORY"
SPARK_SHUFFLE_PARTITIONS_ENV = "CMI_SPARK_SHUFFLE_PARTITIONS"
ENGINES = ("duckdb", "spark")
JAVA_NEEDED = (
    "the spark linkage engine needs Java 17 or newer: no `java` on PATH and no JAVA_HOME "
    "(on Debian: apt-get install openjdk-17-jre-headless)"
)

_view_numbers = itertools.count(1)


@dataclass(frozen=True)
class LinkageEngine:
    """Which engine scores pairs, and for Spark where: a master URL (local[N] runs Spark
    inside this process's JVM on N cores), a work directory for the Parquet exchange (on
    a cluster, one the driver and every executor see), the driver's memory and the
    shuffle partitions (None: twice the cores of a local master, Spark's default else)."""

    name: str = "duckdb"
    spark_master: str = "local[2]"
    work_dir: Path | None = None
    driver_memory: str = "2g"
    shuffle_partitions: int | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"{ENGINE_ENV}: unknown linkage engine {self.name!r} (one of: {', '.join(ENGINES)})")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LinkageEngine:
        """From CMI_LINKAGE_ENGINE (duckdb | spark), CMI_SPARK_MASTER (default local[N],
        N this machine's cores), CMI_SPARK_WORK_DIR, CMI_SPARK_DRIVER_MEMORY (2g) and
        CMI_SPARK_SHUFFLE_PARTITIONS."""
        env = os.environ if environ is None else environ
        partitions = env.get(SPARK_SHUFFLE_PARTITIONS_ENV)
        work_dir = env.get(SPARK_WORK_DIR_ENV)
        return cls(
            name=(env.get(ENGINE_ENV) or "duckdb").strip().lower(),
            spark_master=env.get(SPARK_MASTER_ENV) or f"local[{os.cpu_count() or 1}]",
            work_dir=Path(work_dir) if work_dir else None,
            driver_memory=env.get(SPARK_DRIVER_MEMORY_ENV) or "2g",
            shuffle_partitions=int(partitions) if partitions else None,
        )

    @property
    def is_local(self) -> bool:
        return self.spark_master.startswith("local")


def java_executable() -> str | None:
    """The java that pyspark starts: JAVA_HOME's, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return str(Path(home, "bin", "java"))
    return shutil.which("java")


def require_java() -> str:
    """The java executable, or a RuntimeError saying which Java is needed and how to get
    it (pyspark's own error on a missing JVM says only that its gateway exited)."""
    java = java_executable()
    if java is None:
        raise RuntimeError(JAVA_NEEDED)
    return java


def duckdb_api(con: duckdb.DuckDBPyConnection) -> DuckDBAPI:
    return DuckDBAPI(con)


def input_view(con: duckdb.DuckDBPyConnection, table: str, name: str | None = None) -> str:
    """A temporary view over `table` with a bare, unique name; returns that name."""
    view = name or f"cmi_linkage_input_{next(_view_numbers)}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {table}")
    return view


def register_input(db_api: DuckDBAPI, con: duckdb.DuckDBPyConnection, table: str, display_name: str | None = None):
    """A SplinkDataFrame over a (possibly schema-qualified) table."""
    view = input_view(con, table)
    return db_api.register(view, dataset_display_name=display_name or view)
