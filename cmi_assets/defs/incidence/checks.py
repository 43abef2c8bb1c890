"""Checks of the incidence group, returned with their asset's materialization (each
cohort partition checks itself): the inclusion table's cells sum to the union count, and
the estimate is identifiable with a finite interval (else a warning saying why)."""

from __future__ import annotations

import math

import dagster as dg
import polars as pl

WIDE_INTERVAL_FACTOR = 2.0  # an upper end past twice the estimate: the overlaps barely inform it


def overlap_check(overlap: pl.DataFrame, unions: dict[str, int]) -> dg.AssetCheckResult:
    """The observed cells of each level sum to the children recorded by at least one list."""
    sums = {
        level: int(overlap.filter(pl.col("linkage_level") == level)["children"].drop_nulls().sum()) for level in unions
    }
    wrong = [level for level in unions if sums[level] != unions[level]]
    return dg.AssetCheckResult(
        check_name="overlap_cells_sum_to_union",
        passed=not wrong,
        description="cells sum to the union at every level"
        if not wrong
        else f"cells do not sum to the union at {', '.join(wrong)}",
        metadata={**{f"cells_{lv}": v for lv, v in sums.items()}, **{f"union_{lv}": v for lv, v in unions.items()}},
    )


def estimate_problems(headline: dict) -> str:
    """Why a level's estimate cannot be quoted ("" when it can)."""
    if not headline.get("identifiable"):
        return f"no identifiable model: {headline.get('why_not') or 'sparse overlaps'}"
    if not headline.get("interval_finite") or not math.isfinite(headline.get("total_upper", math.nan)):
        return "the model-averaged 95% interval has no finite upper end (too little overlap)"
    if headline["total_upper"] > WIDE_INTERVAL_FACTOR * headline["total"]:
        return "the interval's upper end is more than twice the estimate: too little overlap to pin the unseen children"
    return ""


def estimate_check(headlines: dict[str, dict]) -> dg.AssetCheckResult:
    problems = {level: estimate_problems(h) for level, h in headlines.items()}
    bad = {level: why for level, why in problems.items() if why}
    return dg.AssetCheckResult(
        check_name="estimate_identifiable_and_finite",
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        description="identifiable with a finite 95% interval at every level"
        if not bad
        else "; ".join(f"{level}: {why}" for level, why in bad.items()),
        metadata={f"identifiable_{lv}": bool(h.get("identifiable")) for lv, h in headlines.items()},
    )
