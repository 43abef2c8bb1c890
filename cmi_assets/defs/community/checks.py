"""Checks of the community indicator table, returned with its materialization: the
published margins hold before suppression, no published row shows a small count, and
every rate lies within its interval."""

from __future__ import annotations

import dagster as dg
import polars as pl

from cmi_assets.community.margins import margin_violations
from cmi_assets.metadata import frame_table
from cmi_assets.publish.disclosure import primary_mask

SHOWN_ROWS = 10
NAME = "community_indicators"


def margins_check(before_suppression: pl.DataFrame) -> dg.AssetCheckResult:
    wrong = margin_violations(before_suppression)
    by_margin = wrong.group_by("margin").len().sort("margin") if not wrong.is_empty() else None
    return dg.AssetCheckResult(
        check_name="margins_hold_before_suppression",
        asset_key=NAME,
        passed=wrong.is_empty(),
        description="sex and decile groups sum to all, counties to the state, postcodes to their county"
        if wrong.is_empty()
        else f"{wrong.height} totals differ from the sum of their parts",
        metadata={
            "totals_wrong": wrong.height,
            **({"by_margin": frame_table(by_margin)} if by_margin is not None else {}),
        },
    )


def small_counts_check(published: pl.DataFrame, threshold: int) -> dg.AssetCheckResult:
    """No shown cell is one the project's primary rule hides (publish.disclosure.primary_mask:
    a count of 1 to threshold-1, or a population of 1 to threshold-1)."""
    shown = published.filter(pl.col("count").is_not_null())
    small = shown.filter(pl.Series(primary_mask(shown["count"].to_numpy(), shown["population"].to_numpy(), threshold)))
    return dg.AssetCheckResult(
        check_name="no_small_counts_published",
        asset_key=NAME,
        passed=small.is_empty(),
        description=f"no shown count of 1 to {threshold - 1} and no shown cell of a population of 1 to {threshold - 1}"
        if small.is_empty()
        else f"{small.height} published rows show a small count",
        metadata={"small_rows": small.height, "threshold": threshold},
    )


def rates_in_interval_check(published: pl.DataFrame) -> dg.AssetCheckResult:
    shown = published.filter(pl.col("rate_per_1000").is_not_null())
    outside = shown.filter(
        (pl.col("rate_per_1000") < pl.col("rate_lower") - 1e-9)
        | (pl.col("rate_per_1000") > pl.col("rate_upper") + 1e-9)
    )
    return dg.AssetCheckResult(
        check_name="rates_within_intervals",
        asset_key=NAME,
        passed=outside.is_empty(),
        description="every shown rate lies within its exact interval"
        if outside.is_empty()
        else f"{outside.height} rates outside their interval",
        metadata={"rows_outside": outside.height, "rows_checked": shown.height},
    )


CHECK_NAMES = ("margins_hold_before_suppression", "no_small_counts_published", "rates_within_intervals")
