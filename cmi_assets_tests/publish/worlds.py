"""Long indicator tables (issue 15's contract) aggregated from child-level rows, so every
published margin holds by construction."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

STATE = "09"


def long_table(children: pl.DataFrame, indicator: str = "reports", period: str = "2012") -> pl.DataFrame:
    """children: county, postcode, sex, deprivation_decile, event (0/1) -> the long table
    (state, county, postcode x all, sex, deprivation_decile), rates filled."""
    levels = (
        ("state", pl.lit(STATE), pl.lit(None, pl.String)),
        ("county", pl.col("county"), pl.lit(STATE)),
        ("postcode", pl.col("postcode"), pl.col("county")),
    )
    groups = (
        ("all", pl.lit("all")),
        ("sex", pl.col("sex")),
        ("deprivation_decile", pl.col("deprivation_decile").cast(pl.String)),
    )
    parts = []
    for level, code, parent in levels:
        for group_type, value in groups:
            parts.append(
                children.group_by(code.alias("geography_code"), parent.alias("parent_code"), value.alias("group_value"))
                .agg(pl.col("event").sum().cast(pl.Int64).alias("count"), pl.len().cast(pl.Int64).alias("population"))
                .with_columns(pl.lit(level).alias("geography_level"), pl.lit(group_type).alias("group_type"))
            )
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(indicator).alias("indicator"),
        pl.lit(False).alias("strength_based"),
        pl.lit("conservative").alias("linkage_level"),
        pl.lit(period).alias("period"),
        (1000.0 * pl.col("count") / pl.col("population")).alias("rate_per_1000"),
    )
    out = out.with_columns(
        pl.col("rate_per_1000").alias("rate_lower"),
        pl.col("rate_per_1000").alias("rate_upper"),
        pl.col("rate_per_1000").alias("smoothed_rate_per_1000"),
        pl.lit("reliable").alias("reliability"),
        pl.lit(None, pl.Boolean).alias("suppressed"),
        pl.lit(None, pl.String).alias("suppression_reason"),
    )
    columns = [
        "indicator", "strength_based", "linkage_level", "period", "geography_level", "geography_code",
        "parent_code", "group_type", "group_value", "count", "population", "rate_per_1000", "rate_lower",
        "rate_upper", "smoothed_rate_per_1000", "reliability", "suppressed", "suppression_reason",
    ]  # fmt: skip
    return out.select(columns).sort("geography_level", "geography_code", "group_type", "group_value")


def children_frame(rows: list[tuple[str, str, str, int, int]]) -> pl.DataFrame:
    """(county, postcode, sex, decile, event) tuples as a frame."""
    return pl.DataFrame(
        rows, schema=["county", "postcode", "sex", "deprivation_decile", "event"], orient="row"
    ).with_columns(pl.col("deprivation_decile").cast(pl.Int64), pl.col("event").cast(pl.Int64))


# ---- a world whose tables share cells: community, CFSR and incidence ------------------------

DAY_5Y = 1827  # follow-up of a child seen to age 5 (incidence.sources.child_table's cap)


def linked_children(seed: int = 0, n: int = 900, counties: int = 4, unknown_area: float = 0.04) -> pl.DataFrame:
    """A birth cohort's child table with every column the community indicators and the
    incidence rates read (incidence.sources.child_table and community.indicators.child_table):
    a few children with no area (county and decile null together, as a birth registration's
    postcode gives both), first ages per source in days, a few followed up for less than 5
    years."""
    import numpy as np

    rng = np.random.default_rng(seed)
    county = rng.integers(0, counties, n)
    decile = np.clip(1 + county * 2 + rng.integers(0, 3, n), 1, 10)
    no_area = rng.random(n) < unknown_area
    rate = 0.02 + 0.05 * county / max(counties - 1, 1)

    def first_age(p):
        hit = rng.random(n) < p
        return [int(a) if h else None for a, h in zip(rng.integers(0, DAY_5Y - 1, n), hit)]

    ages = {s: first_age(rate * k) for s, k in (("cp_finding", 1.0), ("cp_notification", 3.0), ("police_fv", 1.5))}
    ages["hospital"] = first_age(rate * 0.6)
    any_age = [min((a for a in vals if a is not None), default=None) for vals in zip(*ages.values())]
    screened = [a if a is not None and rng.random() < 0.7 else None for a in ages["cp_notification"]]
    ethnic = rng.choice(["WHITE", "BLACK", "HISPANIC", "ASIAN", "WHITE;HISPANIC"], n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    return pl.DataFrame(
        {
            "person_key": [f"k{i:05d}" for i in range(n)],
            "birth_year": [2012] * n,
            "sex": rng.choice(["F", "M"], n).tolist(),
            "ethnicity": ethnic.tolist(),
            "deprivation_decile": [None if u else int(d) for d, u in zip(decile, no_area)],
            "county_fips": [None if u else f"{2 * c + 1:03d}" for c, u in zip(county, no_area)],
            "follow_up_days": np.where(rng.random(n) < 0.05, 1400, DAY_5Y).tolist(),
            **{f"first_age_days_{s}": a for s, a in ages.items()},
            "first_age_days_any": any_age,
            "first_age_days_screened_in": screened,
            "mother_or_caregiver_age": rng.choice(["<20", "20-24", "30-34"], n, p=[0.1, 0.3, 0.6]).tolist(),
            "on_benefit_by_3_months": (rng.random(n) < 0.2).tolist(),
            "birth_weight_g": rng.normal(3300, 500, n).astype(int).tolist(),
            "gestation_weeks": rng.integers(33, 42, n).tolist(),
            "parent_corrections_5y": rng.choice(["none", "custodial violent"], n, p=[0.95, 0.05]).tolist(),
            "caregiver_time_on_benefit_5y": rng.choice(["no time", "some"], n, p=[0.7, 0.3]).tolist(),
        },
        schema_overrides={f"first_age_days_{s}": pl.Int64 for s in (*ages, "any", "screened_in")},
    )


def recurrence_by_state(period_fy: int = 2019, small_numerator_state: str = "VT") -> pl.DataFrame:
    """A period of cfsr.recurrence_by_state before suppression: CT large, a DQ state of 8
    children (suppressed by the CFSR rule), and a passing state with 3 recurrences (shown by
    the CFSR rule, a small count for the project's)."""
    from cmi_assets.cfsr.recurrence import period_label

    rows = [("CT", 420, 41, "pass"), ("MA", 300, 27, "pass"), ("NY", 900, 88, "pass"), ("RI", 8, 2, "DQ")]
    rows.append((small_numerator_state, 150, 3, "pass"))
    frame = pl.DataFrame(rows, schema=["state", "denominator", "numerator", "dq_status"], orient="row")
    return frame.select(
        pl.lit(period_fy, pl.Int64).alias("period_fy"),
        "state",
        pl.lit(period_label(period_fy)).alias("period"),
        pl.col("denominator").cast(pl.Int64),
        pl.col("numerator").cast(pl.Int64),
        (pl.col("numerator") / pl.col("denominator")).alias("observed"),
        "dq_status",
    )


def recurrence_national(by_state: pl.DataFrame) -> pl.DataFrame:
    """cfsr.recurrence_national's pooled rows of `by_state` (before suppression)."""
    passing = by_state.filter(pl.col("dq_status") == "pass")
    return pl.DataFrame(
        {
            "period_fy": [by_state["period_fy"][0]],
            "period": [by_state["period"][0]],
            "n_states": [passing.height],
            "denominator": [int(passing["denominator"].sum())],
            "numerator": [int(passing["numerator"].sum())],
            "n_states_all": [by_state.height],
            "denominator_all": [int(by_state["denominator"].sum())],
            "numerator_all": [int(by_state["numerator"].sum())],
        }
    ).with_columns(
        (pl.col("numerator") / pl.col("denominator")).alias("observed"),
        (pl.col("numerator_all") / pl.col("denominator_all")).alias("observed_all_states"),
    )


@dataclass(frozen=True)
class LinkedWorld:
    """The package's tables of one synthetic cohort: `stored`, each as the warehouse holds it
    after its own group's suppression, in the package's form; `truth`, the same before any
    suppression, in the same row order; `warehouse`, the warehouse tables as the groups write
    them (table name -> frame)."""

    stored: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    warehouse: dict[str, pl.DataFrame]


def linked_world(seed: int, threshold: int = 11) -> LinkedWorld:
    """community, cfsr and incidence tables of linked_children(seed) and recurrence_by_state(),
    built by the project's own functions."""
    from cmi_assets.cfsr.suppression import BY_STATE_VALUES, suppress_national, suppress_small_cells
    from cmi_assets.community.table import child_indicator_counts, published_table, recurrence_counts
    from cmi_assets.incidence.rates import incidence_rates, published_rates
    from cmi_assets.incidence.schema import RATES_COLUMNS, conform
    from cmi_assets.publish.tables import cfsr_table, incidence_table

    children = linked_children(seed)
    by_state = recurrence_by_state().with_columns(
        pl.when(pl.col("dq_status") == "pass").then(pl.col("observed")).alias("observed")
    )
    national = recurrence_national(by_state)
    by_state_stored = suppress_small_cells(by_state, BY_STATE_VALUES)
    national_stored = suppress_national(national)
    before = pl.concat(
        [
            child_indicator_counts(children, "CT", "conservative", "2012"),
            recurrence_counts(by_state_stored, ("conservative",)),
        ]
    )
    tag = [pl.lit("conservative").alias("linkage_level"), pl.lit(2012).alias("birth_year")]
    rates = incidence_rates(children)
    stored = {
        "community": published_table(before, threshold),
        "cfsr": cfsr_table(by_state_stored, national_stored),
        "incidence": incidence_table(conform(published_rates(rates).with_columns(tag), RATES_COLUMNS)),
    }
    unsuppressed = [pl.lit(False).alias("suppressed")]
    truth = {
        "community": before,
        "cfsr": cfsr_table(
            by_state.with_columns(unsuppressed),
            national.with_columns(*unsuppressed, pl.lit(False).alias("suppressed_all_states")),
        ),
        "incidence": incidence_table(conform(rates.with_columns(*tag, *unsuppressed), RATES_COLUMNS)),
    }
    warehouse = {
        "community.indicators": stored["community"],
        "cfsr.recurrence_by_state": by_state_stored,
        "cfsr.recurrence_national": national_stored,
        "incidence.rates": conform(published_rates(rates).with_columns(tag), RATES_COLUMNS),
    }
    return LinkedWorld(stored, truth, warehouse)


def write_warehouse(path, tables: dict[str, pl.DataFrame]) -> None:
    """`tables` (schema.table -> frame) into a real DuckDB file."""
    import duckdb

    con = duckdb.connect(str(path))
    for name, frame in tables.items():
        schema = name.split(".")[0]
        con.execute(f"create schema if not exists {schema}")
        con.register("frame", frame.to_arrow())
        con.execute(f"create or replace table {name} as select * from frame")
        con.unregister("frame")
    con.close()
