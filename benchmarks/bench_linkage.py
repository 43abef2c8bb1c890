"""Linkage at scale: a ~1 million person-record world on this machine.

Measures, in one process (peak RSS is the process's):
  1. ours: person records + identities, train, predict, flag both levels, cluster, keys
  2. bare Splink with the same settings and the same trained model on the same input
     (identities): train, predict, cluster_pairwise_predictions_at_threshold
  3. incremental: the spine built without ~1% of records (the latest care and protection
     notifications), then those records linked incrementally, vs the full relink time

usage: .venv/bin/python benchmarks/bench_linkage.py --scale 0.006 --world /tmp/world_bench
       [--memory-limit 8GB] [--temp-dir /tmp/duckdb_tmp] [--threads 2]
Prints a markdown table (paste into benchmarks/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmi_assets.linkage.engine import duckdb_api, register_input  # noqa: E402
from cmi_assets.linkage.incremental import link_new_records  # noqa: E402
from cmi_assets.linkage.person_records import (  # noqa: E402
    IDENTITIES_TABLE,
    PERSON_RECORDS_TABLE,
    build_identities,
    build_person_records,
    write_person_records,
)
from cmi_assets.linkage.spine import link_persons  # noqa: E402
from cmi_assets.linkage.train import train_model  # noqa: E402
from cmi_assets.storage import configure_connection  # noqa: E402
from cmi_assets.sources.quick_stage import stage_person_extracts  # noqa: E402

SECRET = b"benchmark-only-secret"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


load_world_stg = stage_person_extracts  # one loader, in cmi_assets.sources.quick_stage


class Timer:
    def __init__(self):
        self.rows: list[tuple[str, float, float]] = []

    def run(self, name: str, func, *args, **kwargs):
        start = time.perf_counter()
        out = func(*args, **kwargs)
        self.rows.append((name, time.perf_counter() - start, peak_rss_gib()))
        print(f"{name}: {self.rows[-1][1]:.1f} s, peak RSS {self.rows[-1][2]:.2f} GiB", flush=True)
        return out

    def seconds(self, *names: str) -> float:
        return sum(s for n, s, _ in self.rows if n in names)


def bare_splink(con: duckdb.DuckDBPyConnection, artefact: dict, threshold: float) -> int:
    """Splink alone with the same settings: train the same way, predict, cluster."""
    from splink import Linker

    from cmi_assets.linkage.settings import DETERMINISTIC_RULES, TRAINING_BLOCKING_RULES, linkage_settings
    from cmi_assets.linkage.train import DETERMINISTIC_RULES_RECALL

    db_api = duckdb_api(con)
    frame = register_input(db_api, con, IDENTITIES_TABLE)
    linker = Linker(frame, linkage_settings(list(artefact["blocking_rules"].values())), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(DETERMINISTIC_RULES, recall=DETERMINISTIC_RULES_RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=artefact["training"]["u_max_pairs"], seed=1)
    for em_pass in artefact["training"]["em_passes"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            em_pass["blocking_rule"], record_sample_proportion=em_pass["record_sample_proportion"], estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict(threshold_match_probability=0.001, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=threshold)
    return con.execute(f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.006)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", type=Path, default=Path("/tmp/cmi_bench_world"))
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--temp-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--u-max-pairs", type=float, default=2e6)
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()

    if not (args.world / "landing").exists():
        from cmi_assets.synthetic.world import generate_world

        print(generate_world(args.world, profile="default", scale=args.scale, seed=args.seed), flush=True)
    con = duckdb.connect()
    configure_connection(con, args.memory_limit, args.temp_dir, args.threads)
    timer = Timer()
    timer.run("load staged tables (not timed as linkage)", load_world_stg, con, args.world / "landing")
    counts = timer.run("person records + identities", build_person_records, con)
    print(f"records: {counts['records']}, identities: {counts['identities']}", flush=True)
    artefact = timer.run("train", train_model, con, seed=args.seed, u_max_pairs=args.u_max_pairs)
    summary = timer.run("predict + flag + cluster + keys", link_persons, con, artefact, SECRET)
    ours = timer.seconds("person records + identities", "train", "predict + flag + cluster + keys")
    ours_model_to_keys = timer.seconds("train", "predict + flag + cluster + keys")
    bare = None
    if not args.skip_bare:
        threshold = summary["thresholds"]["less_conservative_min_probability"]
        timer.run("bare Splink (train + predict + cluster)", bare_splink, con, artefact, threshold)
        bare = timer.seconds("bare Splink (train + predict + cluster)")

    # incremental: rebuild the spine without the latest ~1% of records, then add them
    records = con.sql(f"SELECT * EXCLUDE (unique_id, identity_id) FROM {PERSON_RECORDS_TABLE}").pl()
    cp = records.filter(pl.col("source_dataset") == "child_protection__notifications").sort("record_key")
    n_hold = max(1, records.height // 100)
    latest_keys = cp["record_key"].unique(maintain_order=True).tail(max(1, n_hold // 2))
    held = records.filter(pl.col("record_key").is_in(latest_keys.implode()) & (pl.col("source_dataset") == "child_protection__notifications"))
    for table in ("linkage.person_spine", "linkage.person_key_events"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    write_person_records(con, records.join(held, on="record_ref", how="anti"))
    build_identities(con)
    timer.run("full link without the latest 1%", link_persons, con, artefact, SECRET)
    incremental = timer.run(f"incremental: {held.height} new records", link_new_records, con, artefact, held, SECRET)
    full = timer.seconds("full link without the latest 1%")
    incremental_seconds = timer.rows[-1][1]

    print("\n| step | seconds | peak RSS (GiB) |\n|---|---:|---:|")
    for name, seconds, rss in timer.rows:
        print(f"| {name} | {seconds:.1f} | {rss:.2f} |")
    print(f"\nrecords {counts['records']:,}; identities {counts['identities']:,}; pairs {summary['pairs']:,}")
    print(f"ours (records -> keys): {ours:.1f} s (target < 600 s)")
    if bare:
        print(f"bare Splink same settings: {bare:.1f} s; ratio ours (train -> keys, {ours_model_to_keys:.1f} s) / bare = "
              f"{ours_model_to_keys / bare:.2f} (target <= 1.25)")
    print(f"incremental {incremental['new_records']} records: {incremental_seconds:.1f} s = {incremental_seconds / full:.1%} of a full relink (target < 10%)")


if __name__ == "__main__":
    main()
