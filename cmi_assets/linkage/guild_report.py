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
connection or frames and return frames or dicts; nothing here imports Dagster. Whatever grows with the
records and the pairs is counted, drawn and joined in DuckDB (which spills past its memory limit), and
only counts and the clerical sample come into polars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from cmi_assets.linkage.quality import age_band, attach_truth
from cmi_assets.linkage.sampling import stratum_allocation
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


def _outcome_counts_sql(con: duckdb.DuckDBPyConnection, records: str, clusters: str) -> str:
    """The per-record outcomes (_record_sql) counted per distinct row: `n` members."""
    return f"SELECT *, count(*) AS n FROM ({_record_sql(con, records, clusters)}) GROUP BY ALL"


def link_outcomes(
    con: duckdb.DuckDBPyConnection, records: str = PERSON_RECORDS_TABLE, clusters: str = CLUSTERS_TABLE
) -> pl.DataFrame:
    """One row per level, unit, `linked` and combination of the subgroup columns (UNITS), with
    `n`, the members of the unit it stands for (no identifier). Counted in DuckDB, so the frame
    grows with the subgroups, not with the records. Age is the age in whole years at the
    record's event."""
    rows = con.sql(_outcome_counts_sql(con, records, clusters)).pl()
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
    keys = ["level", "unit", "linked", *group_columns]
    return (
        pl.concat(
            [
                frame.select(
                    "level",
                    pl.lit(unit).alias("unit"),
                    pl.col("linked").fill_null(False),
                    *[pl.col(g).cast(pl.String) for g in group_columns],
                    "n",
                )
                for unit, frame in units.items()
            ]
        )
        .group_by(keys)
        .agg(pl.col("n").sum().cast(pl.Int64))
        .sort(keys, nulls_last=True)
    )


def link_rates(outcomes: pl.DataFrame, confidence: float = CONFIDENCE) -> pl.DataFrame:
    """From the counted outcomes (link_outcomes), per level, unit and subgroup (group_type
    `all` and each of the unit's UNITS groups, ethnicity split into its codes, a missing value
    as `unknown`): population, linked, the share linked and its Clopper-Pearson interval.
    Before suppression."""
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
        pl.concat([p.select(*keys, "linked", "n") for p in parts])
        .group_by(keys)
        .agg(pl.col("n").sum().alias("population"), pl.col("n").filter(pl.col("linked")).sum().alias("linked"))
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


# --- 2. scored pairs and match-weight histograms ---------------------------------------------


# Pairs are a polars frame or a DuckDB relation of the connection given: every function on
# pairs runs its SQL in DuckDB over them and gives back a frame for a frame and a relation
# for a relation, so the report can keep the scored pairs in DuckDB and fetch only counts
# and samples.
Pairs = pl.DataFrame | duckdb.DuckDBPyRelation
SCORED_PAIRS = "_guild_scored_pairs"  # temporary tables of the identified connection
TRUE_PERSONS = "_guild_true_persons"
TRUTH_VOTES = "_guild_truth_votes"
TRUTH_CHUNK_RECORDS = 1_000_000  # records mapped to the truth in polars at a time
PAIR_KEY = "unique_id_l, unique_id_r"


def _connection(con: duckdb.DuckDBPyConnection | None) -> duckdb.DuckDBPyConnection:
    """The connection whose relations the inputs are, else an in-memory one for frames."""
    return con if con is not None else duckdb.connect()


def _like(result: duckdb.DuckDBPyRelation, pairs: Pairs, order: str | None = PAIR_KEY) -> Pairs:
    """A frame (in `order`) when the input was a frame, the relation itself otherwise."""
    if isinstance(pairs, pl.DataFrame):
        return (result.order(order) if order else result).pl()
    return result


def _scored_pairs_sql(pairs: str, links: str, clusters: str, levels) -> str:
    kept = " ".join(
        f"""LEFT JOIN (SELECT DISTINCT k.unique_id_l, k.unique_id_r, TRUE AS kept FROM {links} k
                       JOIN _ids a ON a.level = '{lv}' AND a.identity_id = k.unique_id_l
                       JOIN _ids b ON b.level = '{lv}' AND b.identity_id = k.unique_id_r AND b.cluster_id = a.cluster_id
                       WHERE k.is_link_{lv} AND k.separated_by IS NULL) kept_{lv} USING (unique_id_l, unique_id_r)"""
        for lv in levels
    )
    flags = ", ".join(f"coalesce(kept_{lv}.kept, FALSE) AS linked_{lv}" for lv in levels)
    flagged = ", ".join(f"coalesce(f.is_link_{lv} AND f.separated_by IS NULL, FALSE) AS flagged_{lv}" for lv in levels)
    return f"""WITH _ids AS (SELECT DISTINCT level, identity_id, cluster_id FROM {clusters})
            SELECT p.unique_id_l, p.unique_id_r, p.match_weight, {flags}, {flagged}
            FROM {pairs} p {kept} LEFT JOIN {links} f USING (unique_id_l, unique_id_r)"""


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
    Identified: not for publishing. A frame of every pair: the report keeps them in DuckDB
    (scored_pairs_table)."""
    return con.sql(_scored_pairs_sql(pairs, links, clusters, levels) + f" ORDER BY {PAIR_KEY}").pl()


def scored_pairs_table(
    con: duckdb.DuckDBPyConnection,
    pairs: str = PAIRS_TABLE,
    links: str = LINKS_TABLE,
    clusters: str = CLUSTERS_TABLE,
    levels=LEVELS,
    name: str = SCORED_PAIRS,
) -> duckdb.DuckDBPyRelation:
    """The scored pairs (scored_pairs' columns) as a temporary table of `con`, made once
    for the report's several passes over them; DuckDB spills it past its memory limit."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {_scored_pairs_sql(pairs, links, clusters, levels)}")
    return con.table(name)


def before_review(pairs: Pairs, levels=LEVELS, con: duckdb.DuckDBPyConnection | None = None) -> Pairs:
    """`pairs` with each level's status as the model and the guards set it (`flagged_<level>`),
    before the reviewers' decisions force links or non-links in the clustering: the status to
    estimate from reviewed pairs, which the review itself has set right in the spine."""
    replaced = ", ".join(f"flagged_{lv} AS linked_{lv}" for lv in levels)
    return _like(_connection(con).sql(f"SELECT * REPLACE ({replaced}) FROM pairs"), pairs)


def _status_sql(level: str) -> str:
    return f"CASE WHEN linked_{level} THEN '{LINKED}' ELSE '{NOT_LINKED}' END"


def weight_histogram(
    pairs: Pairs,
    levels=LEVELS,
    weight_range: tuple[float, float] = HISTOGRAM_RANGE,
    bin_width: float = HISTOGRAM_BIN_WIDTH,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """Pairs per weight bin, linked and not linked, at each level: level, status, bin_low,
    bin_high (weights outside the range fall in the end bins, whose outer edge is null),
    pairs; a row of status totals (bin_low null) per level and status. Counted in DuckDB."""
    low, high = weight_range
    edges = np.arange(low, high + bin_width / 2, bin_width).tolist()
    index = (
        f"CASE WHEN match_weight IS NOT NULL THEN CAST(least(greatest(floor((match_weight - {low}) / {bin_width}), -1),"
        f" {len(edges) - 1}) AS BIGINT) END"
    )
    bins = pl.DataFrame(
        {"bin": list(range(-1, len(edges))), "bin_low": [None, *edges], "bin_high": [*edges, None]},
        schema={"bin": pl.Int64, "bin_low": pl.Float64, "bin_high": pl.Float64},
    )
    grid = pl.DataFrame({"status": [LINKED, NOT_LINKED]}).join(bins, how="cross")
    db = _connection(con)
    frames = []
    for level in levels:
        counted = db.sql(
            f"SELECT {_status_sql(level)} AS status, {index} AS bin, count(*) AS pairs FROM pairs GROUP BY ALL"
        ).pl()
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


def _band_sql(weight: str, bands=ERROR_BANDS) -> str:
    """The label of the [low, high) band (None: unbounded) a weight falls in, null for a
    null weight, as SQL."""
    whens = []
    for low, high, label in bands:
        tests = [f"{weight} >= {low}"] * (low is not None) + [f"{weight} < {high}"] * (high is not None)
        whens.append(f"WHEN {' AND '.join(tests) or 'TRUE'} THEN '{label}'")
    return f"CASE WHEN {weight} IS NULL THEN NULL {' '.join(whens)} END"


def level_pairs(pairs: Pairs, level: str, con: duckdb.DuckDBPyConnection | None = None) -> Pairs:
    """One level's scored pairs with their status, weight band (ERROR_BANDS) and stratum
    (status|band)."""
    band = _band_sql("match_weight")
    return _like(
        _connection(con).sql(
            f"""SELECT unique_id_l, unique_id_r, match_weight, {_status_sql(level)} AS status, {band} AS band,
                       {_status_sql(level)} || '|' || coalesce({band}, '') AS stratum
                FROM pairs"""
        ),
        pairs,
    )


def stratum_sizes(pairs: Pairs, level: str, con: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
    """Scored pairs per stratum (status and weight band) of one level: status, band,
    stratum, pairs; counted in DuckDB."""
    db = _connection(con)
    strata = level_pairs(pairs, level, db)  # noqa: F841 (read by the SQL)
    return db.sql("SELECT status, band, stratum, count(*) AS pairs FROM strata GROUP BY ALL ORDER BY stratum").pl()


def sample_allocation(sizes: pl.DataFrame, n_total: int) -> pl.DataFrame:
    """`sizes` (stratum_sizes) with n, the pairs to draw per stratum: n_total shared in
    proportion to sqrt(stratum size), at least 2 and at most the stratum (the allocation of
    clerical.stratified_sample)."""
    wanted = stratum_allocation(sizes["pairs"].to_numpy(), n_total)
    return sizes.with_columns(pl.Series("n", wanted, dtype=pl.Int64))


def empty_sample(level: str) -> pl.DataFrame:
    """A sample of no pairs, with a drawn sample's columns."""
    return pl.DataFrame(
        schema={
            "unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "match_weight": pl.Float64, "status": pl.String,
            "band": pl.String, "stratum": pl.String, "stratum_size": pl.Int64, "weight": pl.Float64,
            "level": pl.String,
        }
    )  # fmt: skip


def draw_pair_sample(
    pairs: Pairs,
    level: str,
    links_per_level: int,
    non_links_per_level: int,
    seed: int,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """A stratified random sample of one level's pairs: `links_per_level` links and
    `non_links_per_level` pairs not linked, each allocated over weight bands by
    sample_allocation (sqrt(size), at least 2 a band). Drawn in DuckDB: within each stratum
    the pairs first in the order of a hash of their ids and the seed, so one seed gives one
    sample and only the sampled pairs are fetched. Each carries its stratum, stratum_size
    (N_h) and weight (N_h / n_h)."""
    db = _connection(con)
    sizes = stratum_sizes(pairs, level, db)
    parts = [
        sample_allocation(sizes.filter(pl.col("status") == status), n)
        for status, n in ((LINKED, links_per_level), (NOT_LINKED, non_links_per_level))
        if n > 0 and not sizes.filter(pl.col("status") == status).is_empty()
    ]
    if not parts:
        return empty_sample(level)
    wanted = pl.concat(parts).select("stratum", "pairs", "n")
    strata = level_pairs(pairs, level, db)  # noqa: F841 (read by the SQL)
    most = int(wanted["n"].max())
    drawn = db.sql(
        f"""WITH firsts AS (
                SELECT stratum, arg_min(struct_pack(unique_id_l, unique_id_r, match_weight, status, band),
                                        hash(unique_id_l, unique_id_r, {int(seed)}), {most}) AS firsts
                FROM strata WHERE stratum IN (SELECT stratum FROM wanted) GROUP BY stratum)
            SELECT * FROM (
                SELECT unnest(list_slice(f.firsts, 1, w.n), recursive := true), w.stratum,
                       w.pairs AS stratum_size, w.pairs / w.n AS weight, '{level}' AS level
                FROM firsts f JOIN wanted w USING (stratum))
            ORDER BY stratum, unique_id_l, unique_id_r"""
    ).pl()
    return drawn.select(empty_sample(level).columns)


def identity_true_persons_table(
    con: duckdb.DuckDBPyConnection,
    truth: pl.DataFrame | Path,
    records: str = PERSON_RECORDS_TABLE,
    name: str = TRUE_PERSONS,
    chunk_records: int = TRUTH_CHUNK_RECORDS,
) -> duckdb.DuckDBPyRelation:
    """identity_id -> true_person_id as a temporary table of `con`: the true person most of
    the identity's records belong to (quality.attach_truth maps records to the truth, the
    truth a frame or its parquet file), the smallest id on a tie. Records are mapped a share
    of record keys at a time (attach_truth works within a key), so polars holds one share;
    the votes are counted in DuckDB."""
    source = con.read_parquet(str(truth)) if isinstance(truth, Path) else truth  # noqa: F841 (read by the SQL)
    n_records = con.sql(f"SELECT count(*) FROM {records}").fetchone()[0]
    shares = max(1, -(-n_records // chunk_records))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TRUTH_VOTES} (identity_id BIGINT, true_person_id BIGINT, n BIGINT)")
    for share in range(shares):
        mine = f"hash(CAST(record_key AS VARCHAR)) % {shares} = {share}"
        frame = con.sql(f"SELECT identity_id, agency, record_type, record_key, slot FROM {records} WHERE {mine}").pl()
        truth_share = con.sql(f"SELECT * FROM source WHERE {mine}").pl()
        votes = (  # noqa: F841 (read by the SQL)
            attach_truth(frame, truth_share)
            .filter(pl.col("true_person_id").is_not_null())
            .group_by("identity_id", "true_person_id")
            .len("n")
        )
        con.execute(f"INSERT INTO {TRUTH_VOTES} SELECT identity_id, true_person_id, n FROM votes")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT identity_id, true_person_id FROM (
                SELECT identity_id, true_person_id, sum(n) AS n FROM {TRUTH_VOTES} GROUP BY ALL)
            QUALIFY row_number() OVER (PARTITION BY identity_id ORDER BY n DESC, true_person_id) = 1"""
    )
    con.execute(f"DROP TABLE {TRUTH_VOTES}")
    return con.table(name)


def identity_true_persons(
    con: duckdb.DuckDBPyConnection, truth: pl.DataFrame | Path, records: str = PERSON_RECORDS_TABLE
) -> pl.DataFrame:
    """identity_true_persons_table as a frame (identity_id, true_person_id), by identity."""
    return identity_true_persons_table(con, truth, records).order("identity_id").pl()


def truth_pair_labels(
    pairs: Pairs, persons: pl.DataFrame | duckdb.DuckDBPyRelation, con: duckdb.DuckDBPyConnection | None = None
) -> Pairs:
    """`pairs` with is_match from the truth: both identities' true persons known and equal
    (null where either is unknown)."""
    return _like(
        _connection(con).sql(
            """SELECT p.*, CASE WHEN tl.true_person_id IS NOT NULL AND tr.true_person_id IS NOT NULL
                                THEN tl.true_person_id = tr.true_person_id END AS is_match
               FROM pairs p LEFT JOIN persons tl ON tl.identity_id = p.unique_id_l
               LEFT JOIN persons tr ON tr.identity_id = p.unique_id_r"""
        ),
        pairs,
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


def label_sample(
    sample: pl.DataFrame,
    decisions: pl.DataFrame | None,
    persons: pl.DataFrame | duckdb.DuckDBPyRelation | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """The sample with is_match and label_source: a reviewer's decision where there is one,
    else the truth (where given; a relation of `con` or a frame); pairs left without a label
    are dropped from the estimates (unsure, or not reviewed yet)."""
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
        truth = truth_pair_labels(out.select("unique_id_l", "unique_id_r"), persons, con).rename({"is_match": "_truth"})
        out = (
            out.join(truth, on=["unique_id_l", "unique_id_r"], how="left")
            .with_columns(
                pl.col("label_source").fill_null(pl.when(pl.col("_truth").is_not_null()).then(pl.lit("truth"))),
                pl.col("is_match").fill_null(pl.col("_truth")),
            )
            .drop("_truth")
        )
    return out


def reviewed_as_sample(
    pairs: Pairs, decisions: pl.DataFrame, level: str, con: duckdb.DuckDBPyConnection | None = None
) -> pl.DataFrame:
    """Without a drawn sample's truth (production): every pair a reviewer decided, as the
    sample of its level's status and band (post-stratified: within a band, reviewed pairs
    stand for the band's pairs). Only the decided pairs are fetched."""
    db = _connection(con)
    sizes = stratum_sizes(pairs, level, db).select("stratum", pl.col("pairs").alias("stratum_size"))
    strata = level_pairs(pairs, level, db)  # noqa: F841 (read by the SQL)
    keys = decisions.select("unique_id_l", "unique_id_r")  # noqa: F841 (read by the SQL)
    decided = db.sql(f"SELECT s.* FROM strata s JOIN keys USING ({PAIR_KEY}) ORDER BY {PAIR_KEY}").pl()
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
    sizes: pl.DataFrame, labelled: pl.DataFrame, level: str, confidence: float = CONFIDENCE
) -> pl.DataFrame:
    """Per status and weight band of one level (and `all` per status): pairs in the band
    (`sizes`, stratum_sizes), sampled and labelled, the estimated error rate (links: share
    false; pairs not linked: share true, i.e. missed) with its interval
    (clerical.weighted_agreement, Korn-Graubard), and the estimated number of false or missed links."""
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


def truth_precision(
    pairs: Pairs,
    persons: pl.DataFrame | duckdb.DuckDBPyRelation,
    level: str,
    con: duckdb.DuckDBPyConnection | None = None,
) -> float | None:
    """The truth over every link of the level: the share whose identities are one true
    person (joined in DuckDB)."""
    db = _connection(con)
    links = db.sql(f"SELECT {PAIR_KEY} FROM pairs WHERE linked_{level}")
    labelled = truth_pair_labels(links, persons, db)  # noqa: F841 (read by the SQL)
    (share,) = db.sql("SELECT avg(CAST(is_match AS DOUBLE)) FROM labelled WHERE is_match IS NOT NULL").fetchone()
    return float(share) if share is not None else None


def level_links(sizes: pl.DataFrame) -> int:
    """Links at a level, from its stratum_sizes."""
    return int(sizes.filter(pl.col("status") == LINKED)["pairs"].sum())


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


def _sample_for_level(
    con: duckdb.DuckDBPyConnection,
    status: duckdb.DuckDBPyRelation,
    decisions: pl.DataFrame | None,
    persons: duckdb.DuckDBPyRelation | None,
    level: str,
    links_per_level: int,
    non_links_per_level: int,
    seed: int,
) -> pl.DataFrame:
    """The level's labelled sample: drawn where the truth can label it, else the reviewed
    pairs, else none."""
    if persons is not None:
        sample = draw_pair_sample(status, level, links_per_level, non_links_per_level, seed, con)
    elif decisions is not None:
        sample = reviewed_as_sample(status, decisions, level, con)
    else:
        sample = empty_sample(level)
    return label_sample(sample, decisions, persons, con)


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
    and the labelled sample, indicators from the warehouse's event tables (when given).
    The pairs and the truth stay in DuckDB (temporary tables of `identified`, dropped at the
    end): what is fetched is counts and the sample, whatever the number of records and pairs."""
    rates = published_link_rates(link_rates(link_outcomes(identified)))
    try:
        pairs = scored_pairs_table(identified)
        decisions = review_decisions(identified)
        persons = identity_true_persons_table(identified, truth_file) if truth_file else None
        # without the truth the sample is the reviewed pairs, whose spine status the review set
        status = pairs if persons is not None or decisions is None else before_review(pairs, con=identified)
        labelled_parts, errors, precision = [], [], []
        for level in LEVELS:
            labelled = _sample_for_level(
                identified, status, decisions, persons, level, links_per_level, non_links_per_level, seed
            )
            labelled_parts.append(labelled)
            sizes = stratum_sizes(status, level, identified)
            level_errors = error_by_band(sizes, labelled, level)
            errors.append(level_errors)
            est = estimated_precision(labelled, level)
            est["links"] = level_links(sizes)
            est["estimated_recall_scored"] = estimated_recall(level_errors, est, est["links"])
            est["truth_precision"] = (
                truth_precision(status, persons, level, identified) if persons is not None else None
            )
            precision.append(est)
        histogram = weight_histogram(pairs, con=identified)
    finally:
        for table in (SCORED_PAIRS, TRUE_PERSONS):
            identified.execute(f"DROP TABLE IF EXISTS temp.{table}")
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
        weight_histogram=published_histogram(histogram),
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
