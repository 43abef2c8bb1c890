"""Scoring on Spark: Splink's SparkAPI (splink[spark], pyspark 4.1) over the person
identities, with the model trained on DuckDB.

The identities go to Spark as Parquet and the scored pairs come back as Parquet into the
caller's DuckDB table, with the columns the DuckDB engine writes (predict.py), so the
thresholds, guards and clustering that follow run unchanged. The model's comparison
levels are rewritten for Spark by settings.model_in_dialect; Jaro-Winkler and
Damerau-Levenshtein are DuckDB's own functions called from Spark as Arrow UDFs (Splink's
similarity jar computes another Jaro-Winkler, whose values differ from DuckDB's on some
names across the levels' thresholds), so a pair gets the same level on both engines.

This module is the one place pyspark is imported (engine.py names it; predict.py imports
it only when the spark engine is configured): the code location never loads it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import SparkSession
from pyspark.sql.functions import arrow_udf
from pyspark.sql.types import DoubleType, LongType
from splink import Linker
from splink.backends.spark import SparkAPI

from cmi_assets.linkage.engine import LinkageEngine, require_java
from cmi_assets.linkage.settings import DUCKDB, SPARK, model_in_dialect


def spark_session(engine: LinkageEngine) -> SparkSession:
    """The process's Spark session (started on first use, then reused: a JVM start costs
    seconds), with the similarity functions registered."""
    require_java()
    if engine.is_local:
        # a local master's Python workers (the Arrow UDFs) run this interpreter, which has
        # duckdb and pyarrow; on a cluster, PYSPARK_PYTHON names the executors' Python
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    partitions = engine.shuffle_partitions
    if partitions is None and engine.is_local:
        # Spark's default of 200 shuffle partitions is for clusters: on a few local cores
        # each tiny task costs more than its work
        partitions = 2 * _local_cores(engine.spark_master)
    builder = (
        SparkSession.builder.master(engine.spark_master)
        .appName("cmi_assets linkage")
        .config("spark.driver.memory", engine.driver_memory)
        .config("spark.ui.showConsoleProgress", "false")
    )
    if partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    if engine.is_local:
        builder = builder.config("spark.ui.enabled", "false")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    register_similarity_functions(session)
    return session


def _local_cores(master: str) -> int:
    """N of local[N] (or local[N,F]); this machine's cores for local and local[*]."""
    cores = re.fullmatch(r"local\[(\d+)(,\d+)?\]", master)
    return int(cores.group(1)) if cores else os.cpu_count() or 1


def register_similarity_functions(session: SparkSession) -> None:
    """SPARK's Jaro-Winkler and Damerau-Levenshtein: each Arrow batch of pairs evaluated
    by DuckDB's function of the same level (settings.DUCKDB)."""
    functions = {
        SPARK.jaro_winkler: (DUCKDB.jaro_winkler, DoubleType()),
        SPARK.damerau_levenshtein: (DUCKDB.damerau_levenshtein, LongType()),
    }
    for spark_name, (duckdb_name, result_type) in functions.items():
        session.udf.register(spark_name, arrow_udf(_duckdb_function(duckdb_name), result_type))


def _duckdb_function(name: str):
    """A function of two Arrow string arrays returning DuckDB's `name` of each pair. Nested,
    so that Spark ships it to its Python workers by value (they need duckdb and pyarrow,
    not this package)."""

    def evaluate(a, b):
        import duckdb
        import pyarrow as pa

        con = duckdb.connect(config={"threads": 1})  # one per batch; Spark runs the batches in parallel
        try:
            batch = pa.table({"a": a, "b": b})
            con.register("batch", batch)
            # a projection of one scan keeps the rows in order
            return con.execute(f"SELECT {name}(a, b) FROM batch").to_arrow_table().column(0).combine_chunks()
        finally:
            con.close()

    return evaluate


def predict_pairs_on_spark(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    table: str,
    min_match_probability: float,
    engine: LinkageEngine,
    write: Callable[[str], int],
) -> int:
    """Score every blocked pair of `table` on Spark and hand `write` a DuckDB view over the
    scored pairs; returns what `write` returns. The work directory (the identities and the
    pairs as Parquet: identified records) is removed afterwards, whatever happens."""
    spark = spark_session(engine)
    work = Path(tempfile.mkdtemp(prefix="cmi_spark_", dir=engine.work_dir or _beside_database(con)))
    view = "cmi_spark_scored_pairs"
    try:
        pairs = _score(spark, con, artefact, table, min_match_probability, work)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_parquet('{pairs}/*.parquet')")
        return write(view)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {view}")
        shutil.rmtree(work, ignore_errors=True)


def _score(
    spark: SparkSession,
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    table: str,
    min_match_probability: float,
    work: Path,
) -> Path:
    """The scored pairs of `table`, written as Parquet into work/pairs."""
    identities = work / "identities.parquet"
    con.execute(f"COPY (SELECT * FROM {table}) TO '{identities}' (FORMAT parquet)")
    spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
    db_api = SparkAPI(spark_session=spark, register_udfs_automatically=False)
    inputs = [db_api.register(spark.read.parquet(str(identities)))]
    model = model_in_dialect(artefact["model"], frozenset(artefact["fields"]), SPARK)
    linker = Linker(inputs[0], model, log_level=logging.WARNING, validate_settings=False)
    for column, rows in artefact["tf_tables"].items():
        inputs.append(db_api.register(spark.createDataFrame(rows, schema=f"{column} string, tf_{column} double")))
        linker.table_management.register_term_frequency_lookup(inputs[-1], column)
    pairs = work / "pairs"
    try:
        predictions = linker.inference.predict(threshold_match_probability=min_match_probability, warning_mode="never")
        scored = spark.table(predictions.physical_name)
        gammas = [c for c in scored.columns if c.startswith("gamma_")]
        columns = ("unique_id_l", "unique_id_r", "match_weight", "match_probability", *gammas)
        scored.select(*columns).write.parquet(str(pairs))
    finally:
        linker.table_management.delete_tables_created_by_splink_from_db()
        for frame in inputs:  # the session outlives this call
            spark.catalog.dropTempView(frame.physical_name)
    return pairs


def _beside_database(con: duckdb.DuckDBPyConnection) -> str | None:
    """The folder of the connection's database file (the exchange holds identified
    records: keep it in the identified zone's storage), None for an in-memory one."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return str(Path(path[0]).parent) if path and path[0] else None
