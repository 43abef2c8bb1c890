"""The published tables of the open data package and how they tie together: the community
indicator table (community.indicators), CFSR recurrence by state and pooled
(cfsr.recurrence_by_state and cfsr.recurrence_national as one table) and incidence rates
(incidence.rates), each with its margins and the cells it shares with another table, so that
disclosure control (publish.disclosure.protect_tables) protects them together.

Margins a reader can check from the published populations are the ones declared: a total
equals its parts where the parts' populations add up to the total's (the groups then
partition the children). Cells published twice:
- community cfsr_recurrence (every linkage level) and the CFSR row of the same state and
  period: the same children;
- community substantiations, maltreatment_hospitalisations and incidence (by age 5) and
  incidence.rates of cp_finding, hospital and any by age 5, for the same cohort, linkage level
  and group: the community cell's children (area known) are among the incidence cell's, so
  equal populations mean the same children (a county; a decile; the whole state when every
  child's area is known);
- incidence by age 1 and in the year of age 1: the same children by definition;
- the pooled CFSR row of DQ-passing states and of all states when every state passes.
Further equations: incidence by age k = by age k - 1 + in the year of age k where the two
populations are equal (the same children followed up); the pooled CFSR rows are the sums of
their states'.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.community.rates import with_reliability, with_smoothed_rates
from cmi_assets.community.schema import INDICATOR_COLUMNS, conform
from cmi_assets.incidence.schema import RATES_COLUMNS
from cmi_assets.incidence.schema import conform as conform_incidence
from cmi_assets.publish.disclosure import (
    COMPLEMENTARY,
    PRIMARY,
    RATE_COLUMNS,
    SUPPRESS_BELOW,
    CellTable,
    Margin,
    apply_reasons,
    canonical_order,
    in_order,
    indicator_cells,
    protect_tables,
)

Column = tuple[str, str, str]

NATIONAL_ALL = "national_all_states"
NATIONAL_PASSING = "national_dq_passing"
CFSR_COLUMNS: list[Column] = [
    ("period_fy", "BIGINT", "cohort FY t: the period reads Child Files t and t+1 (fiscal year)"),
    ("period", "VARCHAR", "data used, e.g. FY19-20 (label)"),
    ("area", "VARCHAR", f"two-letter state code; {NATIONAL_ALL} or {NATIONAL_PASSING} for the states pooled"),
    ("states", "BIGINT", "states in the row (1 for a state)"),
    ("denominator", "BIGINT", "children with a substantiated or indicated report in the 12-month period"),
    ("numerator", "BIGINT", "of them, children with another within 12 months (null when suppressed)"),
    ("observed", "DOUBLE", "numerator / denominator (null when suppressed or DQ)"),
    ("dq_status", "VARCHAR", "pass, or DQ when the state failed an NCANDS data-quality check (null when pooled)"),
    ("suppressed", "BOOLEAN", "numerator and observed hidden by disclosure control"),
    ("suppression_reason", "VARCHAR", "primary | complementary | null"),
]
CFSR_HIDE = ("numerator", "observed")
INCIDENCE_COLUMNS: list[Column] = [*RATES_COLUMNS, ("suppression_reason", "VARCHAR", "primary | complementary | null")]
INCIDENCE_HIDE = ("children", "rate_per_1000", "lower_per_1000", "upper_per_1000")
INCIDENCE_BLOCK = ("linkage_level", "birth_year", "source", "measure", "age")
ADDITIVE_INCIDENCE_GROUPS = ("sex", "deprivation_decile", "county_fips")
# community indicator -> the incidence source counting the same children by age 5
SAME_AS_INCIDENCE = {"substantiations": "cp_finding", "maltreatment_hospitalisations": "hospital", "incidence": "any"}
CFSR_INDICATOR = "cfsr_recurrence"


def cfsr_table(by_state: pl.DataFrame, national: pl.DataFrame) -> pl.DataFrame:
    """cfsr.recurrence_by_state and cfsr.recurrence_national (as the cfsr group writes them,
    small denominators suppressed) as one table of CFSR_COLUMNS: a row per state and period,
    and the two pooled rows per period."""
    reason = pl.when(pl.col("suppressed")).then(pl.lit(PRIMARY)).otherwise(pl.lit(None, pl.String))
    states = by_state.select(
        "period_fy", "period", pl.col("state").alias("area"), pl.lit(1).alias("states"), "denominator", "numerator",
        "observed", "dq_status", "suppressed", reason.alias("suppression_reason"),
    )  # fmt: skip
    pooled = [
        national.select(
            "period_fy",
            "period",
            pl.lit(area).alias("area"),
            pl.col(n).alias("states"),
            pl.col(d).alias("denominator"),
            pl.col(x).alias("numerator"),
            pl.col(o).alias("observed"),
            pl.lit(None, pl.String).alias("dq_status"),
            pl.col(s).alias("suppressed"),
            pl.when(pl.col(s)).then(pl.lit(PRIMARY)).otherwise(pl.lit(None, pl.String)).alias("suppression_reason"),
        )
        for area, n, d, x, o, s in (
            (NATIONAL_ALL, "n_states_all", "denominator_all", "numerator_all", "observed_all_states",
             "suppressed_all_states"),
            (NATIONAL_PASSING, "n_states", "denominator", "numerator", "observed", "suppressed"),
        )
    ]  # fmt: skip
    out = pl.concat([states, *pooled], how="diagonal_relaxed")
    return conform(out, CFSR_COLUMNS).sort("period_fy", "area")


def _already(frame: pl.DataFrame) -> np.ndarray:
    return frame["suppression_reason"].replace_strict({PRIMARY: 1, COMPLEMENTARY: 2}, default=0).to_numpy()


def _margins_where_populations_add(keyed: pl.DataFrame, totals: pl.DataFrame, on: list[str]) -> list[Margin]:
    """Margins total = parts (`keyed`: _cell, population and `on`; `totals`: _total,
    _total_population and `on`) where the parts' populations sum to the total's."""
    parts = (
        keyed.join(totals, on=on, how="inner", nulls_equal=True)
        .group_by(*on, "_total", "_total_population")
        .agg(pl.col("_cell"), pl.col("population").sum().alias("_parts_population"))
    )
    parts = parts.filter(pl.col("_parts_population") == pl.col("_total_population"))
    return [Margin(int(t), tuple(int(c) for c in cs)) for t, cs in zip(parts["_total"], parts["_cell"])]


def cfsr_cells(table: pl.DataFrame) -> CellTable:
    """The CFSR table's margins (the pooled rows are sums of their states') and keys."""
    keyed = table.with_row_index("_cell")
    margins = []
    for area, states in ((NATIONAL_ALL, pl.lit(True)), (NATIONAL_PASSING, pl.col("dq_status") == "pass")):
        totals = keyed.filter(pl.col("area") == area).select(
            "period_fy", pl.col("_cell").alias("_total"), pl.col("denominator").alias("_total_population")
        )
        parts = keyed.filter(~pl.col("area").str.starts_with("national") & states).select(
            "_cell", "period_fy", pl.col("denominator").alias("population")
        )
        margins += _margins_where_populations_add(parts, totals, ["period_fy"])
    all_states = dict(keyed.filter(pl.col("area") == NATIONAL_ALL).select("period_fy", "states").iter_rows())
    keys = [
        ("cfsr", period, NATIONAL_ALL if area == NATIONAL_PASSING and states == all_states.get(fy) else area)
        for fy, period, area, states in table.select("period_fy", "period", "area", "states").iter_rows()
    ]
    return CellTable(
        table["numerator"].to_numpy().astype(float),
        table["denominator"].to_numpy().astype(float),
        margins,
        keys=keys,
        already=_already(table),
    )


def incidence_key(level, year, source, measure, age, group_type, group) -> tuple:
    """By age 1 and in the year of age 1 count the same children: one key."""
    if measure == "by_age" and age == 1:
        measure = "in_year_of_age"
    return ("incidence", level, int(year), source, measure, int(age), group_type, str(group))


def incidence_cells(table: pl.DataFrame) -> CellTable:
    """incidence.rates' margins and keys: within a cohort, linkage level, source, measure and
    age, the sex, decile and county groups sum to all (where their populations do); by age k
    = by age k - 1 + in the year of age k where the populations are equal."""
    keyed = table.with_row_index("_cell")
    block = list(INCIDENCE_BLOCK)
    totals = keyed.filter(pl.col("group_type") == "all").select(
        *block, pl.col("_cell").alias("_total"), pl.col("population").alias("_total_population")
    )
    margins = []
    for group_type in ADDITIVE_INCIDENCE_GROUPS:
        parts = keyed.filter(pl.col("group_type") == group_type).select("_cell", "population", *block)
        margins += _margins_where_populations_add(parts, totals, block)
    series = ["linkage_level", "birth_year", "source", "group_type", "group"]
    by_age = keyed.filter(pl.col("measure") == "by_age").select(*series, "age", "_cell", "population")
    in_year = keyed.filter(pl.col("measure") == "in_year_of_age").select(*series, "age", pl.col("_cell").alias("_year"))
    step = (
        by_age.join(
            by_age.with_columns(pl.col("age") + 1).rename({"_cell": "_before", "population": "_before_population"}),
            on=[*series, "age"],
        )
        .join(in_year, on=[*series, "age"])
        .filter(pl.col("population") == pl.col("_before_population"))
    )
    margins += [Margin(int(t), (int(b), int(y))) for t, b, y in step.select("_cell", "_before", "_year").iter_rows()]
    keys = [incidence_key(*row) for row in table.select(*series[:3], "measure", "age", *series[3:]).iter_rows()]
    return CellTable(
        table["children"].to_numpy().astype(float),
        table["population"].to_numpy().astype(float),
        margins,
        keys=keys,
        already=_already(table),
    )


def community_keys(community: pl.DataFrame, incidence: pl.DataFrame | None) -> list[object]:
    """Per community row, the key of the CFSR or incidence cell it republishes, else None."""
    keyed = community.with_row_index("_row")
    keys: list[object] = [None] * community.height
    cfsr = keyed.filter((pl.col("indicator") == CFSR_INDICATOR) & (pl.col("geography_level") == "state"))
    for row, period, state in cfsr.select("_row", "period", "geography_code").iter_rows():
        keys[row] = ("cfsr", period, state)
    if incidence is None or incidence.is_empty():
        return keys
    mapped = keyed.filter(
        pl.col("indicator").is_in(list(SAME_AS_INCIDENCE)) & pl.col("period").str.contains(r"^\d{4}$")
    )
    mapped = mapped.with_columns(
        pl.col("indicator").replace_strict(SAME_AS_INCIDENCE, return_dtype=pl.String).alias("source"),
        pl.col("period").cast(pl.Int64).alias("birth_year"),
        pl.when(pl.col("geography_level") == "county")
        .then(pl.lit("county_fips"))
        .otherwise(pl.col("group_type"))
        .alias("_group_type"),
        pl.when(pl.col("geography_level") == "county")
        .then(pl.col("geography_code").str.slice(2))
        .otherwise(pl.col("group_value"))
        .alias("_group"),
    ).filter(
        ((pl.col("geography_level") == "county") & (pl.col("group_type") == "all"))
        | (pl.col("geography_level") == "state")
    )
    five = incidence.filter((pl.col("measure") == "by_age") & (pl.col("age") == 5)).select(
        "linkage_level",
        pl.col("birth_year").cast(pl.Int64),
        "source",
        pl.col("group_type").alias("_group_type"),
        pl.col("group").alias("_group"),
        pl.col("population").alias("_incidence_population"),
    )
    same = mapped.join(five, on=["linkage_level", "birth_year", "source", "_group_type", "_group"]).filter(
        pl.col("population") == pl.col("_incidence_population")
    )
    for row, level, year, source, group_type, group in same.select(
        "_row", "linkage_level", "birth_year", "source", "_group_type", "_group"
    ).iter_rows():
        keys[row] = incidence_key(level, year, source, "by_age", 5, group_type, group)
    return keys


def protect_together(
    community: pl.DataFrame | None,
    cfsr: pl.DataFrame | None,
    incidence: pl.DataFrame | None,
    *,
    threshold: int = SUPPRESS_BELOW,
) -> dict[str, pl.DataFrame]:
    """The tables of the package (each as the warehouse holds it, after its group's own
    suppression; None when absent) protected together (protect_tables): `suppressed` and
    `suppression_reason` set and counts and rates nulled where hidden. The community table's
    smoothed rates and reliability are recomputed on what stays shown (rates.py says why)."""
    present = {
        name: frame
        for name, frame in (("community", community), ("cfsr", cfsr), ("incidence", incidence))
        if frame is not None and not frame.is_empty()
    }
    orders = {name: canonical_order(frame) for name, frame in present.items()}
    ordered = {name: frame[orders[name]] for name, frame in present.items()}
    cells = []
    for name, frame in ordered.items():
        if name == "community":
            cells.append(indicator_cells(frame, community_keys(frame, ordered.get("incidence"))))
        elif name == "cfsr":
            cells.append(cfsr_cells(frame))
        else:
            cells.append(incidence_cells(frame))
    reasons = [in_order(orders[name], r) for name, r in zip(present, protect_tables(cells, threshold=threshold))]
    out = {}
    for (name, frame), reason in zip(present.items(), reasons):
        if name == "community":
            hidden = apply_reasons(frame, reason, ("count", *RATE_COLUMNS), reliability="reliability")
            out[name] = conform(with_reliability(with_smoothed_rates(hidden)), INDICATOR_COLUMNS)
        elif name == "cfsr":
            out[name] = conform(apply_reasons(frame, reason, CFSR_HIDE), CFSR_COLUMNS)
        else:
            out[name] = conform_incidence(apply_reasons(frame, reason, INCIDENCE_HIDE), INCIDENCE_COLUMNS)
    return out


def incidence_table(rates: pl.DataFrame) -> pl.DataFrame:
    """incidence.rates as the incidence group writes it (primary suppression: `suppressed`)
    with `suppression_reason`."""
    reason = pl.when(pl.col("suppressed")).then(pl.lit(PRIMARY)).otherwise(pl.lit(None, pl.String))
    return conform_incidence(rates.with_columns(reason.alias("suppression_reason")), INCIDENCE_COLUMNS)
