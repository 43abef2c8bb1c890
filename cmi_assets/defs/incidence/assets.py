"""Child maltreatment incidence as assets, one partition per birth cohort, both linkage
levels in one run (cmi_assets/incidence/ is the library; this module reads, writes and
reports):

  event_tables (analysis zone)
    -> incidence_rates       sources.cohort_children, rates   (per 1,000 by source and union, groups, KM)
    -> incidence_overlap     overlap                          (the 2^k inclusion table by age 5)
    -> incidence_estimate    estimate, loglinear              (multiple-systems estimation)
    -> incidence_linkage_comparison                           (each headline at both levels and the truth)
    -> incidence_report      report                           (markdown, PNG, HTML)

Analysis zone only, schema `incidence`, keyed by person_key; published tables and metadata
carry counts and rates after small-cell suppression, never a person_key.
"""

import dagster as dg
import polars as pl

from cmi_assets.cohorts.outcomes import latest_notification_date
from cmi_assets.defs.cohorts.partitions import BIRTH_YEARS
from cmi_assets.defs.incidence.checks import estimate_check, overlap_check
from cmi_assets.defs.preset import group_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.incidence import (
    ANY,
    LISTS,
    SOURCES,
    cohort_children,
    cumulative_incidence,
    estimate_from_overlap,
    headline,
    list_flags,
    models_table,
    observed_counts,
    overlap_table,
    published_curves,
    published_rates,
    union_count,
)
from cmi_assets.incidence import incidence_rates as rates_of
from cmi_assets.incidence.rates import headline_rate, suppress_small_counts
from cmi_assets.incidence.report import build_report, write_html
from cmi_assets.incidence.schema import ESTIMATE_COLUMNS, HEADLINE_COLUMNS, OVERLAP_COLUMNS, RATES_COLUMNS, conform
from cmi_assets.incidence.truth import truth_headline
from cmi_assets.linkage.tables import LEVELS
from cmi_assets.metadata import frame_table, number, table_metadata, transposed
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import read_table, replace_partition_rows

GROUP = "incidence"
OWNERS = ["team:prm-analytics"]
incidence_asset = group_asset(GROUP, OWNERS, partitions_def=BIRTH_YEARS)
CHILDREN_TABLE = "incidence.children"
RATES_TABLE = "incidence.rates"
CURVES_TABLE = "incidence.cumulative"
OVERLAP_TABLE = "incidence.overlap"
MODELS_TABLE = "incidence.models"
ESTIMATE_TABLE = "incidence.estimate"
COMPARISON_TABLE = "incidence.linkage_comparison"
REPORT_SUBDIR = ("reports", "incidence")


def _read_year(con, table: str, birth_year: int) -> pl.DataFrame:
    return read_table(con, table, "where birth_year = ?", [birth_year])


def _write_year(con, table: str, frame: pl.DataFrame, birth_year: int) -> int:
    return replace_partition_rows(
        con, table, frame.with_columns(pl.lit(birth_year).alias("birth_year")), "birth_year", birth_year
    )


@incidence_asset(
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, RATES_TABLE, RATES_COLUMNS),
    deps=["event_tables"],
)
def incidence_rates(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Incidence of a first record per 1,000 children of the birth cohort's study population, at both linkage
    levels: by source (CP finding, CP notification, police FV contact, hospital maltreatment injury) and for
    the unduplicated union (each child once), by age 1-5 (cumulative and in the year of age), overall and by
    sex, ethnicity, deprivation decile and county, with exact Poisson intervals; Kaplan-Meier cumulative
    incidence by age in months. Small cells suppressed (under 11). Tables incidence.rates,
    incidence.cumulative and the child-level incidence.children (person_key only)."""

    birth_year = int(context.partition_key)
    children, rates, curves, headlines = [], [], [], {}
    with storage.warehouse() as con:
        for level in LEVELS:
            table = cohort_children(con, birth_year, level)
            level_rates = rates_of(table)
            headlines[level] = {f"{s}_per_1000": headline_rate(level_rates, s)["rate_per_1000"] for s in _sources()}
            headlines[level]["population_followed_to_5"] = headline_rate(level_rates)["population"]
            tag = pl.lit(level).alias("linkage_level")
            children.append(table.with_columns(tag))
            rates.append(published_rates(level_rates).with_columns(tag))
            curves.append(published_curves(cumulative_incidence(table)).with_columns(tag))
        written = _write_year(con, CHILDREN_TABLE, pl.concat(children).drop("birth_year"), birth_year)
        rates_written = _write_year(con, RATES_TABLE, conform(pl.concat(rates), RATES_COLUMNS[:-1]), birth_year)
        _write_year(con, CURVES_TABLE, pl.concat(curves, how="diagonal_relaxed"), birth_year)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rates_written,
            "children_rows": written,
            "children_conservative": children[0].height,
            "children_less_conservative": children[1].height,
            "any_per_1000_conservative": number(headlines["conservative"]["any_per_1000"]),
            "rates_by_age_5": transposed({lv: {k: number(v) for k, v in h.items()} for lv, h in headlines.items()}),
        }
    )


def _sources() -> tuple[str, ...]:
    return (*SOURCES, ANY)


@incidence_asset(
    kinds={"duckdb", "polars"},
    check_specs=[dg.AssetCheckSpec("overlap_cells_sum_to_union", asset="incidence_overlap")],
    metadata=table_metadata(WAREHOUSE, OVERLAP_TABLE, OVERLAP_COLUMNS),
    deps=["incidence_rates"],
)
def incidence_overlap(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The 2^k inclusion table of the cohort's children followed up to age 5, at both linkage levels: how many
    children each combination of lists (CP, police FV, hospital) recorded by age 5; the all-none cell is
    unknown. The input of incidence_estimate; the check confirms its cells sum to the union count. Table
    incidence.overlap (counts; the metadata shows cells under 11 as suppressed)."""

    birth_year = int(context.partition_key)

    def level_overlap(children: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        flags = list_flags(children)
        return overlap_table(flags).with_columns(pl.lit(flags.height).alias("population")), union_count(flags)

    with storage.warehouse() as con:
        overlap, unions = _per_level(_read_year(con, CHILDREN_TABLE, birth_year), level_overlap)
        written = _write_year(con, OVERLAP_TABLE, conform(overlap, OVERLAP_COLUMNS[:-1]), birth_year)
    conservative = overlap.filter(pl.col("linkage_level") == "conservative")
    shown = suppress_small_counts(conservative, ("children",), "children", "population").drop("population")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "union_conservative": unions["conservative"],
            "union_less_conservative": unions["less_conservative"],
            "overlap_conservative": frame_table(shown.select(*LISTS, "children", "suppressed")),
        },
        check_results=[overlap_check(overlap, unions)],
    )


@incidence_asset(
    kinds={"duckdb", "numpy", "scipy"},
    check_specs=[dg.AssetCheckSpec("estimate_identifiable_and_finite", asset="incidence_estimate")],
    metadata=table_metadata(WAREHOUSE, ESTIMATE_TABLE, ESTIMATE_COLUMNS),
    deps=["incidence_overlap"],
)
def incidence_estimate(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Multiple-systems estimate of the cohort's children maltreated by age 5 whom no agency recorded, at both
    linkage levels: every hierarchical log-linear Poisson model up to two-way interactions on the inclusion
    table and the heterogeneity models of Rcapture's closedp (Darroch, Poisson2 and Gamma3.5 terms beside the
    main effects and the two-way terms that stay identifiable), as Poisson GLMs, with AIC, BIC, AIC weight and
    profile-likelihood 95% interval. The headline total is the AIC-weighted average of the identifiable models
    with the model-averaged tail-area profile interval (Fletcher and Turek 2012), which carries the
    uncertainty of choosing the model; the selected model (least AIC among identifiable ones that leave a
    degree of freedom) is shown beside it with a selection-aware interval (the selection rerun on bootstrap
    tables drawn from the averaged fit, Buckland, Burnham and Augustin 1997; percentile interval widened to
    hold the model's own profile interval, which is shown too), and the independence model with its own
    interval. Also an identifiability flag for sparse overlaps, each list's completeness, known and estimated
    undetected per 1,000. Tables incidence.models and incidence.estimate."""

    birth_year = int(context.partition_key)

    def level_estimate(overlap: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        ordered = _pattern_order(overlap)
        estimate = estimate_from_overlap(ordered, list(LISTS))
        population = int(ordered["population"][0]) if ordered.height else 0
        return models_table(estimate), headline(estimate, observed_counts(ordered), population)

    with storage.warehouse() as con:
        models, headlines = _per_level(_read_year(con, OVERLAP_TABLE, birth_year), level_estimate)
        rows = conform(
            pl.DataFrame([{"linkage_level": lv, **h} for lv, h in headlines.items()], infer_schema_length=None),
            ESTIMATE_COLUMNS[:-1],
        )
        _write_year(con, MODELS_TABLE, models, birth_year)
        written = _write_year(con, ESTIMATE_TABLE, rows, birth_year)
    main = headlines["conservative"]
    shown_models = models.filter(pl.col("linkage_level") == "conservative").select(
        "model", "aic", "bic", "aic_weight", "total", "total_lower", "total_upper", "identifiable", "selected"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "headline": main["headline_method"],
            "known_per_1000": number(main["known_per_1000"]),
            "undetected_per_1000": number(main["undetected_per_1000"]),
            "total": number(main["total"]),
            "total_lower": number(main["total_lower"]),
            "total_upper": number(main["total_upper"]),
            "selected_model": main["selected_model"] or "none identifiable",
            "selected_total": number(main["selected_total"]),
            "selected_lower": number(main["selected_lower"]),
            "selected_upper": number(main["selected_upper"]),
            "selected_profile_lower": number(main["selected_profile_lower"]),
            "selected_profile_upper": number(main["selected_profile_upper"]),
            "independence_total": number(main["independence_total"]),
            "independence_lower": number(main["independence_lower"]),
            "independence_upper": number(main["independence_upper"]),
            "by_level": transposed(
                {lv: {k: number(v) if isinstance(v, float) else v for k, v in h.items()} for lv, h in headlines.items()}
            ),
            "models_conservative": frame_table(shown_models),
        },
        check_results=[estimate_check(headlines)],
    )


def _per_level(frame: pl.DataFrame, build) -> tuple[pl.DataFrame, dict]:
    """`build` on each linkage level's rows of `frame`, which returns a frame and a summary:
    the frames tagged with their level and stacked, and the summaries by level."""
    frames, summaries = [], {}
    for level in LEVELS:
        part, summaries[level] = build(frame.filter(pl.col("linkage_level") == level))
        frames.append(part.with_columns(pl.lit(level).alias("linkage_level")))
    return pl.concat(frames), summaries


def _pattern_order(overlap: pl.DataFrame) -> pl.DataFrame:
    """Rows in inclusion_patterns order (the first list the most significant bit)."""
    k = len(LISTS)
    code = sum(pl.col(name).cast(pl.Int64) * (2 ** (k - 1 - j)) for j, name in enumerate(LISTS))
    return overlap.with_columns(code.alias("_code")).sort("_code").drop("_code")


@incidence_asset(
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, COMPARISON_TABLE, HEADLINE_COLUMNS),
    deps=["incidence_estimate", "incidence_rates"],
)
def incidence_linkage_comparison(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Each headline figure at the conservative and the less conservative linkage level, and the synthetic
    world's truth where there is one (Storage.truth_dir: children.parquet and maltreatment_episodes.parquet):
    population followed to age 5, children known to an agency, the estimated total and undetected, per 1,000.
    A restrictive linkage splits children and so changes both the union and the overlaps (in Alaska's
    ALCANLink, overly restrictive linkage biased the incidence down; Parrish et al. 2017). Table
    incidence.linkage_comparison."""

    birth_year = int(context.partition_key)
    columns = [name for name, _, _ in HEADLINE_COLUMNS[1:-1]]
    with storage.warehouse() as con:
        estimate = _read_year(con, ESTIMATE_TABLE, birth_year)
        end = latest_notification_date(con, "conservative")
        rows = estimate.select("linkage_level", *columns)
        truth_dir = storage.storage().truth_dir
        files = (truth_dir / "children.parquet", truth_dir / "maltreatment_episodes.parquet")
        has_truth = all(f.exists() for f in files) and end is not None
        if has_truth:
            children = pl.read_parquet(files[0], columns=["true_person_id", "dob", "birth_year", "in_study_population"])
            truth = truth_headline(children, pl.read_parquet(files[1]), birth_year, end)
            rows = pl.concat([rows, pl.DataFrame([{"linkage_level": "truth", **truth}])], how="diagonal_relaxed")
        written = _write_year(con, COMPARISON_TABLE, conform(rows, HEADLINE_COLUMNS[:-1]), birth_year)
    context.log.info(f"cohort {birth_year}: {rows.height} rows{'' if has_truth else ' (no synthetic truth)'}")
    shown = {
        r["linkage_level"]: {c: number(r[c]) if isinstance(r[c], float) else r[c] for c in columns if c in r}
        for r in rows.iter_rows(named=True)
    }
    return dg.MaterializeResult(
        metadata={"dagster/row_count": written, "truth_available": has_truth, "comparison": transposed(shown)}
    )


@incidence_asset(
    kinds={"html", "matplotlib"},
    deps=["incidence_linkage_comparison", "incidence_rates", "incidence_overlap"],
)
def incidence_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The cohort's incidence report: one sentence a reader can quote (known per 1,000 by age 5 and the
    estimated undetected), cumulative incidence curves by source and group, an UpSet-style chart of the
    overlap, the estimate with its interval beside the independence model and the truth; markdown and PNGs
    here, one HTML file per cohort under $CMI_DATA_DIR/reports/incidence/. Published (suppressed) tables
    only."""

    birth_year = int(context.partition_key)
    level = pl.col("linkage_level") == "conservative"
    with storage.warehouse(read_only=True) as con:
        curves = _read_year(con, CURVES_TABLE, birth_year).filter(level)
        overlap = _read_year(con, OVERLAP_TABLE, birth_year).filter(level)
        comparison = _read_year(con, COMPARISON_TABLE, birth_year)
        estimate = _read_year(con, ESTIMATE_TABLE, birth_year).filter(level)
        rates = _read_year(con, RATES_TABLE, birth_year).filter(level)
    if estimate.is_empty():
        raise dg.Failure(description=f"no incidence estimate for {birth_year}: materialize incidence_estimate first")
    overlap = suppress_small_counts(overlap, ("children",), "children", "population")
    by_source = rates.filter(
        (pl.col("group_type") == "all") & (pl.col("measure") == "by_age") & (pl.col("age") == 5)
    ).select("source", "children", "population", "rate_per_1000", "lower_per_1000", "upper_per_1000")
    head = estimate.row(0, named=True)
    report = build_report(birth_year, head, curves, overlap, comparison, by_source)
    path = write_html(report, storage.storage().data_dir.joinpath(*REPORT_SUBDIR))
    return dg.MaterializeResult(
        metadata={
            "sentence": dg.MetadataValue.md(report.sentence),
            "known_per_1000": number(head["known_per_1000"]),
            "undetected_per_1000": number(head["undetected_per_1000"]),
            "curves": dg.MetadataValue.md(report.image_markdown("curves")),
            "overlap": dg.MetadataValue.md(report.image_markdown("overlap")),
            "estimate": dg.MetadataValue.md(report.image_markdown("estimate")),
            "by_source": frame_table(by_source),
            "report_html": dg.MetadataValue.path(str(path)),
        }
    )


INCIDENCE_ASSETS = [
    incidence_rates,
    incidence_overlap,
    incidence_estimate,
    incidence_linkage_comparison,
    incidence_report,
]
