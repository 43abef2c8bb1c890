"""Linkage quality by group at both levels, against the synthetic truth (issue 3, "Done when").

For each seed: a default-profile world (generated once into --world-dir), the staged
extracts, person records, the model, the spine at both levels, and the quality measures
of cmi_assets.linkage.quality. Counts are pooled over the seeds before rates are taken.
Prints, per level: the headline (children's and adults' pairs; NZ Table 4's agreement for
cohort children with and without findings by age two), then a table per group (findings,
sex, age band, ethnicity, agency) for children and adults, and the pairs by source pair.

usage: .venv/bin/python benchmarks/bench_linkage_quality.py --scale 0.015 --seeds 1 2
       [--world-dir /tmp/cmi_linkage_quality] [--memory-limit 6GB] [--threads 2]
Prints markdown (paste into BENCHMARKS.md, "Linkage quality by group").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmi_assets.linkage.person_records import build_person_records  # noqa: E402
from cmi_assets.linkage.quality import linkage_quality  # noqa: E402
from cmi_assets.linkage.spine import CLUSTERS_TABLE, link_persons  # noqa: E402
from cmi_assets.linkage.thresholds import LEVELS  # noqa: E402
from cmi_assets.linkage.train import train_model  # noqa: E402
from cmi_assets.sources.quick_stage import stage_person_extracts  # noqa: E402
from cmi_assets.storage import configure_connection  # noqa: E402

GROUPS = ("all", "findings", "sex", "age_band", "ethnicity", "agency")
COUNTS = (
    "persons",
    "unsplit_persons",
    "agreeing_persons",
    "true_pairs",
    "predicted_pairs",
    "correct_pairs",
    "clusters",
    "pure_clusters",
)
SECRET = b"quality-benchmark-only"


def world(world_dir: Path, scale: float, seed: int) -> Path:
    out = world_dir / f"default_scale{scale}_seed{seed}"
    if not (out / "truth" / "record_persons.parquet").exists():
        from cmi_assets.synthetic.world import generate_world

        generate_world(out, profile="default", scale=scale, seed=seed)
    return out


def measure(world_path: Path, memory_limit: str, threads: int | None) -> dict:
    """The spine of one world at both levels and its quality report."""
    con = duckdb.connect()
    configure_connection(con, memory_limit, None, threads)
    stage_person_extracts(con, world_path / "landing")
    records = build_person_records(con)
    artefact = train_model(con, seed=1, u_max_pairs=1e6)
    summary = link_persons(con, artefact, SECRET)
    clusters = {
        level: con.sql(f"SELECT unique_id, record_ref, cluster_id FROM {CLUSTERS_TABLE} WHERE level = '{level}'").pl()
        for level in LEVELS
    }
    truth = world_path / "truth"
    report = linkage_quality(
        con,
        clusters,
        pl.read_parquet(truth / "record_persons.parquet"),
        "linkage.person_records",
        pl.read_parquet(truth / "persons.parquet"),
        artefact["blocking_rules"],
        children=pl.read_parquet(truth / "children.parquet"),
    )
    con.close()
    return {"records": records["records"], "thresholds": summary["thresholds"], "report": report}


def pooled_rates(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Counts summed over seeds, then precision, recall, F1 and agreement."""
    out = frame.group_by(keys).agg(pl.col(c).sum() for c in COUNTS)

    def ratio(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)

    def f1(p: str, r: str) -> pl.Expr:
        return 2 * pl.col(p) * pl.col(r) / (pl.col(p) + pl.col(r))

    return (
        out.with_columns(
            ratio("correct_pairs", "predicted_pairs").alias("pair_P"),
            ratio("correct_pairs", "true_pairs").alias("pair_R"),
            ratio("pure_clusters", "clusters").alias("cluster_P"),
            ratio("unsplit_persons", "persons").alias("cluster_R"),
            ratio("agreeing_persons", "persons").alias("agreement"),
        )
        .with_columns(f1("pair_P", "pair_R").alias("pair_F1"), f1("cluster_P", "cluster_R").alias("cluster_F1"))
        .sort(keys)
    )


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(frame: pl.DataFrame, columns: list[str]) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in frame.iter_rows(named=True)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.015)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--world-dir", type=Path, default=Path("/tmp/cmi_linkage_quality"))
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    by_group, by_source, headline = [], [], []
    for seed in args.seeds:
        start = time.perf_counter()
        result = measure(world(args.world_dir, args.scale, seed), args.memory_limit, args.threads)
        report = result["report"]
        for level in LEVELS:
            by_group.append(
                report[level]["quality_by_group"].with_columns(pl.lit(level).alias("level"), pl.lit(seed).alias("seed"))
            )
            by_source.append(report[level]["by_source_pair"].with_columns(pl.lit(level).alias("level")))
            pairs = report[level]["pairs"]
            headline.append(
                {
                    "seed": seed,
                    "level": level,
                    **{f"{role}_{m}": pairs[role][m] for role in ("child", "adult") for m in ("precision", "recall")},
                }
            )
        print(
            f"seed {seed}: {result['records']:,} person records, thresholds {result['thresholds']}, "
            f"{time.perf_counter() - start:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    groups = pl.concat(by_group, how="vertical_relaxed")

    print(
        f"Default world, scale {args.scale}, seeds {', '.join(map(str, args.seeds))} (counts pooled over the seeds).\n"
    )
    print("Children's and adults' record pairs, per seed:\n")
    print(
        markdown(
            pl.DataFrame(headline),
            ["seed", "level", "child_precision", "child_recall", "adult_precision", "adult_recall"],
        )
    )
    table4 = pooled_rates(groups.filter(pl.col("group") == "findings"), ["value", "level"]).pivot(
        on="level", index="value", values="agreement"
    )
    print(
        "\nNZ Table 4 (agreement of cohort children's linkage with the truth; NZ: conservative 95.3 / 82.4 / 95.8, "
        "less conservative 99.6 / 99.0 / 99.6):\n"
    )
    print(markdown(table4, ["value", *LEVELS]))
    columns = [
        "person_class",
        "value",
        "persons",
        "pair_P",
        "pair_R",
        "pair_F1",
        "cluster_P",
        "cluster_R",
        "cluster_F1",
        "agreement",
    ]
    for level in LEVELS:
        rates = pooled_rates(groups.filter(pl.col("level") == level), ["group", "person_class", "value"])
        print(f"\n### {level.replace('_', ' ')} level\n")
        for group in GROUPS:
            table = rates.filter(pl.col("group") == group).sort("person_class", "value", descending=[True, False])
            if table.height:
                print(f"**{group}**\n\n{markdown(table, columns)}\n")
        sources = (
            pl.concat([s for s in by_source if s["level"][0] == level])
            .group_by("source_dataset", "source_dataset_r")
            .agg(pl.col("true_pairs", "predicted_pairs", "correct_pairs").sum())
        )
        sources = (
            sources.filter(pl.col("true_pairs") + pl.col("predicted_pairs") > 0)
            .with_columns(
                pl.when(pl.col("predicted_pairs") > 0)
                .then(pl.col("correct_pairs") / pl.col("predicted_pairs"))
                .alias("pair_P"),
                pl.when(pl.col("true_pairs") > 0).then(pl.col("correct_pairs") / pl.col("true_pairs")).alias("pair_R"),
            )
            .with_columns(
                (2 * pl.col("pair_P") * pl.col("pair_R") / (pl.col("pair_P") + pl.col("pair_R"))).alias("pair_F1")
            )
            .sort("source_dataset", "source_dataset_r")
        )
        source_columns = [
            "source_dataset",
            "source_dataset_r",
            "true_pairs",
            "predicted_pairs",
            "pair_P",
            "pair_R",
            "pair_F1",
        ]
        print(
            f"**source pair** (all records; no true pairs: the two sources never hold one person)\n\n{markdown(sources, source_columns)}\n"
        )


if __name__ == "__main__":
    main()
