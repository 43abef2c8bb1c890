"""Clerical review of the linkage, as in the NZ study (section 5, paras 92-100).

- Units: the cohort's children, one per birth registration (a duplicate-free register),
  each reviewed as the cluster holding that registration.
- A stratified random sample by outcome group (NZ Table 4 over-samples children with
  maltreatment findings) and match-weight band (the weakest link inside the cluster), about
  500 children; for about one in five of them the child and all associated adults (Table 5).
- Weighted agreement estimates with 95% CIs (stratified estimator; Korn-Graubard
  Clopper-Pearson interval on the effective sample size, which stays inside [0, 1] and
  does not collapse when every sampled child agrees, as Table 4's 97.5-100.0 does not).
- A review file of the pairs side by side (only the identity fields being compared) and the
  reviewed labels read back as a labels table for Splink's accuracy analysis.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
from scipy import stats
from splink import Linker

from cmi_assets.linkage.engine import duckdb_api, register_input
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE
from cmi_assets.linkage.predict import register_tf_tables
from cmi_assets.linkage.review_fields import REVIEW_FIELDS
from cmi_assets.linkage.sampling import stratum_allocation

COHORT_SLOT = ("births", "registrations", "child")
WEIGHT_BANDS = ((None, 10.0, "<10"), (10.0, 15.0, "10-15"), (15.0, 20.0, "15-20"), (20.0, None, ">=20"))
NO_LINK_BAND = "no links"


def weight_band(weight: pl.Expr) -> pl.Expr:
    return band_of(weight, WEIGHT_BANDS, NO_LINK_BAND)


def band_of(weight: pl.Expr, bands, outside: str | None) -> pl.Expr:
    """The label of the [low, high) band (None: unbounded) a weight falls in; `outside`
    for a null weight or one in no band."""
    out = pl.lit(outside, pl.String)
    for low, high, label in bands:
        condition = pl.lit(True)
        if low is not None:
            condition = condition & (weight >= low)
        if high is not None:
            condition = condition & (weight < high)
        out = pl.when(weight.is_not_null() & condition).then(pl.lit(label)).otherwise(out)
    return out


def child_review_units(
    con: duckdb.DuckDBPyConnection,
    clusters: pl.DataFrame,
    links_table: str,
    level: str,
    records_table: str = PERSON_RECORDS_TABLE,
    cohort_slot: tuple[str, str, str] = COHORT_SLOT,
) -> pl.DataFrame:
    """One row per cohort child: unit_id (the registration's unique_id), cluster_id, the
    weakest link weight inside the cluster and its band."""
    agency, record_type, slot = cohort_slot
    cohort = con.sql(
        f"SELECT unique_id FROM {records_table} WHERE agency = '{agency}' AND record_type = '{record_type}' AND slot = '{slot}'"
    ).pl()
    links = con.sql(f"SELECT unique_id_l, match_weight FROM {links_table} WHERE is_link_{level}").pl()
    member = clusters.select("unique_id", "cluster_id")
    identity_cluster = clusters.select("identity_id", "cluster_id").unique()
    weakest = (
        links.join(identity_cluster, left_on="unique_id_l", right_on="identity_id")
        .group_by("cluster_id")
        .agg(pl.col("match_weight").min().alias("weakest_link_weight"))
    )
    units = (
        cohort.join(member, on="unique_id").rename({"unique_id": "unit_id"}).join(weakest, on="cluster_id", how="left")
    )
    return units.with_columns(weight_band(pl.col("weakest_link_weight")).alias("weight_band"))


def stratified_sample(
    units: pl.DataFrame, strata: list[str], n_total: int, seed: int, allocation: dict[Any, float] | None = None
) -> pl.DataFrame:
    """A stratified random sample. Allocation: proportional to sqrt(stratum size) by
    default (small strata, such as children with findings, are over-sampled as in NZ
    Table 4), or the given relative shares by stratum key. Each sampled unit carries its
    stratum, the stratum's population size and its sampling weight N_h / n_h."""
    rng = np.random.default_rng(seed)
    frame = units.with_columns(
        pl.concat_str([pl.col(s).cast(pl.String).fill_null("") for s in strata], separator="|").alias("stratum")
    )
    sizes = frame.group_by("stratum").len("stratum_size").sort("stratum")
    shares = [allocation.get(s, 0.0) for s in sizes["stratum"]] if allocation else None
    wanted = stratum_allocation(sizes["stratum_size"].to_numpy(), n_total, shares)
    picked = []
    for (stratum, size), n in zip(sizes.iter_rows(), wanted):
        members = frame.filter(pl.col("stratum") == stratum).sort("unit_id")
        rows = np.sort(rng.choice(size, size=int(n), replace=False))
        picked.append(
            members[rows].with_columns(pl.lit(int(size)).alias("stratum_size"), pl.lit(size / n).alias("weight"))
        )
    return pl.concat(picked)


def weighted_agreement(
    sample: pl.DataFrame, outcome: str = "agrees", confidence: float = 0.95
) -> dict[str, float | int]:
    """Stratified estimate of the share agreeing, with a Korn-Graubard 95% CI.

    p = sum_h W_h p_h (W_h = N_h / N); var = sum_h W_h^2 (1 - f_h) p_h (1 - p_h) / (n_h - 1);
    the interval is Clopper-Pearson at the effective sample size p (1 - p) / var (the
    actual size when every sampled unit agrees or none does)."""
    by = sample.group_by("stratum").agg(
        pl.col("stratum_size").first().alias("N"),
        pl.len().alias("n"),
        pl.col(outcome).cast(pl.Float64).mean().alias("p"),
    )
    N = by["N"].to_numpy().astype(float)
    n = by["n"].to_numpy().astype(float)
    p_h = by["p"].to_numpy()
    W = N / N.sum()
    p = float((W * p_h).sum())
    var = float((W**2 * (1 - n / N) * p_h * (1 - p_h) / np.maximum(n - 1, 1)).sum())
    n_total = int(n.sum())
    n_eff = min(p * (1 - p) / var, n_total) if var > 0 else n_total
    x = p * n_eff
    alpha = 1 - confidence
    low = float(stats.beta.ppf(alpha / 2, x, n_eff - x + 1)) if x > 0 else 0.0
    high = float(stats.beta.ppf(1 - alpha / 2, x + 1, n_eff - x)) if x < n_eff else 1.0
    return {"estimate": p, "ci_low": low, "ci_high": high, "sampled": n_total, "effective_n": float(n_eff)}


def associated_adult_clusters(
    con: duckdb.DuckDBPyConnection,
    clusters: pl.DataFrame,
    unit_clusters: pl.DataFrame,
    records_table: str = PERSON_RECORDS_TABLE,
) -> pl.DataFrame:
    """For each unit (unit_id, cluster_id): the clusters of the adults named on the same
    source records as the child (parents on the registration, caregivers on notifications)."""
    records = con.sql(f"SELECT unique_id, agency, record_type, record_key, role FROM {records_table}").pl()
    member = records.join(clusters.select("unique_id", "cluster_id"), on="unique_id")
    child_records = (
        unit_clusters.select("unit_id", "cluster_id")
        .join(member, on="cluster_id")
        .select("unit_id", "agency", "record_type", "record_key")
    )
    adults = member.filter(pl.col("role") == "adult").select(
        "agency", "record_type", "record_key", pl.col("cluster_id").alias("adult_cluster_id")
    )
    return (
        child_records.join(adults, on=["agency", "record_type", "record_key"])
        .select("unit_id", "adult_cluster_id")
        .unique()
    )


def review_pairs(
    con: duckdb.DuckDBPyConnection,
    sample: pl.DataFrame,
    clusters: pl.DataFrame,
    pairs_table: str,
    identities_table: str = IDENTITIES_TABLE,
    min_match_weight: float = 0.0,
) -> pl.DataFrame:
    """The pairs a reviewer looks at for each sampled unit: every scored pair touching an
    identity of the unit's cluster (links and near-misses above min_match_weight), with
    only the compared identity fields of both sides."""
    member = (
        clusters.select("identity_id", "cluster_id")
        .unique()
        .join(sample.select("unit_id", "cluster_id"), on="cluster_id")
    )
    ids = member.select(pl.col("identity_id").alias("unique_id"), "unit_id")
    pairs = con.sql(
        f"SELECT unique_id_l, unique_id_r, match_weight, match_probability FROM {pairs_table} WHERE match_weight >= {min_match_weight}"
    ).pl()
    touching = pl.concat(
        [
            pairs.join(ids, left_on="unique_id_l", right_on="unique_id"),
            pairs.join(ids, left_on="unique_id_r", right_on="unique_id"),
        ]
    ).unique(["unit_id", "unique_id_l", "unique_id_r"])
    fields = con.sql(f"SELECT unique_id, {', '.join(REVIEW_FIELDS)} FROM {identities_table}").pl()
    side_l = fields.rename({c: f"{c}_l" for c in REVIEW_FIELDS})
    side_r = fields.rename({c: f"{c}_r" for c in REVIEW_FIELDS})
    out = touching.join(side_l, left_on="unique_id_l", right_on="unique_id").join(
        side_r, left_on="unique_id_r", right_on="unique_id"
    )
    ordered = ["unit_id", "unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    for c in REVIEW_FIELDS:
        ordered += [f"{c}_l", f"{c}_r"]
    return (
        out.select(ordered)
        .with_columns(pl.lit(None, pl.Float64).alias("clerical_match_score"))
        .sort("unit_id", "match_weight", descending=[False, True])
    )


def export_review_file(review: pl.DataFrame, path: Path) -> int:
    """Write the review file (CSV; identified zone only: it holds names and DOBs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    review.write_csv(path)
    return review.height


def load_review_labels(path: Path) -> pl.DataFrame:
    """Reviewed labels as a Splink labels table (unique_id_l, unique_id_r,
    clerical_match_score in [0, 1]); unlabelled rows are dropped. A score outside [0, 1]
    is an error naming the file and row, not the value."""
    frame = pl.read_csv(path, infer_schema=False)
    labels = frame.select(
        pl.col("unique_id_l").cast(pl.Int64),
        pl.col("unique_id_r").cast(pl.Int64),
        pl.col("clerical_match_score").cast(pl.Float64, strict=False),
    ).with_row_index("row", offset=2)
    bad = labels.filter(pl.col("clerical_match_score").is_not_null() & ~pl.col("clerical_match_score").is_between(0, 1))
    if bad.height:
        raise ValueError(
            f"{Path(path).name}: row {bad['row'][0]}, field clerical_match_score: score must be between 0 and 1"
        )
    return labels.drop_nulls("clerical_match_score").drop("row").unique(["unique_id_l", "unique_id_r"], keep="last")


def accuracy_from_labels(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    labels: pl.DataFrame,
    records_table: str = IDENTITIES_TABLE,
    threshold_match_probability: float = 0.5,
) -> pl.DataFrame:
    """Splink's accuracy analysis (precision, recall by threshold) of the model against
    the clerical labels (linker.evaluation.accuracy_analysis_from_labels_table)."""
    db_api = duckdb_api(con)
    records = register_input(db_api, con, records_table)
    # Splink's accuracy analysis needs the matching columns in its scored pairs
    model = {**artefact["model"], "retain_matching_columns": True}
    linker = Linker(records, model, log_level=logging.WARNING)
    register_tf_tables(linker, db_api, con, artefact)
    labels_frame = db_api.register(labels.to_pandas())
    table = linker.evaluation.accuracy_analysis_from_labels_table(
        labels_frame, output_type="table", threshold_match_probability=threshold_match_probability
    )
    return pl.from_pandas(table.as_pandas_dataframe())
