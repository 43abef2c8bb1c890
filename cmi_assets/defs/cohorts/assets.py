"""Birth cohorts as assets, one partition per birth year, both linkage levels in one run
(cohorts/__init__.py is the library; this module only reads, writes and reports):

  event_tables (analysis zone, schema events)
    -> cohort_population   cohorts.population  (NZ study para 39: registered or on benefit by 3 months)
    -> cohort_features     cohorts.features    (Box 1 variables, Figure 4 markers, Table 8 flags, groups)
    -> cohort_outcomes     cohorts.outcomes    (targets A-E by age 1..5; Table 8 profile in metadata)

Every table holds one row per child, birth year and linkage level; a partition run replaces
its birth year's rows. Analysis zone only: person_key pseudonyms, no identified data.
Metadata carries counts, shares and percentages, never a person_key.
"""

import dagster as dg
import polars as pl

from cmi_assets.cohorts import FEATURE_CATEGORIES, OUTCOME_AGES, RISK_MARKERS, first_observations, table8_profile
from cmi_assets.cohorts import cohort_features as build_features
from cmi_assets.cohorts import cohort_outcomes as build_outcomes
from cmi_assets.cohorts.schema import feature_columns, outcome_columns, population_columns
from cmi_assets.defs.cohorts.partitions import BIRTH_YEARS
from cmi_assets.defs.preset import group_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.tables import LEVELS
from cmi_assets.metadata import frame_table, number, table_metadata, transposed
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import replace_partition_rows, table_exists

GROUP = "cohorts"
OWNERS = ["team:prm-analytics"]
cohort_asset = group_asset(GROUP, OWNERS, partitions_def=BIRTH_YEARS)
SCHEMA = "cohorts"
POPULATION_TABLE = f"{SCHEMA}.population"
FEATURES_TABLE = f"{SCHEMA}.features"
OUTCOMES_TABLE = f"{SCHEMA}.outcomes"


def replace_birth_year(con, table: str, frame: pl.DataFrame, birth_year: int) -> int:
    """Replace one birth year's rows of `table` (created from the frame the first time)."""
    return replace_partition_rows(con, table, frame, "birth_year", birth_year)


def read_cohort_table(con, table: str, linkage_level: str, birth_years: list[int] | None = None) -> pl.DataFrame:
    """One linkage level's rows of a cohort table, optionally only some birth years."""
    if not table_exists(con, table):
        return pl.DataFrame()
    query = f"select * from {table} where linkage_level = ?"
    params: list = [linkage_level]
    if birth_years is not None:
        query += f" and birth_year in ({', '.join('?' for _ in birth_years)})"
        params += [int(y) for y in birth_years]
    return con.execute(query + " order by birth_year, person_key", params).pl()


# --- cohort_population ---------------------------------------------------------------------


@cohort_asset(
    deps=["event_tables"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, POPULATION_TABLE, population_columns()),
)
def cohort_population(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The study population of one birth cohort at both linkage levels (NZ study para 39): children whose
    birth was registered or who were included in a caregiver's benefit by 3 months of age, with the source and
    weeks to first observation. Analysis zone, cohorts.population."""
    birth_year = int(context.partition_key)
    frames, rows = [], []
    with storage.warehouse() as con:
        for level in LEVELS:
            seen = first_observations(con, birth_year, level)
            population = seen.filter("in_study_population").drop("in_study_population")
            frames.append(population.with_columns(pl.lit(level).alias("linkage_level")))
            share = population.height / seen.height if seen.height else float("nan")
            rows.append(
                {
                    "linkage_level": level,
                    "children_seen": seen.height,
                    "study_population": population.height,
                    "share_in_study_population": share,
                }
            )
        written = replace_birth_year(con, POPULATION_TABLE, pl.concat(frames, how="diagonal_relaxed"), birth_year)
    context.log.info(
        f"cohort {birth_year}: " + ", ".join(f"{r['linkage_level']} {r['study_population']}" for r in rows)
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "rows_conservative": rows[0]["study_population"],
            "rows_less_conservative": rows[1]["study_population"],
            "study_share_conservative": number(float(rows[0]["share_in_study_population"])),
            "population_by_level": transposed(
                {r["linkage_level"]: {k: v for k, v in r.items() if k != "linkage_level"} for r in rows}
            ),
        }
    )


# --- cohort_features -----------------------------------------------------------------------


@cohort_asset(
    deps=["cohort_population"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, FEATURES_TABLE, feature_columns()),
)
def cohort_features(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The cohort feature table at both linkage levels: every Box 1 variable as categories (NZ study, Box 1),
    the Box 2 Ministry of Health variables (moh_*, for the Table 11 model with health data), the 11 risk
    markers of Figure 4, the Table 8 flags and the group columns used for proportionality (Tables 7-9). One
    row per child of cohort_population. Analysis zone, cohorts.features."""
    birth_year = int(context.partition_key)
    with storage.warehouse() as con:
        # with the Box 2 health variables: the Table 11 model with health data (prm_study_models) needs them
        frames = {level: build_features(con, birth_year, level, include_health=True) for level in LEVELS}
        written = replace_birth_year(
            con, FEATURES_TABLE, pl.concat(frames.values(), how="diagonal_relaxed"), birth_year
        )
    conservative = frames["conservative"]
    markers = pl.DataFrame(
        [
            {
                "marker": name,
                "share_conservative": float(conservative[name].cast(pl.Float64).mean() or 0.0)
                if conservative.height
                else float("nan"),
            }
            for name in RISK_MARKERS
            if name in conservative.columns
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "rows_conservative": frames["conservative"].height,
            "rows_less_conservative": frames["less_conservative"].height,
            "box1_variables": len(FEATURE_CATEGORIES),
            "risk_marker_shares": frame_table(markers) if markers.height else "no children",
        }
    )


# --- cohort_outcomes -----------------------------------------------------------------------


@cohort_asset(
    deps=["cohort_population", "cohort_features"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, OUTCOMES_TABLE, outcome_columns()),
)
def cohort_outcomes(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Care-and-protection outcomes of the cohort by age 1..5 at both linkage levels (NZ study para 41,
    Table 10 targets A-E): flags and event counts, null where an age is not yet observable. Metadata holds
    the Table 8 profile of the conservative level. Analysis zone, cohorts.outcomes."""
    birth_year = int(context.partition_key)
    with storage.warehouse() as con:
        frames = {
            level: build_outcomes(con, birth_year, level).with_columns(pl.lit(level).alias("linkage_level"))
            for level in LEVELS
        }
        written = replace_birth_year(
            con, OUTCOMES_TABLE, pl.concat(frames.values(), how="diagonal_relaxed"), birth_year
        )
        features = read_cohort_table(con, FEATURES_TABLE, "conservative", [birth_year])
    rates = []
    for level, frame in frames.items():
        row: dict = {"linkage_level": level, "children": frame.height}
        for age in OUTCOME_AGES:
            column = frame[f"finding_by_age_{age}"]
            row[f"finding_by_age_{age}"] = (
                None if column.null_count() == frame.height else float(column.cast(pl.Float64).mean())
            )
        rates.append(row)
    metadata = {
        "dagster/row_count": written,
        "rows_conservative": frames["conservative"].height,
        "rows_less_conservative": frames["less_conservative"].height,
        "finding_rate_by_age": transposed(
            {r["linkage_level"]: {k: v for k, v in r.items() if k != "linkage_level"} for r in rates}
        ),
    }
    if features.height and frames["conservative"].height:
        profile = table8_profile(features, frames["conservative"].drop("linkage_level"))
        metadata["table8_conservative"] = frame_table(profile.drop("row"), digits=3)
    else:
        metadata["table8_conservative"] = "no children in this cohort at the conservative level"
    return dg.MaterializeResult(metadata=metadata)


COHORT_ASSETS = [cohort_population, cohort_features, cohort_outcomes]
