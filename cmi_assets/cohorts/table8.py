"""NZ study Table 8: the profile of children overall, of children with findings by age two
(and of any referred group, e.g. the 3,000 highest PRM scores), computed from the cohort
features. The row keys are those of the synthetic world's truth (synthetic.markers.
TABLE8_MARKERS, `t8_<key>` columns), so what the pipeline recovers can be set beside the
world's calibration."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from cmi_assets.cohorts.other_children import FAMILY_VIOLENCE, PARENTING_DEMANDS
from cmi_assets.cohorts.parents import ADDRESS_CHANGES, CORRECTIONS, MENTAL_HEALTH, SINGLE_PARENT, TIME_ON_BENEFIT

# key -> (Table 8 wording, flag over the feature columns); the order is Table 8's
TABLE8_ROWS: dict[str, tuple[str, pl.Expr]] = {
    "male": ("Male child", pl.col("child_sex") == "male"),
    "low_birth_weight_or_preterm": (
        "Low birth weight child or pre-term birth",
        pl.col("low_birth_weight_or_preterm") == "yes",
    ),
    "high_parenting_demands": (
        "Multiple birth child, other children under 2 or 3+ children",
        pl.col("parenting_demands") == PARENTING_DEMANDS[0],
    ),
    "no_other_children": ("No other children (estimated)", pl.col("parenting_demands") == PARENTING_DEMANDS[1]),
    "other_children_cp_history_5y": (
        "Other children with a care and protection history in the last 5 years",
        pl.col("other_children_cp_history_5y") == "yes",
    ),
    "other_children_fv_last_year": (
        "Other children with a Police family violence notification or contact record in the last year",
        pl.col("family_violence_last_year") != FAMILY_VIOLENCE[0],
    ),
    "single_parent": ("Single parent", pl.col("single_parent") != SINGLE_PARENT[2]),
    "no_registration_by_3_months": ("No birth registration at 3 months of age", ~pl.col("registered_by_3_months")),
    "caregiver_under_25": (
        "Mother or caregiver aged under 25",
        pl.col("mother_or_caregiver_age").is_in(["<20", "20-24"]),
    ),
    "parent_cp_history_as_child": (
        "Parents or caregivers with a care and protection history as a child",
        pl.col("parent_cp_history_as_child") == "yes",
    ),
    "parent_behavioural_finding_as_child": (
        "Parents or caregivers with findings of behavioural or relationship difficulties as a child",
        pl.col("parent_behavioural_finding_as_child") == "yes",
    ),
    "on_benefit_by_3_months": ("Child seen on benefit by 3 months of age", pl.col("on_benefit_by_3_months")),
    "caregiver_benefit_80_100_pct_5y": (
        "Mother or caregiver's spent 80-100% of time on benefit in the last 5 years",
        pl.col("caregiver_time_on_benefit_5y") == TIME_ON_BENEFIT[3],
    ),
    "parent_substance_benefit_5y": (
        "Parents or caregivers received benefit for a substance abuse disorder in the last 5 years",
        pl.col("parent_mental_health_5y").is_in(MENTAL_HEALTH[1:3]),
    ),
    "parent_mental_health_benefit_5y": (
        "Parents or caregivers received benefit for other mental health disorder in the last 5 years",
        pl.col("parent_mental_health_5y").is_in(MENTAL_HEALTH[3:5]),
    ),
    "caregiver_address_change_last_year": (
        "Primary caregiver's with 1+ address changes recorded in benefit data in the last year",
        pl.col("caregiver_address_changes_last_year").is_in(ADDRESS_CHANGES[1:3]),
    ),
    "parent_any_sentence_5y": (
        "Parents or caregivers with any sentence in the last 5 years",
        pl.col("parent_corrections_5y") != CORRECTIONS[0],
    ),
    "parent_custodial_sentence_5y": (
        "Parents or caregivers with a custodial sentence in the last 5 years",
        pl.col("parent_corrections_5y").is_in(CORRECTIONS[2:4]),
    ),
    "high_deprivation": ("High deprivation neighborhood (deciles 8-10, of non-missing)", pl.col("high_deprivation")),
}


def table8_flags(features: pl.DataFrame) -> pl.DataFrame:
    """person_key and one boolean `t8_<key>` per Table 8 row (high_deprivation is null where
    the decile is unknown: "of non-missing")."""
    return features.select("person_key", *[expr.alias(f"t8_{key}") for key, (_, expr) in TABLE8_ROWS.items()])


def _percent(flags: pl.Series, members: np.ndarray) -> float:
    """% true among members with a known value."""
    known = flags.filter(pl.Series(members)).drop_nulls()
    return round(100 * known.cast(pl.Float64).mean(), 1) if known.len() else float("nan")


def table8_profile(
    features: pl.DataFrame, outcomes: pl.DataFrame, outcome: str = "finding_by_age_2", referred: Any = None
) -> pl.DataFrame:
    """One row per Table 8 line: % of all children, % of children with `outcome` (default
    findings by age 2; children whose outcome is not yet observable are left out of that
    column), and, given boolean `referred` flags in feature order, % of the referred group.
    Percentages are of children with a known value (only deprivation can be unknown)."""
    flags = table8_flags(features)
    joined = flags.join(outcomes.select("person_key", outcome), on="person_key", how="left", maintain_order="left")
    everyone = np.ones(joined.height, dtype=bool)
    with_outcome = joined[outcome].fill_null(False).to_numpy().astype(bool)
    groups = {"pct_all": everyone, f"pct_{outcome}": with_outcome}
    if referred is not None:
        chosen = np.asarray(referred, dtype=bool)
        if chosen.size != joined.height:
            raise ValueError("referred must have one flag per feature row")
        groups["pct_referred"] = chosen
    rows = []
    for key, (label, _) in TABLE8_ROWS.items():
        column = joined[f"t8_{key}"]
        row = {"row": key, "label": label}
        for name, members in groups.items():
            row[name] = _percent(column, members)
        rows.append(row)
    counts = {"n_all": joined.height, f"n_{outcome}": int(with_outcome.sum())}
    return pl.DataFrame(rows).with_columns(*[pl.lit(v).alias(k) for k, v in counts.items()])
