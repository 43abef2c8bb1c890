"""A linkage report in the GUILD style (Gilbert et al. 2018, "GUILD: GUidance for Information
about Linking Data sets", J Public Health): counts and rates only, for the analysis zone.

1. Link rates at each level, overall and by subgroup, with exact (Clopper-Pearson) intervals,
   for three units (UNITS): every person record linked to a record of another agency; every
   child's record of another source linked to a birth registration (the birth cohort spine);
   every cohort child (a birth registration's child) linked to a record of another agency.
2. Match-weight histograms of the scored pairs, linked and not linked, at each level.
3. Estimated false-link and missed-link rates per weight band from a clerical sample of
   pairs drawn by level, link status and weight band (clerical.stratified_sample): labels are
   the reviewers' decisions (linkage.review_decisions, the latest per pair) and, where the
   synthetic truth exists, the truth playing the reviewer. Precision per level is the
   band-weighted share of sampled links that are true, with a stratified (Korn-Graubard)
   interval (clerical.weighted_agreement).
4. The effect of each level on headline indicators computed from the analysis zone's event
   tables by the incidence library (children with a substantiated finding by age 5 per 1,000,
   children recorded by more than one of the incidence lists by age 5), and the difference.
5. Subgroup link rates more than GAP_POINTS percentage points from the overall rate, flagged.

Published cells go through the project's one disclosure function (publish/disclosure.py).

A pair is linked at a level when the spine kept it: person_links flags it at that level,
the clustering guards did not separate it, and its two identities sit in one cluster. Functions take a DuckDB
connection or frames and return frames or dicts; nothing here imports Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from cmi_assets.linkage.quality import age_band, attach_truth
from cmi_assets.linkage.tables import (
    CLUSTERS_TABLE,
    LEVELS,
    LINKS_TABLE,
    PAIRS_TABLE,
    PERSON_RECORDS_TABLE,
    REVIEW_DECISIONS_TABLE,
)
from cmi_assets.publish.disclosure import SUPPRESS_BELOW, Margin, apply_reasons, protect_cells
from cmi_assets.tables import replace_table, table_exists

REPORT_SCHEMA = "linkage_report"
AREAS_TABLE = "stg.stg_reference_areas"
REGISTRATIONS_TABLE = "stg.stg_births_registrations"
COHORT_SLOT = ("births", "registrations", "child")  # clerical.COHORT_SLOT (clerical imports Splink)
GAP_POINTS = 5.0  # a subgroup's link rate this many percentage points from the overall one is flagged
CONFIDENCE = 0.95
UNKNOWN = "unknown"
ALL = "all"

# unit -> (what is counted, what "linked" means, its subgroups)
UNITS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "records": (
        "person records",
        "its cluster holds a record of another agency",
        ("source", "role", "sex", "age_band", "deprivation_decile"),
    ),
    "child_records": (
        "children's records of every source but birth registrations",
        "its cluster holds a birth registration's child (the birth cohort spine)",
        ("source", "sex", "age_band", "deprivation_decile"),
    ),
    "cohort_children": (
        "cohort children (the child of each birth registration)",
        "its cluster holds a record of another agency",
        ("sex", "ethnicity", "deprivation_decile"),
    ),
}
# Group types that partition a unit (the parts sum to "all"): margins for complementary
# suppression. Ethnicity is total response (a child counts in each group), so it does not.
TOTAL_RESPONSE = ("ethnicity",)
IDENTIFYING_COLUMNS = frozenset(
    {
        "unique_id",
        "unique_id_l",
        "unique_id_r",
        "identity_id",
        "record_ref",
        "record_key",
        "person_id",
        "person_key",
        "cluster_id",
        "given_name",
        "middle_name",
        "family_name",
        "dob",
        "address",
        "postcode",
    }
)

_SUPPRESSION = (
    ("suppressed", "BOOLEAN", "hidden by the disclosure control (publish/disclosure.py)"),
    ("suppression_reason", "VARCHAR", "primary or complementary"),
)
# The published tables' columns (name, type, description), in order: the tables' contract.
REPORT_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "link_rates": (
        ("level", "VARCHAR", "conservative / less_conservative"),
        ("unit", "VARCHAR", "records, child_records or cohort_children (UNITS)"),
        ("group_type", "VARCHAR", "all, source, role, sex, age_band, ethnicity or deprivation_decile"),
        ("group_value", "VARCHAR", "the subgroup (unknown: not recorded)"),
        ("population", "BIGINT", "members of the unit in the subgroup"),
        ("linked", "BIGINT", "of them linked (UNITS says to what)"),
        ("rate", "DOUBLE", "linked / population"),
        ("ci_low", "DOUBLE", "Clopper-Pearson 95% lower limit"),
        ("ci_high", "DOUBLE", "Clopper-Pearson 95% upper limit"),
        *_SUPPRESSION,
    ),
    "subgroup_gaps": (
        ("level", "VARCHAR", "linkage level"),
        ("unit", "VARCHAR", "UNITS"),
        ("group_type", "VARCHAR", "subgroup type"),
        ("group_value", "VARCHAR", "subgroup"),
        ("population", "BIGINT", "members of the unit in the subgroup"),
        ("rate", "DOUBLE", "the subgroup's link rate (null: suppressed)"),
        ("overall_rate", "DOUBLE", "the unit's link rate at the level"),
        ("gap_points", "DOUBLE", "100 x (rate - overall_rate)"),
        ("flagged", "BOOLEAN", "the gap is over GAP_POINTS"),
        ("ci_excludes_overall", "BOOLEAN", "the subgroup's interval leaves out the overall rate"),
    ),
    "weight_histogram": (
        ("level", "VARCHAR", "linkage level"),
        ("status", "VARCHAR", "linked / not_linked at the level"),
        ("row", "VARCHAR", "bin, or all (the status total)"),
        ("bin_low", "DOUBLE", "match weight from (null: the lowest bin, or the total)"),
        ("bin_high", "DOUBLE", "match weight up to, excluded (null: the highest bin, or the total)"),
        ("pairs", "BIGINT", "scored pairs"),
        *_SUPPRESSION,
    ),
    "linkage_error": (
        ("level", "VARCHAR", "linkage level"),
        ("status", "VARCHAR", "linked / not_linked at the level"),
        ("band", "VARCHAR", "match-weight band (ERROR_BANDS), or all"),
        ("pairs", "BIGINT", "scored pairs in the band"),
        ("sampled", "BIGINT", "of them in the clerical sample"),
        ("labelled", "BIGINT", "of those with a label (a decision of match or non_match, or the truth)"),
        ("error", "VARCHAR", "false_link (linked) or missed_link (not linked)"),
        ("error_rate", "DOUBLE", "estimated share of the band's pairs in error (stratified)"),
        ("ci_low", "DOUBLE", "Korn-Graubard 95% lower limit"),
        ("ci_high", "DOUBLE", "Korn-Graubard 95% upper limit"),
        ("estimated_errors", "DOUBLE", "error_rate x pairs"),
        *_SUPPRESSION,
    ),
    "precision": (
        ("level", "VARCHAR", "linkage level"),
        ("precision", "DOUBLE", "band-weighted share of sampled links that are true"),
        ("ci_low", "DOUBLE", "Korn-Graubard 95% lower limit"),
        ("ci_high", "DOUBLE", "Korn-Graubard 95% upper limit"),
        ("sampled_links", "BIGINT", "labelled links in the sample"),
        ("effective_n", "DOUBLE", "the interval's effective sample size"),
        ("links", "BIGINT", "links at the level"),
        ("estimated_recall_scored", "DOUBLE", "estimated true links over true matches among scored pairs"),
        ("truth_precision", "DOUBLE", "the synthetic truth over every link (null without truth)"),
    ),
    "indicators": (
        ("level", "VARCHAR", "linkage level, or difference (less conservative minus conservative)"),
        ("indicator", "VARCHAR", "substantiated_finding_by_5 or more_than_one_list_by_5"),
        ("count", "BIGINT", "children counted"),
        ("population", "BIGINT", "children of the cohorts followed up to age 5"),
        ("per_1000", "DOUBLE", "count per 1,000 of the population"),
        *_SUPPRESSION,
    ),
}

# Weight bands of the error table: links sit high, pairs not linked mostly below 0.
ERROR_BANDS = (
    (None, 0.0, "<0"),
    (0.0, 5.0, "0-5"),
    (5.0, 10.0, "5-10"),
    (10.0, 15.0, "10-15"),
    (15.0, 20.0, "15-20"),
    (20.0, None, ">=20"),
)
HISTOGRAM_RANGE = (-20.0, 40.0)  # weights outside go to the end bins
HISTOGRAM_BIN_WIDTH = 2.0
LINKED, NOT_LINKED = "linked", "not_linked"


# --- 1. link rates --------------------------------------------------------------------------


def clopper_pearson(linked, population, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval of linked / population (Clopper and Pearson 1934): beta
    quantiles, 0 when nothing is linked and 1 when everything is; NaN for an empty group."""
    from scipy import stats

    k = np.asarray(linked, dtype=float)
    n = np.asarray(population, dtype=float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def _record_sql(con: duckdb.DuckDBPyConnection, records: str, clusters: str) -> str:
    agency, record_type, slot = COHORT_SLOT
    areas = (
        f"LEFT JOIN (SELECT postcode, any_value(deprivation_decile) AS deprivation_decile FROM {AREAS_TABLE} "
        "GROUP BY postcode) a ON a.postcode = r.postcode"
        if table_exists(con, AREAS_TABLE)
        else "LEFT JOIN (SELECT NULL AS postcode, CAST(NULL AS BIGINT) AS deprivation_decile) a ON FALSE"
    )
    has_ethnicity = table_exists(con, REGISTRATIONS_TABLE) and {"record_key", "ethnicity"} <= {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'stg' AND table_name = ?",
            [REGISTRATIONS_TABLE.split(".")[1]],
        ).fetchall()
    }
    # One equality for the join (the registration's key, null on every other record): with
    # the record-type tests beside it in ON, DuckDB plans a nested-loop join, quadratic in records.
    ethnicity = (
        f"LEFT JOIN (SELECT CAST(record_key AS VARCHAR) AS record_key, any_value(ethnicity) AS ethnicity "
        f"FROM {REGISTRATIONS_TABLE} GROUP BY ALL) e ON e.record_key = CASE WHEN r.agency = '{agency}' "
        f"AND r.record_type = '{record_type}' AND r.slot = '{slot}' THEN r.record_key END"
        if has_ethnicity
        else "LEFT JOIN (SELECT NULL AS record_key, CAST(NULL AS VARCHAR) AS ethnicity) e ON FALSE"
    )
    is_registration = f"(r.agency = '{agency}' AND r.record_type = '{record_type}' AND r.slot = '{slot}')"
    return f"""
        WITH r AS (SELECT * FROM {records}),
             m AS (SELECT c.level, c.cluster_id, r.unique_id, r.agency, {is_registration} AS is_registration
                   FROM {clusters} c JOIN r USING (unique_id)),
             per_cluster AS (SELECT level, cluster_id, count(DISTINCT agency) AS agencies,
                                    bool_or(is_registration) AS has_registration FROM m GROUP BY ALL)
        SELECT m.level, {is_registration} AS is_registration, r.role,
               r.agency || '/' || r.record_type AS source, r.sex,
               CAST(floor(datediff('day', r.dob, r.event_date) / 365.25) AS INTEGER) AS age_years,
               CAST(a.deprivation_decile AS VARCHAR) AS deprivation_decile, e.ethnicity,
               p.agencies > 1 AS linked_other_agency, p.has_registration
        FROM m JOIN r USING (unique_id) JOIN per_cluster p USING (level, cluster_id) {areas} {ethnicity}"""


def link_outcomes(
    con: duckdb.DuckDBPyConnection, records: str = PERSON_RECORDS_TABLE, clusters: str = CLUSTERS_TABLE
) -> pl.DataFrame:
    """One row per level, unit and member (no identifier): `linked` and the subgroup columns
    (UNITS). Age is the age in whole years at the record's event."""
    rows = con.sql(_record_sql(con, records, clusters)).pl()
    rows = rows.with_columns(
        pl.when(pl.col("age_years") >= 0)
        .then(age_band(pl.col("age_years")))
        .otherwise(pl.lit(None, pl.String))
        .alias("age_band")
    )
    units = {
        "records": rows.with_columns(pl.col("linked_other_agency").alias("linked")),
        "child_records": rows.filter((pl.col("role") == "child") & ~pl.col("is_registration")).with_columns(
            pl.col("has_registration").alias("linked")
        ),
        "cohort_children": rows.filter(pl.col("is_registration")).with_columns(
            pl.col("linked_other_agency").alias("linked")
        ),
    }
    group_columns = sorted({g for _, _, groups in UNITS.values() for g in groups})
    return pl.concat(
        [
            frame.select(
                "level",
                pl.lit(unit).alias("unit"),
                pl.col("linked").fill_null(False),
                *[pl.col(g).cast(pl.String) for g in group_columns],
            )
            for unit, frame in units.items()
        ]
    )


def link_rates(outcomes: pl.DataFrame, confidence: float = CONFIDENCE) -> pl.DataFrame:
    """Per level, unit and subgroup (group_type `all` and each of the unit's UNITS groups,
    ethnicity split into its codes, a missing value as `unknown`): population, linked, the
    share linked and its Clopper-Pearson interval. Before suppression."""
    parts = []
    for unit, (_, _, groups) in UNITS.items():
        mine = outcomes.filter(pl.col("unit") == unit)
        parts.append(mine.with_columns(pl.lit(ALL).alias("group_type"), pl.lit(ALL).alias("group_value")))
        for group in groups:
            value = pl.col(group).fill_null(UNKNOWN)
            if group in TOTAL_RESPONSE:
                grouped = mine.with_columns(pl.col(group).str.split(";").alias("group_value")).explode("group_value")
                grouped = grouped.with_columns(pl.col("group_value").fill_null(UNKNOWN))
            else:
                grouped = mine.with_columns(value.alias("group_value"))
            parts.append(grouped.with_columns(pl.lit(group).alias("group_type")))
    keys = ["level", "unit", "group_type", "group_value"]
    counted = (
        pl.concat([p.select(*keys, "linked") for p in parts])
        .group_by(keys)
        .agg(pl.len().alias("population"), pl.col("linked").sum().alias("linked"))
        .with_columns(pl.col("population").cast(pl.Int64), pl.col("linked").cast(pl.Int64))
    )
    order = {unit: i for i, unit in enumerate(UNITS)}
    counted = (
        counted.with_columns(
            pl.col("unit").replace_strict(order, return_dtype=pl.Int64).alias("_u"),
            (pl.col("group_type") != ALL).alias("_g"),
        )
        .sort("level", "_u", "_g", "group_type", "group_value")
        .drop("_u", "_g")
    )
    low, high = clopper_pearson(counted["linked"], counted["population"], confidence)
    return counted.with_columns(
        (pl.col("linked") / pl.col("population")).alias("rate"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    )


def block_margins(frame: pl.DataFrame, block: list[str], part: str, total_value: str, skip=()) -> list[Margin]:
    """Margins (row indices) of a long table: within each `block`, the rows of each value of
    the `part` column (a group type) sum to the row whose `part` is `total_value` (skipping
    the values in `skip`)."""
    keyed = frame.with_row_index("_cell")
    totals = keyed.filter(pl.col(part) == total_value).select(*block, pl.col("_cell").alias("_total"))
    parts = (
        keyed.filter((pl.col(part) != total_value) & ~pl.col(part).is_in(list(skip)))
        .join(totals, on=block, nulls_equal=True)
        .group_by(*block, part, "_total")
        .agg(pl.col("_cell"))
    )
    return [Margin(int(t), tuple(int(c) for c in cs)) for t, cs in zip(parts["_total"], parts["_cell"])]


def protect(
    frame: pl.DataFrame, count: str | None, population: str | None, hide: list[str], margins: list[Margin]
) -> pl.DataFrame:
    """The project's disclosure control (publish.disclosure.protect_cells) on a long table:
    `suppressed`, `suppression_reason`, and the `hide` columns nulled where suppressed."""
    n = frame.height
    counts = frame[count].to_numpy().astype(float) if count else np.full(n, np.nan)
    populations = frame[population].to_numpy().astype(float) if population else np.full(n, np.nan)
    reason = protect_cells(counts, populations, margins, threshold=SUPPRESS_BELOW) if n else np.zeros(0, int)
    return apply_reasons(frame, reason, hide)


def published_link_rates(rates: pl.DataFrame) -> pl.DataFrame:
    """Link rates as published: small cells suppressed (count and rate hidden, population shown)."""
    margins = block_margins(rates, ["level", "unit"], "group_type", ALL, skip=TOTAL_RESPONSE)
    # margins over different group types share their total row: solved together
    return protect(rates, "linked", "population", ["linked", "rate", "ci_low", "ci_high"], margins)


def subgroup_gaps(rates: pl.DataFrame, gap_points: float = GAP_POINTS) -> pl.DataFrame:
    """Every subgroup's link rate against its level's and unit's overall rate, in
    percentage points (subgroup minus overall), `flagged` where the gap is over
    `gap_points`; `ci_excludes_overall` where the subgroup's interval leaves out the overall
    rate. Suppressed rows (null rate) get no gap. Flagged rows first, largest gap first."""
    overall = rates.filter(pl.col("group_type") == ALL).select("level", "unit", pl.col("rate").alias("overall_rate"))
    out = (
        rates.filter(pl.col("group_type") != ALL)
        .join(overall, on=["level", "unit"], how="left")
        .with_columns((100 * (pl.col("rate") - pl.col("overall_rate"))).alias("gap_points"))
        .with_columns(
            (pl.col("gap_points").abs() > gap_points).fill_null(False).alias("flagged"),
            ((pl.col("ci_high") < pl.col("overall_rate")) | (pl.col("ci_low") > pl.col("overall_rate")))
            .fill_null(False)
            .alias("ci_excludes_overall"),
        )
    )
    return out.select(
        "level", "unit", "group_type", "group_value", "population", "rate", "overall_rate", "gap_points",
        "flagged", "ci_excludes_overall",
    ).sort(["flagged", pl.col("gap_points").abs()], descending=[True, True], nulls_last=True)  # fmt: skip


# --- 2. match-weight histograms -------------------------------------------------------------


def scored_pairs(
    con: duckdb.DuckDBPyConnection,
    pairs: str = PAIRS_TABLE,
    links: str = LINKS_TABLE,
    clusters: str = CLUSTERS_TABLE,
    levels=LEVELS,
) -> pl.DataFrame:
    """Every scored pair: unique_id_l, unique_id_r, match_weight, `linked_<level>`: the spine
    kept it at the level (flagged at the level, not separated by the clustering guards, and
    its two identities in one cluster: the constrained clustering drops a link that would
    merge two birth registrations), and `flagged_<level>`: flagged and not separated.
    Identified: not for publishing."""
    kept = " ".join(
        f"""LEFT JOIN (SELECT DISTINCT k.unique_id_l, k.unique_id_r, TRUE AS kept FROM {links} k
                       JOIN _ids a ON a.level = '{lv}' AND a.identity_id = k.unique_id_l
                       JOIN _ids b ON b.level = '{lv}' AND b.identity_id = k.unique_id_r AND b.cluster_id = a.cluster_id
                       WHERE k.is_link_{lv} AND k.separated_by IS NULL) kept_{lv} USING (unique_id_l, unique_id_r)"""
        for lv in levels
    )
    flags = ", ".join(f"coalesce(kept_{lv}.kept, FALSE) AS linked_{lv}" for lv in levels)
    flagged = ", ".join(f"coalesce(f.is_link_{lv} AND f.separated_by IS NULL, FALSE) AS flagged_{lv}" for lv in levels)
    return con.sql(
        f"""WITH _ids AS (SELECT DISTINCT level, identity_id, cluster_id FROM {clusters})
            SELECT p.unique_id_l, p.unique_id_r, p.match_weight, {flags}, {flagged}
            FROM {pairs} p {kept} LEFT JOIN {links} f USING (unique_id_l, unique_id_r)
            ORDER BY p.unique_id_l, p.unique_id_r"""
    ).pl()


def before_review(pairs: pl.DataFrame, levels=LEVELS) -> pl.DataFrame:
    """`pairs` with each level's status as the model and the guards set it (`flagged_<level>`),
    before the reviewers' decisions force links or non-links in the clustering: the status to
    estimate from reviewed pairs, which the review itself has set right in the spine."""
    return pairs.with_columns([pl.col(f"flagged_{lv}").alias(f"linked_{lv}") for lv in levels])


def weight_histogram(
    pairs: pl.DataFrame,
    levels=LEVELS,
    weight_range: tuple[float, float] = HISTOGRAM_RANGE,
    bin_width: float = HISTOGRAM_BIN_WIDTH,
) -> pl.DataFrame:
    """Pairs per weight bin, linked and not linked, at each level: level, status, bin_low,
    bin_high (weights outside the range fall in the end bins, whose outer edge is null),
    pairs; a row of status totals (bin_low null) per level and status."""
    low, high = weight_range
    edges = np.arange(low, high + bin_width / 2, bin_width).tolist()
    index = pl.col("match_weight").sub(low).truediv(bin_width).floor().clip(-1, len(edges) - 1).cast(pl.Int64)
    bins = pl.DataFrame(
        {"bin": list(range(-1, len(edges))), "bin_low": [None, *edges], "bin_high": [*edges, None]},
        schema={"bin": pl.Int64, "bin_low": pl.Float64, "bin_high": pl.Float64},
    )
    grid = pl.DataFrame({"status": [LINKED, NOT_LINKED]}).join(bins, how="cross")
    frames = []
    for level in levels:
        status = pl.when(pl.col(f"linked_{level}")).then(pl.lit(LINKED)).otherwise(pl.lit(NOT_LINKED))
        counted = pairs.select(status.alias("status"), index.alias("bin")).group_by("status", "bin").len("pairs")
        full = (
            grid.join(counted, on=["status", "bin"], how="left")
            .with_columns(pl.col("pairs").fill_null(0), pl.lit("bin").alias("row"))
            .sort("status", "bin")
        )
        totals = full.group_by("status").agg(pl.col("pairs").sum()).with_columns(pl.lit(ALL).alias("row"))
        for state in (LINKED, NOT_LINKED):
            frames.append(
                pl.concat(
                    [
                        totals.filter(pl.col("status") == state),
                        full.filter(pl.col("status") == state).select("status", "pairs", "row", "bin_low", "bin_high"),
                    ],
                    how="diagonal_relaxed",
                ).with_columns(pl.lit(level).alias("level"), pl.col("pairs").cast(pl.Int64))
            )
    return pl.concat(frames).select("level", "status", "row", "bin_low", "bin_high", "pairs")


def published_histogram(histogram: pl.DataFrame) -> pl.DataFrame:
    """The histogram as published: bins of 1 to SUPPRESS_BELOW - 1 pairs hidden, with
    complementary bins so that no hidden bin follows from its status total."""
    margins = block_margins(histogram, ["level", "status"], "row", ALL)
    return protect(histogram, "pairs", None, ["pairs"], margins)


# --- 3. linkage error from the clerical sample -----------------------------------------------


def error_band(weight: pl.Expr) -> pl.Expr:
    from cmi_assets.linkage.clerical import band_of

    return band_of(weight, ERROR_BANDS, None)


def level_pairs(pairs: pl.DataFrame, level: str) -> pl.DataFrame:
    """One level's scored pairs with their status, weight band and stratum (status|band),
    and a unit_id (the pair's place in key order) for clerical.stratified_sample."""
    status = pl.when(pl.col(f"linked_{level}")).then(pl.lit(LINKED)).otherwise(pl.lit(NOT_LINKED))
    return (
        pairs.select("unique_id_l", "unique_id_r", "match_weight", status.alias("status"))
        .sort("unique_id_l", "unique_id_r")
        .with_row_index("unit_id")
        .with_columns(pl.col("unit_id").cast(pl.Int64), error_band(pl.col("match_weight")).alias("band"))
    )


def draw_pair_sample(
    pairs: pl.DataFrame, level: str, links_per_level: int, non_links_per_level: int, seed: int
) -> pl.DataFrame:
    """A stratified random sample of one level's pairs: `links_per_level` links and
    `non_links_per_level` pairs not linked, each allocated over weight bands by
    clerical.stratified_sample (sqrt(size), at least 2 a band). Each sampled pair carries its
    stratum, stratum_size (N_h) and weight (N_h / n_h)."""
    from cmi_assets.linkage.clerical import stratified_sample

    frame = level_pairs(pairs, level)
    drawn = []
    for status, n in ((LINKED, links_per_level), (NOT_LINKED, non_links_per_level)):
        mine = frame.filter(pl.col("status") == status)
        if mine.height and n > 0:
            drawn.append(stratified_sample(mine, ["status", "band"], n, seed))
    if not drawn:
        return frame.clear().with_columns(
            pl.lit(None, pl.String).alias("stratum"),
            pl.lit(None, pl.Int64).alias("stratum_size"),
            pl.lit(None, pl.Float64).alias("weight"),
        )
    return pl.concat(drawn).with_columns(pl.lit(level).alias("level"))


def identity_true_persons(con: duckdb.DuckDBPyConnection, truth: pl.DataFrame, records: str = PERSON_RECORDS_TABLE):
    """identity_id -> true_person_id: the true person most of the identity's records belong
    to (quality.attach_truth maps records to the truth), the smallest id on a tie."""
    frame = con.sql(f"SELECT identity_id, agency, record_type, record_key, slot FROM {records}").pl()
    labelled = attach_truth(frame, truth).filter(pl.col("true_person_id").is_not_null())
    return (
        labelled.group_by("identity_id", "true_person_id")
        .len()
        .sort(["identity_id", "len", "true_person_id"], descending=[False, True, False])
        .unique("identity_id", keep="first")
        .select("identity_id", "true_person_id")
    )


def truth_pair_labels(pairs: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """`pairs` with is_match from the truth: both identities' true persons known and equal
    (null where either is unknown)."""
    left = persons.rename({"identity_id": "unique_id_l", "true_person_id": "_tl"})
    right = persons.rename({"identity_id": "unique_id_r", "true_person_id": "_tr"})
    return (
        pairs.join(left, on="unique_id_l", how="left")
        .join(right, on="unique_id_r", how="left")
        .with_columns(
            pl.when(pl.col("_tl").is_not_null() & pl.col("_tr").is_not_null())
            .then(pl.col("_tl") == pl.col("_tr"))
            .otherwise(pl.lit(None, pl.Boolean))
            .alias("is_match")
        )
        .drop("_tl", "_tr")
    )


def review_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """The reviewers' current decision per pair (review.current_decisions: the latest by
    decided_at, then decision_id), as unique_id_l < unique_id_r and is_match (match true,
    non_match false, unsure null); None when no decision table exists."""
    from cmi_assets.linkage.review import current_decisions

    if not table_exists(con, REVIEW_DECISIONS_TABLE):
        return None
    current = current_decisions(con)
    return current.select(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("unique_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("unique_id_r"),
        "decision",
        pl.when(pl.col("decision") == "match")
        .then(True)
        .when(pl.col("decision") == "non_match")
        .then(False)
        .otherwise(pl.lit(None, pl.Boolean))
        .alias("is_match"),
    )


def label_sample(sample: pl.DataFrame, decisions: pl.DataFrame | None, persons: pl.DataFrame | None) -> pl.DataFrame:
    """The sample with is_match and label_source: a reviewer's decision where there is one,
    else the truth (where given); pairs left without a label are dropped from the
    estimates (unsure, or not reviewed yet)."""
    out = sample.with_columns(pl.lit(None, pl.Boolean).alias("is_match"), pl.lit(None, pl.String).alias("label_source"))
    if decisions is not None:
        out = (
            out.drop("is_match")
            .join(
                decisions.select("unique_id_l", "unique_id_r", "is_match"),
                on=["unique_id_l", "unique_id_r"],
                how="left",
            )
            .with_columns(
                pl.when(pl.col("is_match").is_not_null()).then(pl.lit("review")).otherwise(None).alias("label_source")
            )
        )
    if persons is not None:
        truth = truth_pair_labels(out.select("unique_id_l", "unique_id_r"), persons).rename({"is_match": "_truth"})
        out = (
            out.join(truth, on=["unique_id_l", "unique_id_r"], how="left")
            .with_columns(
                pl.col("label_source").fill_null(pl.when(pl.col("_truth").is_not_null()).then(pl.lit("truth"))),
                pl.col("is_match").fill_null(pl.col("_truth")),
            )
            .drop("_truth")
        )
    return out


def reviewed_as_sample(pairs: pl.DataFrame, decisions: pl.DataFrame, level: str) -> pl.DataFrame:
    """Without a drawn sample's truth (production): every pair a reviewer decided, as the
    sample of its level's status and band (post-stratified: within a band, reviewed pairs
    stand for the band's pairs)."""
    frame = level_pairs(pairs, level).with_columns(
        pl.concat_str([pl.col("status"), pl.col("band").fill_null("")], separator="|").alias("stratum")
    )
    sizes = frame.group_by("stratum").len("stratum_size")
    decided = frame.join(decisions.select("unique_id_l", "unique_id_r"), on=["unique_id_l", "unique_id_r"])
    n = decided.group_by("stratum").len("_n")
    return (
        decided.join(sizes, on="stratum")
        .join(n, on="stratum")
        .with_columns(
            pl.col("stratum_size").cast(pl.Int64),
            (pl.col("stratum_size") / pl.col("_n")).alias("weight"),
            pl.lit(level).alias("level"),
        )
        .drop("_n")
    )


def _estimate(labelled: pl.DataFrame, outcome: pl.Expr, confidence: float) -> dict:
    from cmi_assets.linkage.clerical import weighted_agreement

    frame = labelled.filter(pl.col("is_match").is_not_null()).with_columns(outcome.alias("_outcome"))
    if frame.is_empty():
        return {"estimate": None, "ci_low": None, "ci_high": None, "sampled": 0, "effective_n": None}
    return weighted_agreement(frame, "_outcome", confidence)


def error_by_band(
    pairs: pl.DataFrame, labelled: pl.DataFrame, level: str, confidence: float = CONFIDENCE
) -> pl.DataFrame:
    """Per status and weight band of one level (and `all` per status): pairs in the band,
    sampled and labelled, the estimated error rate (links: share false; pairs not linked:
    share true, i.e. missed) with its interval (clerical.weighted_agreement, Korn-Graubard),
    and the estimated number of false or missed links."""
    frame = level_pairs(pairs, level)
    sizes = frame.group_by("status", "band").len("pairs")
    rows = []
    for status in (LINKED, NOT_LINKED):
        wrong = ~pl.col("is_match") if status == LINKED else pl.col("is_match")
        mine = labelled.filter(pl.col("status") == status)
        bands = sizes.filter(pl.col("status") == status)
        for band in [label for _, _, label in ERROR_BANDS] + [ALL]:
            n_pairs = (
                int(bands["pairs"].sum()) if band == ALL else int(bands.filter(pl.col("band") == band)["pairs"].sum())
            )
            in_band = mine if band == ALL else mine.filter(pl.col("band") == band)
            est = _estimate(in_band, wrong, confidence) if n_pairs else {"estimate": None, "sampled": 0}
            rate = est.get("estimate")
            rows.append(
                {
                    "level": level,
                    "status": status,
                    "band": band,
                    "pairs": n_pairs,
                    "sampled": int(in_band.height),
                    "labelled": int(est.get("sampled") or 0),
                    "error": "false_link" if status == LINKED else "missed_link",
                    "error_rate": rate,
                    "ci_low": est.get("ci_low"),
                    "ci_high": est.get("ci_high"),
                    "estimated_errors": rate * n_pairs if rate is not None else None,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "level": pl.String, "status": pl.String, "band": pl.String, "pairs": pl.Int64, "sampled": pl.Int64,
            "labelled": pl.Int64, "error": pl.String, "error_rate": pl.Float64, "ci_low": pl.Float64,
            "ci_high": pl.Float64, "estimated_errors": pl.Float64,
        },
    )  # fmt: skip


def published_errors(errors: pl.DataFrame) -> pl.DataFrame:
    """The error table as published: a band of 1 to SUPPRESS_BELOW - 1 pairs shows no rate
    (with complementary bands, so none follows from the status total). The rates describe
    the linkage of pairs, not children, and are shown with their intervals."""
    rows = errors.with_columns(pl.when(pl.col("band") == ALL).then(pl.lit(ALL)).otherwise(pl.lit("band")).alias("_row"))
    margins = block_margins(rows, ["level", "status"], "_row", ALL)
    hide = ["pairs", "sampled", "labelled", "error_rate", "ci_low", "ci_high", "estimated_errors"]
    return protect(rows, "pairs", None, hide, margins).drop("_row")


def estimated_precision(labelled: pl.DataFrame, level: str, confidence: float = CONFIDENCE) -> dict:
    """The band-weighted (stratified) share of the level's sampled links that are true, with
    its Korn-Graubard interval; and the share of scored true matches linked (recall among
    scored pairs: true matches never scored are outside the sample's reach)."""
    links = labelled.filter((pl.col("status") == LINKED) & (pl.col("level") == level))
    est = _estimate(links, pl.col("is_match"), confidence)
    return {
        "level": level,
        "precision": est["estimate"],
        "ci_low": est["ci_low"],
        "ci_high": est["ci_high"],
        "sampled_links": int(est["sampled"]),
        "effective_n": est["effective_n"],
    }


def truth_precision(pairs: pl.DataFrame, persons: pl.DataFrame, level: str) -> float | None:
    """The truth over every link of the level: the share whose identities are one true person."""
    links = truth_pair_labels(pairs.filter(pl.col(f"linked_{level}")), persons).filter(pl.col("is_match").is_not_null())
    return float(links["is_match"].mean()) if links.height else None


def estimated_recall(errors: pl.DataFrame, precision: dict, links: int) -> float | None:
    """Estimated true links over estimated true matches among scored pairs: precision x links
    over that plus the estimated missed links of every band."""
    bands = errors.filter((pl.col("status") == NOT_LINKED) & (pl.col("band") != ALL) & (pl.col("pairs") > 0))
    if precision["precision"] is None or bands["estimated_errors"].null_count():
        return None
    found = precision["precision"] * links
    total = found + float(bands["estimated_errors"].sum())
    return found / total if total else None


# --- 4. effect of the level on headline indicators ------------------------------------------


def cohort_years(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Birth years of the registered children in the analysis zone's event tables."""
    if not table_exists(con, "events.birth"):
        return []
    return [int(y) for (y,) in con.execute("SELECT DISTINCT birth_year FROM events.birth WHERE birth_year IS NOT NULL ORDER BY 1").fetchall()]  # fmt: skip


def level_indicators(con: duckdb.DuckDBPyConnection, years: list[int], levels=LEVELS) -> pl.DataFrame:
    """Per level, over the cohorts of `years` pooled: children followed up to age 5 (the
    population), children with a substantiated finding by age 5 and children recorded by
    more than one of the incidence lists (CP, police FV, hospital) by age 5, from the
    incidence library (incidence.sources.cohort_children, recorded_by_age;
    incidence.overlap.list_flags), per 1,000; and the difference of the second level from the first."""
    from cmi_assets.incidence.overlap import list_flags
    from cmi_assets.incidence.sources import LISTS, cohort_children, observed_to_age, recorded_by_age

    rows = []
    for level in levels:
        children = pl.concat([cohort_children(con, year, level) for year in years]) if years else None
        followed = children.filter(observed_to_age()) if children is not None else pl.DataFrame()
        population = followed.height
        finding = int(followed.select(recorded_by_age(followed, "cp_finding").sum()).item()) if population else 0
        flags = list_flags(children) if children is not None else pl.DataFrame()
        multi = (
            int(flags.select((pl.sum_horizontal([pl.col(n).cast(pl.Int64) for n in LISTS]) > 1).sum()).item())
            if flags.height
            else 0
        )
        for indicator, count in (("substantiated_finding_by_5", finding), ("more_than_one_list_by_5", multi)):
            rows.append({"level": level, "indicator": indicator, "count": count, "population": population})
    out = pl.DataFrame(
        rows, schema={"level": pl.String, "indicator": pl.String, "count": pl.Int64, "population": pl.Int64}
    )
    return out.with_columns(
        pl.when(pl.col("population") > 0).then(1000 * pl.col("count") / pl.col("population")).alias("per_1000")
    )


def published_indicators(indicators: pl.DataFrame, levels=LEVELS) -> pl.DataFrame:
    """Indicators as published (a count of 1 to SUPPRESS_BELOW - 1 children, or a population
    under it, hidden), with the difference between the levels where both show: rows with
    level `difference` (second level minus first)."""
    shown = protect(indicators, "count", "population", ["count", "per_1000"], [])
    first, second = levels[0], levels[-1]
    diff = (
        shown.filter(pl.col("level") == first)
        .join(shown.filter(pl.col("level") == second), on="indicator", suffix="_2")
        .select(
            pl.lit("difference").alias("level"),
            "indicator",
            (pl.col("count_2") - pl.col("count")).alias("count"),
            (pl.col("population_2") - pl.col("population")).alias("population"),
            (pl.col("per_1000_2") - pl.col("per_1000")).alias("per_1000"),
            (pl.col("suppressed") | pl.col("suppressed_2")).alias("suppressed"),
            pl.when(pl.col("suppressed") | pl.col("suppressed_2"))
            .then(pl.lit("from a suppressed level"))
            .alias("suppression_reason"),
        )
    )
    return pl.concat([shown, diff], how="vertical_relaxed")


# --- the report -----------------------------------------------------------------------------


@dataclass
class GuildReport:
    link_rates: pl.DataFrame
    subgroup_gaps: pl.DataFrame
    weight_histogram: pl.DataFrame
    linkage_error: pl.DataFrame
    precision: pl.DataFrame
    indicators: pl.DataFrame
    sample_design: str
    labels: dict[str, int] = field(default_factory=dict)

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every published table by name (the analysis zone's schema REPORT_SCHEMA)."""
        return {
            "link_rates": self.link_rates,
            "subgroup_gaps": self.subgroup_gaps,
            "weight_histogram": self.weight_histogram,
            "linkage_error": self.linkage_error,
            "precision": self.precision,
            "indicators": self.indicators,
        }

    def headline(self) -> dict[str, float | int | None]:
        """Estimated precision per level with its interval, then the link rates per level
        (records linked to another agency; cohort children linked to another agency)."""
        out: dict = {}
        for row in self.precision.iter_rows(named=True):
            level = row["level"]
            out[f"{level}/precision"] = row["precision"]
            out[f"{level}/precision_lo"] = row["ci_low"]
            out[f"{level}/precision_hi"] = row["ci_high"]
        overall = self.link_rates.filter(pl.col("group_type") == ALL)
        for row in overall.iter_rows(named=True):
            if row["unit"] in ("records", "cohort_children"):
                name = "link_rate" if row["unit"] == "records" else "cohort_link"
                out[f"{row['level']}/{name}"] = row["rate"]
        out["gaps_over_5_points"] = int(self.subgroup_gaps["flagged"].sum())
        return out


def build_report(
    identified: duckdb.DuckDBPyConnection,
    warehouse: duckdb.DuckDBPyConnection | None,
    truth_file: Path | None,
    links_per_level: int,
    non_links_per_level: int,
    seed: int,
) -> GuildReport:
    """Every table of the report, published (suppressed): link rates and gaps from the
    identified zone's records and clusters, histograms and error rates from its scored pairs
    and the labelled sample, indicators from the warehouse's event tables (when given)."""
    rates = published_link_rates(link_rates(link_outcomes(identified)))
    pairs = scored_pairs(identified)
    decisions = review_decisions(identified)
    persons = identity_true_persons(identified, pl.read_parquet(truth_file)) if truth_file else None
    # without the truth the sample is the reviewed pairs, whose spine status the review set
    status = pairs if persons is not None or decisions is None else before_review(pairs)
    labelled_parts, errors, precision = [], [], []
    for level in LEVELS:
        if persons is not None:
            sample = draw_pair_sample(status, level, links_per_level, non_links_per_level, seed)
        elif decisions is not None:
            sample = reviewed_as_sample(status, decisions, level)
        else:
            sample = (
                level_pairs(status, level)
                .clear()
                .with_columns(
                    pl.lit(None, pl.String).alias("stratum"),
                    pl.lit(None, pl.Int64).alias("stratum_size"),
                    pl.lit(None, pl.Float64).alias("weight"),
                    pl.lit(level).alias("level"),
                )
            )
        labelled = label_sample(sample, decisions, persons)
        labelled_parts.append(labelled)
        level_errors = error_by_band(status, labelled, level)
        errors.append(level_errors)
        est = estimated_precision(labelled, level)
        links = int(status[f"linked_{level}"].sum())
        est["links"] = links
        est["estimated_recall_scored"] = estimated_recall(level_errors, est, links)
        est["truth_precision"] = truth_precision(status, persons, level) if persons is not None else None
        precision.append(est)
    all_labelled = pl.concat(labelled_parts, how="diagonal_relaxed")
    labels = dict(all_labelled.group_by(pl.col("label_source").fill_null("none")).len().iter_rows())
    design = (
        "pairs drawn at random by level, link status and weight band; reviewers' decisions, else the synthetic truth"
        if persons is not None
        else "reviewed pairs (linkage.review_decisions), post-stratified by level, link status before review and weight band"
        if decisions is not None
        else "no labels: no review decisions and no synthetic truth"
    )
    indicators = (
        published_indicators(level_indicators(warehouse, cohort_years(warehouse)))
        if warehouse is not None
        else published_indicators(level_indicators(identified, []))
    )
    return GuildReport(
        link_rates=rates,
        subgroup_gaps=subgroup_gaps(rates),
        weight_histogram=published_histogram(weight_histogram(pairs)),
        linkage_error=published_errors(pl.concat(errors)),
        precision=pl.DataFrame(precision),
        indicators=indicators,
        sample_design=design,
        labels={str(k): int(v) for k, v in labels.items()},
    )


def identifying_columns(frame: pl.DataFrame) -> list[str]:
    """Columns of a table that would carry an identifier (IDENTIFYING_COLUMNS)."""
    return [c for c in frame.columns if c in IDENTIFYING_COLUMNS]


def write_report(con: duckdb.DuckDBPyConnection, report: GuildReport, schema: str = REPORT_SCHEMA) -> dict[str, int]:
    """Replace the report's tables in the analysis zone with exactly their REPORT_COLUMNS;
    rows per table. A table with an identifying column is refused."""
    types = {"VARCHAR": pl.String, "BIGINT": pl.Int64, "DOUBLE": pl.Float64, "BOOLEAN": pl.Boolean}
    out = {}
    for name, frame in report.tables().items():
        bad = identifying_columns(frame)
        if bad:
            raise ValueError(f"{schema}.{name}: identifying columns {bad} are not published")
        columns = REPORT_COLUMNS[name]
        typed = frame.select([pl.col(c).cast(types[kind]) for c, kind, _ in columns])
        out[name] = replace_table(con, f"{schema}.{name}", typed)
    return out
