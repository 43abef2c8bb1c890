"""Linkage at scale: a ~1 million person-record world on this machine.

Measures, in one process (peak RSS is the process's):
  1. ours: person records + identities, train (blocking rules chosen by measured pair
     counts, prior, u sampling, EM passes, TF tables into the artefact), predict once,
     thresholds and both levels' flags with the clustering guard, constrained clusters at
     both levels, persistent keys (HMAC) and the spine
  2. bare Splink with the same settings on the same input (the identities): what a
     competent Splink user does with these settings and nothing of ours: the same
     blocking rules, comparisons and TF adjustments, the same training steps (prior from
     the same deterministic rules, u by random sampling with the same budget and seed, EM
     over the same passes and record samples), predict at the same floor, then
     cluster_pairwise_predictions_at_threshold at our less-conservative threshold. Run
     alternately with ours, --rounds times each (default 3), starting and ending with bare
     Splink: each of our runs has a bare run just before and after it (the machine is
     shared: the two bracket ours, and its ratio uses their mean); the median ratio is
     the result. Both sides are warmed up first, untimed: Splink on a 5,000-identity
     sample, ours by a first call of its compiled union-find
  3. incremental: the spine built without ~1% of records (the latest care and protection
     notifications), then those records linked incrementally, vs a full relink (the
     issue: "a full relink happens when the model is retrained": train -> keys) and vs a
     relink of every record with the stored model (predict -> keys); the full relink is
     the median of our rounds

usage: .venv/bin/python benchmarks/bench_linkage.py --scale 0.045 --world /tmp/world_bench
       [--memory-limit 8GB] [--temp-dir /tmp/duckdb_tmp] [--threads 2]
Prints a markdown table (paste into BENCHMARKS.md, "Person linkage").
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmi_assets.linkage.clustering import cluster_frame, write_frame  # noqa: E402
from cmi_assets.linkage.engine import duckdb_api, register_input  # noqa: E402
from cmi_assets.linkage.incremental import link_new_records  # noqa: E402
from cmi_assets.linkage.person_records import (  # noqa: E402
    IDENTITIES_TABLE,
    PERSON_RECORDS_TABLE,
    build_identities,
    build_person_records,
    write_person_records,
)
from cmi_assets.linkage.predict import PAIRS_TABLE, predict_pairs  # noqa: E402
from cmi_assets.linkage.spine import THRESHOLDS_TABLE, build_spine, cluster_levels, link_persons  # noqa: E402
from cmi_assets.linkage.thresholds import choose_thresholds, flag_links  # noqa: E402
from cmi_assets.linkage.train import train_model, training_plan  # noqa: E402
from cmi_assets.sources.quick_stage import stage_person_extracts  # noqa: E402
from cmi_assets.storage import configure_connection  # noqa: E402

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


def bare_splink(con: duckdb.DuckDBPyConnection, plan: dict, threshold: float, table: str = IDENTITIES_TABLE) -> int:
    """Splink alone with the same settings (plan: an artefact or a training_plan): train
    the same way, predict, cluster."""
    from splink import Linker

    from cmi_assets.linkage.predict import MIN_MATCH_PROBABILITY
    from cmi_assets.linkage.settings import DETERMINISTIC_RULES, linkage_settings
    from cmi_assets.linkage.train import DETERMINISTIC_RULES_RECALL

    db_api = duckdb_api(con)
    frame = register_input(db_api, con, table)
    linker = Linker(frame, linkage_settings(list(plan["blocking_rules"].values())), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        DETERMINISTIC_RULES, recall=DETERMINISTIC_RULES_RECALL
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=plan["training"]["u_max_pairs"], seed=plan["training"]["seed"]
    )
    for em_pass in plan["training"]["em_passes"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            em_pass["blocking_rule"],
            record_sample_proportion=em_pass["record_sample_proportion"],
            estimate_without_term_frequencies=True,
        )
    predictions = linker.inference.predict(threshold_match_probability=MIN_MATCH_PROBABILITY, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    n = con.execute(f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}").fetchone()[0]
    # every table this linker made (training's too, over a GB), as ours does: neither side
    # runs with the other's leftovers in memory
    linker.table_management.delete_tables_created_by_splink_from_db()
    return n


def warm_up_ours() -> None:
    """Our one-off costs in a process (the compiled union-find's first call), on two nodes."""
    records = pl.DataFrame(
        {
            "unique_id": [1, 2],
            "given_name": ["A", "A"],
            "middle_name": [None, None],
            "family_name": ["B", "B"],
            "dob": [None, None],
            "duplicate_free_records": [0, 0],
        },
        schema_overrides={"middle_name": pl.String, "dob": pl.Date},
    )
    cluster_frame(records, pl.DataFrame({"unique_id_l": [1], "unique_id_r": [2], "match_probability": [0.9]}))


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
    parser.add_argument("--rounds", type=int, default=3, help="ours and bare Splink alternately, this many times each")
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
    bare_runs, ours_runs = [], []
    if not args.skip_bare:
        # warm-up, untimed: Splink's first linker pays one-off costs (imports, SQL templates)
        # that neither timed run should carry (a fixed sample: a random one of this size
        # sometimes made EM underflow an m probability); ours pays its own (the compiled
        # union-find's first call in a process), warmed the same way
        con.execute(
            f"CREATE OR REPLACE TABLE linkage.warmup_identities AS SELECT * FROM {IDENTITIES_TABLE} ORDER BY hash(unique_id) LIMIT 5000"
        )
        bare_splink(
            con,
            training_plan(con, "linkage.warmup_identities", seed=args.seed, u_max_pairs=1e4),
            0.5,
            "linkage.warmup_identities",
        )
        con.execute("DROP TABLE linkage.warmup_identities")
        # the same blocking rules and EM samples as ours (training_plan, untimed); our threshold
        # is not known yet, so this run clusters at 0.5 (ours is within a few hundredths of it)
        plan = training_plan(con, seed=args.seed, u_max_pairs=args.u_max_pairs)
        timer.run("bare Splink before ours (train + predict + cluster)", bare_splink, con, plan, 0.5)
        bare_runs.append(timer.rows[-1][1])
    warm_up_ours()
    for round_ in range(1, args.rounds + 1):
        # each round builds the spine afresh (no previous spine to inherit keys from)
        for table in ("linkage.person_spine", "linkage.person_key_events"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        suffix = f" (round {round_})" if args.rounds > 1 else ""
        artefact = timer.run(f"train{suffix}", train_model, con, seed=args.seed, u_max_pairs=args.u_max_pairs)
        # the steps of spine.link_persons, one by one
        timer.run(f"  predict (Splink, stored TF tables){suffix}", predict_pairs, con, artefact)
        thresholds = timer.run(f"  thresholds (expected F1){suffix}", choose_thresholds, con)
        timer.run(f"  flag both levels + guard{suffix}", flag_links, con, thresholds)
        write_frame(con, pl.DataFrame([thresholds.as_dict()]), THRESHOLDS_TABLE)
        node_clusters = timer.run(f"  cluster both levels (components, guards, twins){suffix}", cluster_levels, con)
        timer.run(f"  keys + spine (HMAC, events){suffix}", build_spine, con, node_clusters, SECRET)
        ours_runs.append(sum(seconds for _, seconds, _ in timer.rows[-6:]))
        if not args.skip_bare:
            threshold = thresholds.less_conservative_min_probability
            timer.run(
                f"bare Splink after ours{suffix} (train + predict + cluster)", bare_splink, con, artefact, threshold
            )
            bare_runs.append(timer.rows[-1][1])
    summary = {
        "thresholds": thresholds.as_dict(),
        "pairs": con.execute(f"SELECT count(*) FROM {PAIRS_TABLE}").fetchone()[0],
    }
    ours_model_to_keys = float(np.median(ours_runs))
    ours = timer.seconds("person records + identities") + ours_model_to_keys
    plan_seconds = time.perf_counter()
    training_plan(con, seed=args.seed, u_max_pairs=args.u_max_pairs)  # of train: the plan, timed again alone
    plan_seconds = time.perf_counter() - plan_seconds
    # each round's ratio against the mean of the bare runs just before and after it
    ratios = [o / ((bare_runs[i] + bare_runs[i + 1]) / 2) for i, o in enumerate(ours_runs)] if bare_runs else []

    # incremental: rebuild the spine without the latest ~1% of records, then add them
    records = con.sql(f"SELECT * EXCLUDE (unique_id, identity_id) FROM {PERSON_RECORDS_TABLE}").pl()
    cp = records.filter(pl.col("source_dataset") == "child_protection__notifications").sort("record_key")
    n_hold = max(1, records.height // 100)
    latest_keys = cp["record_key"].unique(maintain_order=True).tail(max(1, n_hold // 2))
    held = records.filter(
        pl.col("record_key").is_in(latest_keys.implode())
        & (pl.col("source_dataset") == "child_protection__notifications")
    )
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
    print(
        f"\nrecords {counts['records']:,}; identities {counts['identities']:,}; pairs {summary['pairs']:,}; "
        f"of train, the plan (measured pair counts) {plan_seconds:.1f} s"
    )
    print(f"ours (records -> keys): {ours:.1f} s (target < 600 s)")
    if ratios:
        print(
            f"bare Splink same settings: {', '.join(f'{b:.1f}' for b in bare_runs)} s; ours (train -> keys): "
            f"{', '.join(f'{o:.1f}' for o in ours_runs)} s; ratio by round (ours / mean of the bare runs around it): "
            f"{', '.join(f'{r:.2f}' for r in ratios)}, median {float(np.median(ratios)):.2f} (target <= 1.25)"
        )
    # a full relink happens when the model is retrained (issue 3, item 5): train -> keys
    print(
        f"incremental {incremental['new_records']} records: {incremental_seconds:.1f} s = "
        f"{incremental_seconds / ours_model_to_keys:.1%} of a full relink with retraining (target < 10%), "
        f"{incremental_seconds / full:.1%} of a relink of all records with the stored model"
    )


if __name__ == "__main__":
    main()
