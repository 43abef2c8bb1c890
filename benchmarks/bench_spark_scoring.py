"""Scoring the linkage pairs on DuckDB and on Spark local[N], with one model trained on
DuckDB: the step the spark engine replaces (predict.predict_pairs), timed on each engine
in alternation, and the two engines' scored pairs compared.

Measures, in one process:
  1. person records + identities, and training, on DuckDB (not compared: shared)
  2. the Spark session's start (JVM, the similarity functions), once
  3. --rounds rounds, each: predict_pairs on DuckDB, then on Spark (identities to Parquet,
     Splink's SparkAPI, scored pairs back from Parquet into the same DuckDB table)
  4. the last round's pairs on both: count, pairs on one engine only, largest match-weight
     difference

Peak RSS is this process's only (the JVM is a child process, not counted).

usage: .venv/bin/python benchmarks/bench_spark_scoring.py --scale 0.045 --world /tmp/world_bench
       [--master local[2]] [--driver-memory 6g] [--memory-limit 8GB] [--threads 2] [--rounds 3]
Prints a markdown table (paste into BENCHMARKS.md, "Scoring on Spark").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmi_assets.linkage.engine import LinkageEngine  # noqa: E402
from cmi_assets.linkage.person_records import build_person_records  # noqa: E402
from cmi_assets.linkage.predict import predict_pairs  # noqa: E402
from cmi_assets.linkage.train import train_model  # noqa: E402
from cmi_assets.sources.quick_stage import stage_person_extracts  # noqa: E402
from cmi_assets.storage import configure_connection  # noqa: E402


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.045)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", type=Path, default=Path("/tmp/cmi_bench_world"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--temp-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--u-max-pairs", type=float, default=2e6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    if not (args.world / "landing").exists():
        from cmi_assets.synthetic.world import generate_world

        print(generate_world(args.world, profile="default", scale=args.scale, seed=args.seed), flush=True)
    con = duckdb.connect()
    configure_connection(con, args.memory_limit, args.temp_dir, args.threads)
    rows: list[tuple[str, float, float]] = []

    def timed(name: str, func, *a, **kw):
        start = time.perf_counter()
        out = func(*a, **kw)
        rows.append((name, time.perf_counter() - start, peak_rss_gib()))
        print(f"{name}: {rows[-1][1]:.1f} s", flush=True)
        return out

    stage_person_extracts(con, args.world / "landing")
    counts = timed("person records + identities (DuckDB)", build_person_records, con)
    artefact = timed("train (DuckDB)", train_model, con, seed=args.seed, u_max_pairs=args.u_max_pairs)

    duck = LinkageEngine("duckdb")
    spark = LinkageEngine(
        "spark", args.master, work_dir=args.work_dir, driver_memory=args.driver_memory, shuffle_partitions=None
    )
    from cmi_assets.linkage.spark_engine import spark_session

    timed(f"Spark session start ({args.master}, once per process)", spark_session, spark)
    seconds: dict[str, list[float]] = {"duckdb": [], "spark": []}
    for round_ in range(1, args.rounds + 1):
        for engine, out in ((duck, "linkage.pairs_duckdb"), (spark, "linkage.pairs_spark")):
            label = "DuckDB" if engine is duck else f"Spark {args.master}"
            n = timed(
                f"predict on {label} (round {round_})", predict_pairs, con, artefact, out_table=out, engine=engine
            )
            seconds[engine.name].append(rows[-1][1])
    pairs, only_one, max_difference = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE d.unique_id_l IS NULL OR s.unique_id_l IS NULL),
               max(abs(d.match_weight - s.match_weight))
        FROM linkage.pairs_duckdb d FULL JOIN linkage.pairs_spark s USING (unique_id_l, unique_id_r)""").fetchone()

    print()
    print(f"records {counts['records']:,}, identities {counts['identities']:,}, scored pairs {n['pairs']:,}")
    print(f"pairs on one engine only: {only_one}; largest match-weight difference: {max_difference:.3g}")
    print(
        f"median predict: DuckDB {statistics.median(seconds['duckdb']):.1f} s, "
        f"Spark {statistics.median(seconds['spark']):.1f} s "
        f"({statistics.median(seconds['spark']) / statistics.median(seconds['duckdb']):.1f}x)"
    )
    print()
    print("| step | seconds | peak RSS of this process (GiB) |")
    print("|---|---:|---:|")
    for name, secs, rss in rows:
        print(f"| {name} | {secs:.1f} | {rss:.2f} |")
    assert pairs == n["pairs"] and only_one == 0 and max_difference <= 1e-9


if __name__ == "__main__":
    main()
