"""The 11 risk markers of NZ study Figure 4 (para 150): the 11 variables with the highest
predictive value, excluding the CYF service centre, each made a yes/no marker from the
Box 1 categories. Figure 4 counts children with five or more."""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.other_children import FAMILY_VIOLENCE, PARENTING_DEMANDS
from cmi_assets.cohorts.parents import ADDRESS_CHANGES, CORRECTIONS, MENTAL_HEALTH, SINGLE_PARENT, TIME_ON_BENEFIT

FIVE_PLUS = 5

# marker column -> (Figure 4 wording, expression over the Box 1 columns)
RISK_MARKERS: dict[str, tuple[str, pl.Expr]] = {
    "marker_other_children_cp_history": (
        "the presence of other children with contact with care and protection services in the previous five years",
        pl.col("other_children_cp_history_5y") == "yes",
    ),
    "marker_caregiver_benefit_80_plus": (
        "mother or primary benefit recipient supported by benefit for more than 80 percent of the previous five years",
        pl.col("caregiver_time_on_benefit_5y") == TIME_ON_BENEFIT[3],
    ),
    "marker_parent_cp_history_as_child": (
        "a parent or caregiver known to have had contact with care and protection services in their own childhood",
        pl.col("parent_cp_history_as_child") == "yes",
    ),
    "marker_parent_mental_health": (
        "a parent or caregiver with a benefit for substance abuse or other mental health disorder in the last five years",
        pl.col("parent_mental_health_5y") != MENTAL_HEALTH[0],
    ),
    "marker_family_violence": (
        "other children known to CYF with Police family violence notifications or contact records in the last year",
        pl.col("family_violence_last_year") != FAMILY_VIOLENCE[0],
    ),
    "marker_single_parent": ("a parent or caregiver who is single", pl.col("single_parent") != SINGLE_PARENT[2]),
    "marker_caregiver_under_20": (
        "mother or primary benefit recipient aged under 20",
        pl.col("mother_or_caregiver_age") == "<20",
    ),
    "marker_parent_sentence": (
        "a parent or caregiver with a Corrections sentence in the previous five years",
        pl.col("parent_corrections_5y") != CORRECTIONS[0],
    ),
    "marker_caregiver_not_registration_parent": (
        "a benefit caregiver who is not a parent listed on the birth registration",
        pl.col("caregiver_not_registration_parent") == "yes",
    ),
    "marker_high_parenting_demands": (
        "a parent or caregiver with high parenting demands",
        pl.col("parenting_demands") == PARENTING_DEMANDS[0],
    ),
    "marker_address_change": (
        "a parent or caregiver with at least one change in benefit address in the last year",
        pl.col("caregiver_address_changes_last_year").is_in([ADDRESS_CHANGES[1], ADDRESS_CHANGES[2]]),
    ),
}


def risk_markers(box1: pl.DataFrame) -> pl.DataFrame:
    """person_key, the 11 marker flags, marker_count and five_plus_markers."""
    flags = box1.select("person_key", *[expr.alias(name) for name, (_, expr) in RISK_MARKERS.items()])
    count = pl.sum_horizontal([pl.col(name).cast(pl.Int32) for name in RISK_MARKERS])
    return flags.with_columns(count.alias("marker_count")).with_columns(
        (pl.col("marker_count") >= FIVE_PLUS).alias("five_plus_markers")
    )
