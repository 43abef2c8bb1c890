"""Box 1, community / office: the CP site or service centre serving the child's place of
residence (para 53; 43 offices), and the deprivation decile of that place (Table 8: high
deprivation = deciles 8-10, of non-missing).

Place of residence at birth: the birth registration made by 3 months, else the primary
caregiver's benefit address in effect at 3 months of age, else unknown."""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.family import primary_caregiver
from cmi_assets.cohorts.windows import AT_3_MONTHS_DAYS, day

N_OFFICES = 43
UNKNOWN_OFFICE = "unknown"
CP_OFFICE = [f"O{i:02d}" for i in range(1, N_OFFICES + 1)] + [UNKNOWN_OFFICE]
HIGH_DEPRIVATION_DECILES = (8, 9, 10)


def benefit_address_at_3_months(adults: pl.DataFrame, addresses: pl.DataFrame) -> pl.DataFrame:
    """person_key, office_code, deprivation_decile of the primary caregiver's latest benefit
    address effective by the child's 3 months."""
    carer = primary_caregiver(adults)
    rows = carer.join(
        addresses.select(
            pl.col("person_key").alias("adult_key"),
            day("effective_from").alias("from_day"),
            "office_code",
            "deprivation_decile",
        ),
        on="adult_key",
    )
    current = rows.filter(pl.col("from_day") <= pl.col("ref_day") + AT_3_MONTHS_DAYS).sort("person_key", "from_day")
    return current.group_by("person_key").agg(pl.col("office_code").last(), pl.col("deprivation_decile").last())


def residence_at_birth(children: pl.DataFrame, adults: pl.DataFrame, addresses: pl.DataFrame) -> pl.DataFrame:
    """person_key, office_code, deprivation_decile (null when unknown)."""
    benefit = benefit_address_at_3_months(adults, addresses).rename(
        {"office_code": "_b_office", "deprivation_decile": "_b_decile"}
    )
    frame = children.select("person_key", "registered_by_3_months", "office_code", "deprivation_decile").join(
        benefit, on="person_key", how="left"
    )
    registered = pl.col("registered_by_3_months")
    return frame.select(
        "person_key",
        pl.when(registered & pl.col("office_code").is_not_null())
        .then(pl.col("office_code"))
        .otherwise(pl.col("_b_office"))
        .alias("office_code"),
        pl.when(registered & pl.col("deprivation_decile").is_not_null())
        .then(pl.col("deprivation_decile"))
        .otherwise(pl.col("_b_decile"))
        .alias("deprivation_decile"),
    )


def cp_office(residence: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "CYF site or service centre (43 categories)"; "unknown" where neither the
    registration nor a benefit address gives one (Box 1 has no such level; it is rare)."""
    known = pl.col("office_code").is_in(CP_OFFICE[:-1])
    return residence.select(
        "person_key", pl.when(known).then(pl.col("office_code")).otherwise(pl.lit(UNKNOWN_OFFICE)).alias("cp_office")
    )


def high_deprivation(residence: pl.DataFrame) -> pl.DataFrame:
    """Table 8 "High deprivation neighbourhood (deciles 8-10, of non-missing)": null when
    the decile is unknown."""
    return residence.select(
        "person_key", pl.col("deprivation_decile").is_in(list(HIGH_DEPRIVATION_DECILES)).alias("high_deprivation")
    )
