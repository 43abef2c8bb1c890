"""The deprivation gradient, as Philadelphia DHS drew it: report and substantiation rates
by deprivation decile (state level) and by county, with their exact intervals, read from
the published (suppressed) community indicator table; the top decile's rate beside the
bottom's as a rate ratio with an exact conditional interval.

    table = gradient_table(indicators)                 # one row per indicator and decile or county
    png = gradient_chart(table, "Children born 2012")
"""

from __future__ import annotations

import math

import polars as pl

from cmi_assets.charts import png_bytes, pyplot

GRADIENT_INDICATORS = ("reports", "substantiations")
DECILE, COUNTY = "deprivation decile", "county"
GRADIENT_COLUMNS = (
    "indicator",
    "linkage_level",
    "period",
    "by",
    "area",
    "count",
    "population",
    "rate_per_1000",
    "rate_lower",
    "rate_upper",
    "suppressed",
)


def _newest(rows: pl.DataFrame, period: str | None) -> pl.DataFrame:
    if period is None and not rows.is_empty():
        period = rows["period"].max()
    return rows if period is None else rows.filter(pl.col("period") == period)


def gradient_table(
    table: pl.DataFrame,
    indicators=GRADIENT_INDICATORS,
    linkage_level: str = "conservative",
    period: str | None = None,
    county_names: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Per indicator, its state rows by deprivation decile (1 = least deprived) and its
    county rows (all children), of one period (the newest when none is named)."""
    base = table.filter(pl.col("indicator").is_in(list(indicators)) & (pl.col("linkage_level") == linkage_level))
    parts = []
    for indicator in indicators:
        rows = _newest(base.filter(pl.col("indicator") == indicator), period)
        deciles = rows.filter(
            (pl.col("geography_level") == "state") & (pl.col("group_type") == "deprivation_decile")
        ).with_columns(pl.lit(DECILE).alias("by"), pl.col("group_value").alias("area"))
        counties = rows.filter((pl.col("geography_level") == "county") & (pl.col("group_type") == "all")).with_columns(
            pl.lit(COUNTY).alias("by"),
            pl.col("geography_code").replace(county_names or {}).alias("area"),
        )
        parts += [
            deciles.sort(pl.col("group_value").cast(pl.Int64, strict=False)),
            counties.sort("rate_per_1000", nulls_last=True),
        ]
    if not parts:
        return pl.DataFrame(schema=dict.fromkeys(GRADIENT_COLUMNS, pl.String))
    return pl.concat(parts, how="vertical_relaxed").select(
        *GRADIENT_COLUMNS[:-1], pl.col("suppressed").fill_null(False)
    )


def exact_rate_ratio(count_a: int, population_a: int, count_b: int, population_b: int, level: float = 0.95):
    """Rate ratio (a / b) with its exact conditional interval: given the total, count_a is
    binomial with p = RR pa / (RR pa + pb); the Clopper-Pearson bounds on p, turned back
    into RR (the exact conditional method; its ends are where statsmodels' exact-cond test
    has tail area alpha / 2)."""
    from scipy.stats import beta

    total = count_a + count_b
    if total == 0 or population_a == 0 or population_b == 0:
        return math.nan, math.nan, math.nan
    alpha = 1 - level
    exposure = population_b / population_a
    ratio = (count_a / population_a) / (count_b / population_b) if count_b else math.inf
    p_low = beta.ppf(alpha / 2, count_a, count_b + 1) if count_a else 0.0
    p_high = beta.ppf(1 - alpha / 2, count_a + 1, count_b) if count_b else 1.0
    low = p_low / (1 - p_low) * exposure
    high = p_high / (1 - p_high) * exposure if p_high < 1 else math.inf
    return ratio, float(low), float(high)


def decile_ratios(gradient: pl.DataFrame) -> pl.DataFrame:
    """Per indicator, the most deprived decile's rate over the least deprived's (10 over
    1), with its exact interval; null where either cell is suppressed."""
    rows = []
    for indicator in gradient["indicator"].unique(maintain_order=True).to_list():
        deciles = gradient.filter((pl.col("indicator") == indicator) & (pl.col("by") == DECILE))
        ends = {r["area"]: r for r in deciles.iter_rows(named=True)}
        low, high = ends.get("1"), ends.get("10")
        usable = low and high and not low["suppressed"] and not high["suppressed"]
        ratio = (
            exact_rate_ratio(high["count"], high["population"], low["count"], low["population"])
            if usable
            else (None, None, None)
        )
        rows.append(
            {
                "indicator": indicator,
                "decile_10_per_1000": high["rate_per_1000"] if high else None,
                "decile_1_per_1000": low["rate_per_1000"] if low else None,
                "rate_ratio": ratio[0],
                "ratio_lower": ratio[1],
                "ratio_upper": ratio[2],
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "indicator": pl.String,
            "decile_10_per_1000": pl.Float64,
            "decile_1_per_1000": pl.Float64,
            "rate_ratio": pl.Float64,
            "ratio_lower": pl.Float64,
            "ratio_upper": pl.Float64,
        },
    )


def gradient_figure(gradient: pl.DataFrame, title: str):
    """Two panels: rate by deprivation decile, and by county (lowest rate first), each
    indicator a series of points with its 95% interval; a suppressed cell is written as
    "suppressed" where its point would be, not drawn."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), dpi=90, sharey=True)
    indicators = gradient["indicator"].unique(maintain_order=True).to_list()
    width = 0.8 / max(1, len(indicators))
    for axes, by in ((left, DECILE), (right, COUNTY)):
        part = gradient.filter(pl.col("by") == by)
        areas = part["area"].unique(maintain_order=True).to_list()
        for index, indicator in enumerate(indicators):
            rows = part.filter(pl.col("indicator") == indicator)
            offset = (index - (len(indicators) - 1) / 2) * width
            shown = rows.filter(~pl.col("suppressed") & pl.col("rate_per_1000").is_not_null())
            xs = [areas.index(a) + offset for a in shown["area"]]
            rates = shown["rate_per_1000"].to_list()
            errors = [
                [r - lo for r, lo in zip(rates, shown["rate_lower"])],
                [hi - r for r, hi in zip(rates, shown["rate_upper"])],
            ]
            axes.errorbar(xs, rates, yerr=errors, fmt="o", markersize=4, capsize=2, label=indicator.replace("_", " "))
            for area in rows.filter(pl.col("suppressed"))["area"]:
                axes.annotate("suppressed", (areas.index(area) + offset, 0), rotation=90, fontsize=6, va="bottom")
        axes.set_xticks(range(len(areas)), areas, rotation=0 if by == DECILE else 45, fontsize=7)
        axes.set_xlabel(f"{by} (1 = least deprived)" if by == DECILE else by, fontsize=8)
        axes.tick_params(labelsize=7)
        axes.set_ylim(bottom=0)
        axes.set_title(f"By {by}", fontsize=9)
    left.set_ylabel("children per 1,000 (95% exact interval)", fontsize=8)
    left.legend(fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def gradient_chart(gradient: pl.DataFrame, title: str) -> bytes:
    return png_bytes(gradient_figure(gradient, title))
