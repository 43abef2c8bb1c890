"""A small long indicator table (the community contract's columns) over Connecticut's
eight real counties, for the map, gradient and atlas tests: counts drawn from a seeded
generator, exact Poisson intervals from scipy's chi-square quantiles, chosen counties and
deciles suppressed."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import chi2

CT_COUNTIES = ("09001", "09003", "09005", "09007", "09009", "09011", "09013", "09015")


def exact_interval(count: int, population: int) -> tuple[float, float]:
    lower = 0.0 if count == 0 else chi2.ppf(0.025, 2 * count) / 2
    upper = chi2.ppf(0.975, 2 * count + 2) / 2
    return 1000 * lower / population, 1000 * upper / population


def indicator_row(
    indicator, level, period, geography_level, code, parent, group_type, group_value, count, population, hide
):
    lower, upper = exact_interval(count, population)
    rate = 1000 * count / population
    return {
        "indicator": indicator,
        "strength_based": False,
        "linkage_level": level,
        "period": period,
        "geography_level": geography_level,
        "geography_code": code,
        "parent_code": parent,
        "group_type": group_type,
        "group_value": group_value,
        "count": None if hide else count,
        "population": population,
        "rate_per_1000": None if hide else rate,
        "rate_lower": None if hide else lower,
        "rate_upper": None if hide else upper,
        "smoothed_rate_per_1000": None if hide else rate,
        "reliability": "suppressed" if hide else "reliable",
        "suppressed": hide,
        "suppression_reason": "primary" if hide else None,
    }


def long_table(
    suppressed_counties=("09005", "09013"),
    suppressed_deciles=("4",),
    indicators=("reports", "substantiations"),
    periods=("2011", "2012"),
    seed: int = 7,
) -> pl.DataFrame:
    """State (09), county and state-by-decile rows for each indicator, level and period;
    the decile rates rise with deprivation (rate about 20 + 6 x decile per 1,000)."""
    rng = np.random.default_rng(seed)
    rows = []
    for indicator in indicators:
        for level in ("conservative", "less_conservative"):
            for period in periods:
                county_counts = []
                for code in CT_COUNTIES:
                    population = int(rng.integers(2_000, 9_000))
                    count = int(rng.poisson(population * 0.04))
                    county_counts.append((count, population))
                    hide = code in suppressed_counties
                    rows.append(
                        indicator_row(
                            indicator, level, period, "county", code, "09", "all", "all", count, population, hide
                        )
                    )
                total = sum(c for c, _ in county_counts), sum(p for _, p in county_counts)
                rows.append(indicator_row(indicator, level, period, "state", "09", None, "all", "all", *total, False))
                for decile in range(1, 11):
                    population = int(rng.integers(2_000, 4_000))
                    count = int(rng.poisson(population * (20 + 6 * decile) / 1000))
                    hide = str(decile) in suppressed_deciles
                    rows.append(
                        indicator_row(
                            indicator,
                            level,
                            period,
                            "state",
                            "09",
                            None,
                            "deprivation_decile",
                            str(decile),
                            count,
                            population,
                            hide,
                        )
                    )
    return pl.DataFrame(rows, schema_overrides={"count": pl.Int64, "population": pl.Int64})


def definitions() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator": "reports",
                "title": "Reported by age 5",
                "unit": "per 1,000 children",
                "definition": "cmi_assets.community.indicators.reports: children with a report by age 5",
            },
            {
                "indicator": "substantiations",
                "title": "Substantiated by age 5",
                "unit": "per 1,000 children",
                "definition": "cmi_assets.community.indicators.substantiations",
            },
        ]
    )
