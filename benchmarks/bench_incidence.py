"""Multiple-systems estimation of the maltreated children no agency saw, over many seeds of
the `incidence` profile's dependence scenario (police and hospitals refer to CP, children
differ in how visible they are), against the synthetic truth.

    cd /work/main && .venv/bin/python benchmarks/bench_incidence.py [--seeds 20] [--scale 0.05] \\
        [--birth-years 2005-2014] [--profile incidence] [--no-append]

Per seed: the world is simulated in memory and linked perfectly (the truth linkage: every
record's person is its true person, cmi_assets_tests/incidence/truth_world.py), the
incidence library builds each birth cohort's child table (cmi_assets/incidence/sources.py)
and the three lists' inclusion table by age 5, pooled over the birth years, and fits every
candidate log-linear model (cmi_assets/incidence/loglinear.py: the hierarchical models up to
two-way interactions and the Darroch, Poisson2 and Gamma3.5 heterogeneity models). The truth is the number of children
of the same population with a true maltreatment episode before age 5
(truth/maltreatment_episodes). Reported: coverage of the headline's 95% interval (the
AIC-averaged total with the model-averaged tail-area profile interval), of the selected
model's selection-aware interval (the selection rerun on bootstrap tables from the averaged
fit: percentile interval widened to hold the profile interval), of the selected model's own
profile interval and of the independence model's, median absolute relative error of the
averaged, selected and independence estimates, the median interval widths, and the time the
selection bootstrap takes per estimate;
appended to BENCHMARKS.md under "Incidence: multiple-systems estimation" unless --no-append.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmi_assets.incidence.estimate import estimate_from_overlap  # noqa: E402
from cmi_assets.incidence.loglinear import (  # noqa: E402
    BOOTSTRAP_REPLICATES,
    CRITERION_TIE,
    averaged_cell_means,
    percentile_interval,
    selection_bootstrap,
)
from cmi_assets.incidence.overlap import list_flags, overlap_table  # noqa: E402
from cmi_assets.incidence.sources import LISTS, cohort_children  # noqa: E402
from cmi_assets.synthetic.profile import load_profile  # noqa: E402
from cmi_assets.synthetic.world import simulate_world  # noqa: E402
from cmi_assets_tests.incidence.truth_world import maltreated_by_5, study_children, truth_connection  # noqa: E402

SECTION = "## Incidence: multiple-systems estimation"


def parse_years(text: str) -> tuple[int, ...]:
    first, _, last = text.partition("-")
    return tuple(range(int(first), int(last or first) + 1))


def tied_with(estimate) -> list:
    """The testable models with the selected one's AIC (itself among them): the same fit to
    the observed cells, another unseen cell."""
    sel = estimate.selected
    if sel is None:
        return []
    return [f for f in estimate.models if f.identifiable and f.df >= 1 and abs(f.aic - sel.aic) <= CRITERION_TIE]


def one_seed(profile: dict, scale: float, seed: int, years: tuple[int, ...]) -> dict:
    started = time.perf_counter()
    world = simulate_world(profile, scale, seed)
    con = truth_connection(world)
    children = pl.concat([cohort_children(con, year, "conservative") for year in years])
    flags = list_flags(children)
    lists = list(LISTS)
    overlap = overlap_table(flags, lists)
    fitting = time.perf_counter()
    estimate = estimate_from_overlap(overlap, lists)
    estimate_seconds = time.perf_counter() - fitting
    # the bootstrap alone, timed on its own (seeded: the same replicates as inside the estimate)
    booting = time.perf_counter()
    again = selection_bootstrap(averaged_cell_means(estimate.models, len(lists)), lists) if estimate.selected else None
    bootstrap_seconds = time.perf_counter() - booting
    followed = study_children(world, years).filter(pl.col("person_key").is_in(flags["person_key"].implode()))
    truth = maltreated_by_5(world, followed).height
    sel, ind = estimate.selected, estimate.independence
    # the bootstrap percentile interval alone, before it is widened to hold the profile interval
    boot_lower, boot_upper = percentile_interval(estimate.bootstrap.totals) if sel else (float("nan"),) * 2
    # the other criterion the issue names, measured beside AIC rather than chosen by this world
    by_bic = min((f for f in estimate.models if f.identifiable), key=lambda f: f.bic, default=None)
    return {
        "seed": seed,
        "population": flags.height,
        "truth": truth,
        "known": estimate.observed,
        "selected": sel.name if sel else None,
        # models with the selected one's AIC: the same fit to the observed cells, another unseen cell
        "tied": len(tied_with(estimate)) - 1,
        "total": sel.total if sel else float("nan"),
        "lower": estimate.selected_lower,
        "upper": estimate.selected_upper,
        "covers": bool(sel and estimate.selected_lower <= truth <= estimate.selected_upper),
        "percentile_covers": bool(sel and boot_lower <= truth <= boot_upper),
        "reselected": estimate.bootstrap.share_selecting(sel.name) if sel else float("nan"),
        "bootstrap_repeats": bool(again is not None and (again.totals == estimate.bootstrap.totals).all()),
        "profile_lower": sel.lower if sel else float("nan"),
        "profile_upper": sel.upper if sel else float("nan"),
        "profile_covers": bool(sel and sel.lower <= truth <= sel.upper),
        # the profile interval of every model tied with the selected one: which of them the
        # selection names is arbitrary, so the profile coverage is counted for the worst choice too
        "profile_covers_every_tied": all(f.lower <= truth <= f.upper for f in tied_with(estimate)),
        "averaged": estimate.averaged_total,
        "averaged_lower": estimate.averaged_lower,
        "averaged_upper": estimate.averaged_upper,
        "averaged_covers": bool(sel and estimate.averaged_lower <= truth <= estimate.averaged_upper),
        "bic_selected": by_bic.name if by_bic else None,
        "bic_covers": bool(by_bic and by_bic.lower <= truth <= by_bic.upper),
        "independence": ind.total,
        "independence_covers": bool(ind.lower <= truth <= ind.upper),
        "cells": overlap["children"].to_list()[1:],
        "estimate_seconds": estimate_seconds,
        "bootstrap_seconds": bootstrap_seconds,
        "seconds": time.perf_counter() - started,
    }


def summarise(rows: list[dict]) -> dict:
    err = [abs(r["total"] - r["truth"]) / r["truth"] for r in rows]
    avg_err = [abs(r["averaged"] - r["truth"]) / r["truth"] for r in rows]
    ind_err = [abs(r["independence"] - r["truth"]) / r["truth"] for r in rows]
    return {
        "runs": len(rows),
        "coverage": sum(r["covers"] for r in rows) / len(rows),
        "profile_coverage": sum(r["profile_covers"] for r in rows) / len(rows),
        "percentile_coverage": sum(r["percentile_covers"] for r in rows) / len(rows),
        "profile_coverage_worst_tie": sum(r["profile_covers_every_tied"] for r in rows) / len(rows),
        "tied_runs": sum(r["tied"] > 0 for r in rows),
        "median_reselected": statistics.median(r["reselected"] for r in rows),
        "bootstrap_repeats": all(r["bootstrap_repeats"] for r in rows),
        "averaged_coverage": sum(r["averaged_covers"] for r in rows) / len(rows),
        "bic_coverage": sum(r["bic_covers"] for r in rows) / len(rows),
        "independence_coverage": sum(r["independence_covers"] for r in rows) / len(rows),
        "median_abs_error": statistics.median(err),
        "median_abs_error_averaged": statistics.median(avg_err),
        "median_abs_error_independence": statistics.median(ind_err),
        "median_relative_width": statistics.median((r["upper"] - r["lower"]) / r["truth"] for r in rows),
        "median_relative_width_profile": statistics.median(
            (r["profile_upper"] - r["profile_lower"]) / r["truth"] for r in rows
        ),
        "median_relative_width_averaged": statistics.median(
            (r["averaged_upper"] - r["averaged_lower"]) / r["truth"] for r in rows
        ),
        "median_truth": statistics.median(r["truth"] for r in rows),
        "median_known_share": statistics.median(r["known"] / r["truth"] for r in rows),
        "models_selected": dict(pl.Series([r["selected"] for r in rows]).value_counts().iter_rows()),
        "seconds_per_seed": statistics.mean(r["seconds"] for r in rows),
        "seconds_per_estimate": statistics.mean(r["estimate_seconds"] for r in rows),
        "seconds_per_bootstrap": statistics.mean(r["bootstrap_seconds"] for r in rows),
    }


def markdown(args, rows: list[dict], summary: dict) -> str:
    lines = [
        "",
        SECTION,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node() or 'the reference machine'} "
        f"({os.cpu_count()} cores, 24 GiB), with",
        "",
        "```bash",
        f".venv/bin/python benchmarks/bench_incidence.py --seeds {args.seeds} --scale {args.scale} "
        f"--birth-years {args.birth_years} --profile {args.profile}",
        "```",
        "",
        f"Profile `{args.profile}` at scale {args.scale}, birth cohorts {args.birth_years} pooled, truth linkage, "
        f"three lists ({', '.join(LISTS)}), outcome by age 5. {summary['runs']} seeds, "
        f"{summary['seconds_per_seed']:.1f} s a seed; an estimate (26 models, their profiles and the selection "
        f"bootstrap of {BOOTSTRAP_REPLICATES} tables) {summary['seconds_per_estimate']:.2f} s, of which the bootstrap "
        f"{summary['seconds_per_bootstrap']:.2f} s; the seeded bootstrap repeats exactly: "
        f"{'yes' if summary['bootstrap_repeats'] else 'no'}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| headline (model-averaged) 95% interval covers the truth | {summary['averaged_coverage']:.0%} | >= 90% |",
        f"| median absolute error, headline (AIC-averaged) | {summary['median_abs_error_averaged']:.1%} | <= 10% |",
        f"| selected model's selection-aware 95% interval covers the truth | {summary['coverage']:.0%} | >= 90% |",
        "| the same, the bootstrap percentile interval alone (not widened to the profile interval) | "
        f"{summary['percentile_coverage']:.0%} | |",
        f"| selected model's own profile 95% interval covers the truth | {summary['profile_coverage']:.0%} | |",
        "| the same, had each tie been broken to the tied model whose profile interval misses | "
        f"{summary['profile_coverage_worst_tie']:.0%} | |",
        f"| median absolute error, selected model | {summary['median_abs_error']:.1%} | |",
        f"| least-BIC model's own 95% interval covers the truth | {summary['bic_coverage']:.0%} | |",
        f"| independence model's interval covers the truth | {summary['independence_coverage']:.0%} | < 50% |",
        f"| median absolute error, independence model | {summary['median_abs_error_independence']:.1%} | |",
        f"| median interval width / truth, headline | {summary['median_relative_width_averaged']:.1%} | |",
        f"| median interval width / truth, selected (selection-aware) | {summary['median_relative_width']:.1%} | |",
        f"| median interval width / truth, selected (profile) | {summary['median_relative_width_profile']:.1%} | |",
        f"| median share of bootstrap tables reselecting the selected model | {summary['median_reselected']:.0%} | |",
        f"| runs whose selected model ties on AIC with another candidate | {summary['tied_runs']} | |",
        f"| median maltreated children (truth) | {summary['median_truth']:.0f} | |",
        f"| median share of them known to a list | {summary['median_known_share']:.1%} | |",
        "",
        "Models selected (AIC): " + ", ".join(f"{k} {v}" for k, v in summary["models_selected"].items()) + ".",
        "",
        "| seed | truth | known | headline | 95% interval | covers | selected | estimate | selection-aware 95% "
        "| covers | profile 95% | covers | reselected | independence | covers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['truth']} | {r['known']} | {r['averaged']:.0f} | "
            f"{r['averaged_lower']:.0f}-{r['averaged_upper']:.0f} | {yes(r['averaged_covers'])} | {r['selected']} | "
            f"{r['total']:.0f} | {r['lower']:.0f}-{r['upper']:.0f} | {yes(r['covers'])} | "
            f"{r['profile_lower']:.0f}-{r['profile_upper']:.0f} | {yes(r['profile_covers'])} | {r['reselected']:.0%} | "
            f"{r['independence']:.0f} | {yes(r['independence_covers'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--birth-years", default="2005-2014")
    parser.add_argument("--profile", default="incidence")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # separation warnings on sparse models
    years = parse_years(args.birth_years)
    profile = load_profile(args.profile)
    rows = []
    for seed in range(args.seeds):
        row = one_seed(profile, args.scale, seed, years)
        rows.append(row)
        print(
            f"seed {seed}: truth {row['truth']} known {row['known']} headline {row['averaged']:.0f} "
            f"[{row['averaged_lower']:.0f}, {row['averaged_upper']:.0f}] covers {row['averaged_covers']}; "
            f"selected {row['selected']} "
            f"{row['total']:.0f} [{row['lower']:.0f}, {row['upper']:.0f}] covers {row['covers']} "
            f"(profile [{row['profile_lower']:.0f}, {row['profile_upper']:.0f}] {row['profile_covers']}, "
            f"reselected {row['reselected']:.0%}, bootstrap {row['bootstrap_seconds']:.2f} s); "
            f"independence {row['independence']:.0f} covers {row['independence_covers']} ({row['seconds']:.1f} s)",
            flush=True,
        )
    summary = summarise(rows)
    text = markdown(args, rows, summary)
    print(text)
    if not args.no_append:
        with (ROOT / "BENCHMARKS.md").open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
