"""The oracle: the synthetic world's true risk of each child, keyed by person_key, so the
model's AUC can be set beside the best AUC any model could reach on the same children
(issue: "the AUC of the oracle beside the model's").

The truth (children.parquet: true risk per `true_person_id`; record_persons.parquet: the
true person of every record slot) knows nothing of person_key. A true child is given the
person_key of its own birth-registration record slot at each linkage level, and of its
benefit-inclusion slots (the only slots of a child never registered): the records that put
a child in the study population (NZ para 39), so every cohort child has one. Linkage errors
show up in two ways, both counted: a child whose records the linkage left apart (a missed
match, mostly under the conservative linkage) has several person_keys, each carrying the
child's risk (`split_children`); a person_key given to two true children (a false merge,
e.g. twins) carries the mean of their risks (`shared_keys`).

Everything here runs on frames handed in by the caller (the identified-zone tables and the
truth files); the output holds person_key, linkage level, birth year and risks only.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# (agency, record_type, slot) of the records that place a child in the study population,
# in order of preference
CHILD_RECORD_SLOTS = (("births", "registrations", "child"), ("benefits", "children", "child"))
# truth column -> the cohort outcome it is the true probability of
ORACLE_COLUMNS = {"p_finding_by_age_2": "finding_by_age_2", "p_finding_by_age_5": "finding_by_age_5"}
ORACLE_SCHEMA = {
    "person_key": pl.String,
    "linkage_level": pl.String,
    "birth_year": pl.Int32,
    **{column: pl.Float64 for column in ORACLE_COLUMNS},
}


def oracle_column(outcome: str) -> str | None:
    """The truth column holding the true probability of a cohort outcome, if any."""
    return next((column for column, target in ORACLE_COLUMNS.items() if target == outcome), None)


def child_record_keys(records_with_truth: pl.DataFrame, spine: pl.DataFrame) -> pl.DataFrame:
    """true_person_id, linkage_level, person_key, source: one row per true child, level and
    person_key held by the child's birth-registration or benefit-inclusion child slots
    (source: the agency of its preferred slot, registration first).
    `records_with_truth`: person records (unique_id, agency, record_type, slot) with
    true_person_id (linkage.quality.attach_truth); `spine`: unique_id, level, person_key."""
    preference = {f"{a}|{r}|{s}": i for i, (a, r, s) in enumerate(CHILD_RECORD_SLOTS)}
    slots = (
        records_with_truth.with_columns(pl.concat_str("agency", "record_type", "slot", separator="|").alias("_slot"))
        .filter(pl.col("_slot").is_in(list(preference)) & pl.col("true_person_id").is_not_null())
        .with_columns(pl.col("_slot").replace_strict(preference, return_dtype=pl.Int32).alias("_preference"))
    )
    keyed = slots.join(spine.select("unique_id", pl.col("level").alias("linkage_level"), "person_key"), on="unique_id")
    return (
        keyed.group_by("true_person_id", "linkage_level", "person_key")
        .agg(pl.col("_slot").sort_by("_preference").first().str.split("|").list.first().alias("source"))
        .sort("true_person_id", "linkage_level", "person_key")
    )


def oracle_risk_table(children: pl.DataFrame, keys: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """(person_key, linkage_level, birth_year, p_finding_by_age_2, p_finding_by_age_5) for
    every person_key of a true child, and counts per level: true children keyed, children
    split over several keys, keys shared by several children. `children`: the truth's
    children.parquet columns true_person_id, birth_year and the ORACLE_COLUMNS."""
    risks = children.select("true_person_id", pl.col("birth_year").cast(pl.Int32), *ORACLE_COLUMNS)
    joined = keys.join(risks, on="true_person_id", how="inner")
    table = joined.group_by("person_key", "linkage_level").agg(
        pl.col("birth_year").min(), *[pl.col(c).mean() for c in ORACLE_COLUMNS], pl.len().alias("_children")
    )
    counts = {"true_children": children.height}
    for level in sorted(keys["linkage_level"].unique().to_list()):
        mine = joined.filter(pl.col("linkage_level") == level)
        per_child = mine.group_by("true_person_id").len()
        counts[f"children_keyed_{level}"] = per_child.height
        counts[f"split_children_{level}"] = per_child.filter(pl.col("len") > 1).height
        counts[f"shared_keys_{level}"] = table.filter(
            (pl.col("linkage_level") == level) & (pl.col("_children") > 1)
        ).height
    ordered = table.drop("_children").sort("linkage_level", "person_key").select(list(ORACLE_SCHEMA))
    return ordered.cast(ORACLE_SCHEMA), counts


def empty_oracle_table() -> pl.DataFrame:
    return pl.DataFrame(schema=ORACLE_SCHEMA)


def oracle_comparison(
    person_key: pl.Series, outcome: np.ndarray, model_score: np.ndarray, oracle: pl.DataFrame, risk_column: str
) -> dict[str, float | int | None]:
    """The model's AUC and the oracle's AUC (DeLong intervals) on exactly the same children:
    those of `person_key` with an oracle risk (`oracle`: person_key, risk_column). The gap
    is oracle minus model; `auc_model` differs from an AUC over all the children only when
    some lack an oracle risk (`oracle_coverage` < 1)."""
    from cmi_assets.prm.evaluation import delong_auc

    frame = pl.DataFrame(
        {
            "person_key": person_key,
            "_y": np.asarray(outcome, dtype=float),
            "_score": np.asarray(model_score, dtype=float),
        }
    )
    matched = frame.join(oracle.select("person_key", risk_column).unique("person_key"), on="person_key", how="inner")
    matched = matched.filter(pl.col(risk_column).is_not_null())
    out: dict[str, float | int | None] = {
        "children": frame.height,
        "children_with_oracle": matched.height,
        "oracle_coverage": matched.height / frame.height if frame.height else None,
    }
    y = matched["_y"].to_numpy()
    out["positives"] = int(y.sum())
    if not 0 < y.sum() < len(y):
        return {**out, "auc_model": None, "auc_oracle": None, "oracle_gap": None}
    model, truth = delong_auc(y, matched["_score"].to_numpy()), delong_auc(y, matched[risk_column].to_numpy())
    return {
        **out,
        "auc_model": model.auc,
        "auc_model_ci_low": model.ci_low,
        "auc_model_ci_high": model.ci_high,
        "auc_oracle": truth.auc,
        "auc_oracle_ci_low": truth.ci_low,
        "auc_oracle_ci_high": truth.ci_high,
        "oracle_gap": truth.auc - model.auc,
    }
