"""Score candidate pairs with a trained artefact.

The artefact's term-frequency tables are registered before scoring, so a full run and an
incremental run score the same pair identically (no TF drift from the new extract). A full
scoring runs on the configured engine (engine.py: DuckDB, or Spark); a new extract's pairs
(predict_new_pairs) are few and are always scored on DuckDB.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from typing import Any

import duckdb
import polars as pl
from splink import Linker

from cmi_assets.linkage.blocking import rule_pair_count
from cmi_assets.linkage.engine import LinkageEngine, duckdb_api, register_input
from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.tables import PAIRS_TABLE

# Pairs below this are not kept: they add nothing to clustering and almost nothing to the
# expected-F1 sums, but keeping a floor above zero keeps the table small.
MIN_MATCH_PROBABILITY = 0.001
# Blocked pairs scored in one pass. Above this the left side is split into chunks, each scored
# and written before the next, so that DuckDB's temporary storage holds one chunk's
# comparisons rather than every pair's (at a state's volume those outgrow the disk).
PAIRS_PER_CHUNK = 25_000_000

_tf_numbers = itertools.count(1)


def linker_for(con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], tables: list[str]) -> Linker:
    """A Splink linker over the given tables, holding the artefact's model and TF tables."""
    db_api = duckdb_api(con)
    frames = [register_input(db_api, con, t) for t in tables]
    # the model's settings were validated when it was trained (and the artefact is hashed)
    linker = Linker(
        frames[0] if len(frames) == 1 else frames, artefact["model"], log_level=logging.WARNING, validate_settings=False
    )
    register_tf_tables(linker, db_api, con, artefact)
    return linker


def register_tf_tables(linker: Linker, db_api, con: duckdb.DuckDBPyConnection, artefact: dict[str, Any]) -> None:
    for column, rows in artefact["tf_tables"].items():
        frame = pl.DataFrame(rows, schema={column: pl.String, f"tf_{column}": pl.Float64}, orient="row")
        name = f"cmi_tf_{column}_{next(_tf_numbers)}"
        con.register(f"{name}_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
        con.unregister(f"{name}_frame")
        linker.table_management.register_term_frequency_lookup(db_api.register(name), column)


def _write_pairs(con: duckdb.DuckDBPyConnection, physical_name: str, out_table: str, append: bool = False) -> int:
    schema = out_table.split(".")[0] if "." in out_table else None
    if schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    gammas = [r[0] for r in con.execute(f"DESCRIBE {physical_name}").fetchall() if r[0].startswith("gamma_")]
    select = f"""SELECT unique_id_l, unique_id_r, match_weight, match_probability, {", ".join(gammas)}
                 FROM {physical_name}"""
    if append:
        con.execute(f"INSERT INTO {out_table} BY NAME {select}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {out_table} AS {select}")
    return con.execute(f"SELECT count(*) FROM {physical_name}").fetchone()[0]


def predict_pairs(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    table: str = IDENTITIES_TABLE,
    out_table: str = PAIRS_TABLE,
    min_match_probability: float = MIN_MATCH_PROBABILITY,
    engine: LinkageEngine | None = None,
    pairs_per_chunk: int = PAIRS_PER_CHUNK,
) -> dict[str, int]:
    """Score every blocked pair of person identities; write them (ids, weight,
    probability, comparison levels) to out_table. Returns counts. engine: which engine
    scores (engine.py; None: LinkageEngine.from_env()); the pairs land in out_table on
    this connection either way. On DuckDB the pairs are scored in chunks of the left side
    (prediction_chunks)."""
    engine = engine or LinkageEngine.from_env()
    if engine.name == "spark":
        from cmi_assets.linkage.spark_engine import predict_pairs_on_spark  # pyspark: only when configured

        write = functools.partial(_write_pairs, con, out_table=out_table)
        return {"pairs": predict_pairs_on_spark(con, artefact, table, min_match_probability, engine, write)}
    linker = linker_for(con, artefact, [table])
    chunks = prediction_chunks(con, artefact, table, pairs_per_chunk)
    n = 0
    for chunk in range(1, chunks + 1):
        predictions = linker.inference.predict_chunk(
            left_chunk=(chunk, chunks),
            right_chunk=(1, 1),
            threshold_match_probability=min_match_probability,
            warning_mode="never",
        )
        n += _write_pairs(con, predictions.physical_name, out_table, append=chunk > 1)
        predictions.drop_table_from_database_and_remove_from_cache()
    linker.table_management.delete_tables_created_by_splink_from_db()  # the blocked pairs
    return {"pairs": n, "prediction_chunks": chunks}


def prediction_chunks(
    con: duckdb.DuckDBPyConnection, artefact: dict[str, Any], table: str, pairs_per_chunk: int = PAIRS_PER_CHUNK
) -> int:
    """How many chunks scoring takes: the pairs the artefact's equi-join prediction rules
    generate, each rule alone (a rule of another form, such as swapped names, counts none),
    over pairs_per_chunk."""
    rules = artefact.get("blocking_rules") or {}
    pairs = sum(rule_pair_count(con, table, rule) or 0 for rule in rules.values())
    return max(1, math.ceil(pairs / pairs_per_chunk))


def predict_new_pairs(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    existing_table: str,
    new_table: str,
    out_table: str,
    min_match_probability: float = MIN_MATCH_PROBABILITY,
) -> dict[str, int]:
    """Score the pairs a new extract adds: new x existing and new x new, with the stored
    model and TF tables (no retraining). Appends to out_table when it exists."""
    linker = linker_for(con, artefact, [existing_table])
    db_api = linker._db_api  # noqa: SLF001 - the linker's own backend, to register the two roles
    existing = register_input(db_api, con, existing_table)
    new = register_input(db_api, con, new_table)
    between = linker.inference.predict_between(
        existing, new, threshold_match_probability=min_match_probability, warning_mode="never"
    )
    within = linker.inference.predict_within(
        new, threshold_match_probability=min_match_probability, warning_mode="never"
    )
    exists = _table_exists(con, out_table)
    n_between = _write_pairs(con, between.physical_name, out_table, append=exists)
    n_within = _write_pairs(con, within.physical_name, out_table, append=True)
    linker.table_management.delete_tables_created_by_splink_from_db()
    return {"pairs_new_existing": n_between, "pairs_new_new": n_within}


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND (? = '' OR table_schema = ?)",
            [name, schema, schema],
        ).fetchone()[0]
    )
