"""Box 1, child: gender of child, low birth weight or pre-term (NZ study, Box 1)."""

from __future__ import annotations

import polars as pl

LOW_BIRTH_WEIGHT_G = 2500  # Box 2: "<2.5Kg or <37 weeks gestation"
PRETERM_WEEKS = 37

YES, NO = "yes", "no"
SEX = ["male", "female"]
LOW_BIRTH_WEIGHT_OR_PRETERM = ["yes", "no or unknown"]


def child_sex(children: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Gender of child (male / female)". Box 1 has no unknown level: the rare child
    without a recorded sex takes "female", the reference of the study's male indicator."""
    return children.select(
        "person_key", pl.when(pl.col("sex") == "M").then(pl.lit("male")).otherwise(pl.lit("female")).alias("child_sex")
    )


def is_low_birth_weight_or_preterm(weight_g: pl.Expr, gestation_weeks: pl.Expr) -> pl.Expr:
    return ((weight_g < LOW_BIRTH_WEIGHT_G).fill_null(False)) | ((gestation_weeks < PRETERM_WEEKS).fill_null(False))


def low_birth_weight_or_preterm(children: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Low birth weight or pre-term (yes / no or unknown)": under 2,500 g or under 37
    weeks on a birth registration made by 3 months; unknown without one."""
    low = is_low_birth_weight_or_preterm(pl.col("birth_weight_g"), pl.col("gestation_weeks"))
    return children.select(
        "person_key",
        pl.when(low).then(pl.lit("yes")).otherwise(pl.lit("no or unknown")).alias("low_birth_weight_or_preterm"),
    )
