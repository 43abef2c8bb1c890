"""The clerical review sample of one linkage level (NZ study, paras 92-100), drawn and
exported: cohort children sampled by outcome group (any child-protection record) and
weakest-link weight band, about one in five reviewed with their associated adults (NZ
Table 5); where the synthetic truth exists it plays the reviewer (clerical.py holds the
sampling and the weighted agreement; this module runs them for a level)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cmi_assets.linkage.clerical import (
    associated_adult_clusters,
    child_review_units,
    export_review_file,
    review_pairs,
    stratified_sample,
    weighted_agreement,
)
from cmi_assets.linkage.quality import attach_truth
from cmi_assets.linkage.tables import CLUSTERS_TABLE, LINKS_TABLE, PAIRS_TABLE, PERSON_RECORDS_TABLE

CP_CLUSTERS_SQL = (
    "SELECT DISTINCT c.cluster_id FROM {clusters} c JOIN {records} r USING (unique_id) "
    "WHERE c.level = '{level}' AND r.agency = 'child_protection'"
)


@dataclass(frozen=True)
class LinkageTables:
    records: str = PERSON_RECORDS_TABLE
    links: str = LINKS_TABLE
    clusters: str = CLUSTERS_TABLE
    pairs: str = PAIRS_TABLE


@dataclass
class LevelSample:
    sampled: dict
    strata: pl.DataFrame | None = None
    agreement: dict[str, dict] = field(default_factory=dict)  # "<level> child" / "<level> family" -> estimate
    children: int = 0


def truth_agreement(con, clusters: dict, truth_path: Path, records_table: str) -> dict:
    """Per cluster and level: does it hold exactly one true person's records, all of them
    (the synthetic truth plays the clerical reviewer)."""
    records = con.sql(f"SELECT unique_id, agency, record_type, record_key, slot FROM {records_table}").pl()
    with_truth = attach_truth(records, pl.read_parquet(truth_path)).filter(pl.col("true_person_id").is_not_null())
    per_person = with_truth.group_by("true_person_id").len("person_n")
    out = {}
    for level, level_clusters in clusters.items():
        labelled = with_truth.join(level_clusters.select("unique_id", "cluster_id"), on="unique_id")
        per_cluster = labelled.group_by("cluster_id").agg(
            pl.col("true_person_id").n_unique().alias("people"),
            pl.col("true_person_id").first().alias("pid"),
            pl.len().alias("n"),
        )
        out[level] = per_cluster.join(per_person, left_on="pid", right_on="true_person_id").select(
            "cluster_id", ((pl.col("people") == 1) & (pl.col("n") == pl.col("person_n"))).alias("agrees")
        )
    return out


def level_units(con, tables: LinkageTables, level: str, level_clusters: pl.DataFrame) -> pl.DataFrame:
    """One level's cohort children (clerical.child_review_units) with their outcome group:
    cp_record where the child's cluster holds a child-protection record."""
    units = child_review_units(con, level_clusters, tables.links, level)
    if units.is_empty():
        return units
    cp = con.sql(CP_CLUSTERS_SQL.format(clusters=tables.clusters, records=tables.records, level=level)).pl()
    return units.with_columns(
        pl.when(pl.col("cluster_id").is_in(cp["cluster_id"].implode()))
        .then(pl.lit("cp_record"))
        .otherwise(pl.lit("no_cp_record"))
        .alias("outcome_group")
    )


def sample_level(
    con,
    tables: LinkageTables,
    level: str,
    level_clusters: pl.DataFrame,
    review_dir: Path,
    children_per_level: int,
    family_share: float,
    seed: int,
    truth_agrees: pl.DataFrame | None = None,
) -> LevelSample:
    """Sample one level's children, write review_<level>.csv, and, given the truth's verdict
    per cluster, the weighted agreement of the children and of the families."""
    units = level_units(con, tables, level, level_clusters)
    if units.is_empty():
        return LevelSample(sampled={"sampled children": 0})
    sample = stratified_sample(units, ["outcome_group", "weight_band"], children_per_level, seed)
    # about one in five sampled children reviewed with their associated adults (NZ Table 5)
    n_family = max(1, round(sample.height * family_share))
    family_units = sample.sample(n=min(n_family, sample.height), seed=seed).select("unit_id", "cluster_id")
    adults = associated_adult_clusters(con, level_clusters, family_units)
    review = review_pairs(con, sample, level_clusters, tables.pairs)
    adult_review = review_pairs(
        con,
        adults.select("unit_id", pl.col("adult_cluster_id").alias("cluster_id")).unique(),
        level_clusters,
        tables.pairs,
    )
    rows = export_review_file(
        pl.concat([review, adult_review]).unique(maintain_order=True), review_dir / f"review_{level}.csv"
    )
    out = LevelSample(
        sampled={"sampled children": sample.height, "children with adults": family_units.height, "review pairs": rows},
        strata=sample.group_by("stratum")
        .agg(
            pl.col("stratum_size").first().alias("children"),
            pl.len().alias("sampled"),
            pl.col("weight").first().alias("weight"),
        )
        .sort("stratum"),
        children=sample.height,
    )
    if truth_agrees is not None:
        labelled = sample.join(truth_agrees, on="cluster_id", how="left").with_columns(
            pl.col("agrees").fill_null(False)
        )
        out.agreement[f"{level} child"] = weighted_agreement(labelled)
        family = (
            family_units.join(adults, on="unit_id", how="left")
            .join(
                truth_agrees.rename({"cluster_id": "adult_cluster_id", "agrees": "adult_agrees"}),
                on="adult_cluster_id",
                how="left",
            )
            .group_by("unit_id")
            .agg(pl.col("adult_agrees").fill_null(True).all())
        )
        family = labelled.join(family, on="unit_id").with_columns(
            (pl.col("agrees") & pl.col("adult_agrees")).alias("family_agrees")
        )
        if family.height:
            out.agreement[f"{level} family"] = weighted_agreement(family, "family_agrees")
    return out


REVIEW_SUBDIR = ("linkage", "review")  # under the data folder: the review files hold names and DOBs


@dataclass
class ClericalSample:
    children: int = 0  # sampled children over both levels
    sampled: dict[str, dict] = field(default_factory=dict)  # level -> counts
    strata: dict[str, pl.DataFrame] = field(default_factory=dict)  # level -> strata (levels with units)
    agreement: dict[str, dict] = field(default_factory=dict)  # "<level> child" / "<level> family" -> estimate
    children_by_level: dict[str, int] = field(default_factory=dict)

    def headline(self) -> dict[str, float]:
        """Each level's weighted child agreement, where the truth played the reviewer."""
        return {
            f"{level}/agreement": self.agreement[f"{level} child"]["estimate"]
            for level in self.children_by_level
            if f"{level} child" in self.agreement
        }

    def log_lines(self) -> list[str]:
        """One line per level with an agreement: children sampled and the weighted agreement."""
        return [
            f"{level}: {children} children sampled; weighted agreement {estimate['estimate']:.4f} "
            f"(95% CI {estimate['ci_low']:.4f}-{estimate['ci_high']:.4f})"
            for level, children in self.children_by_level.items()
            if (estimate := self.agreement.get(f"{level} child")) is not None
        ]


def sample_levels(
    con,
    clusters: dict[str, pl.DataFrame],
    review_dir: Path,
    children_per_level: int,
    family_share: float,
    seed: int,
    truth_file: Path | None = None,
    tables: LinkageTables = LinkageTables(),
) -> ClericalSample:
    """Every level's sample and review file (sample_level), the truth playing the reviewer
    where a truth file is given."""
    truth_agrees = truth_agreement(con, clusters, truth_file, tables.records) if truth_file else None
    out = ClericalSample()
    for level, level_frame in clusters.items():
        drawn = sample_level(
            con,
            tables,
            level,
            level_frame,
            review_dir,
            children_per_level,
            family_share,
            seed,
            truth_agrees[level] if truth_agrees is not None else None,
        )
        out.children += drawn.children
        out.children_by_level[level] = drawn.children
        out.sampled[level] = drawn.sampled
        if drawn.strata is not None:
            out.strata[level] = drawn.strata
        out.agreement.update(drawn.agreement)
    return out
