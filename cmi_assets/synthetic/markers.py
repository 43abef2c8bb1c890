"""The true Box 1 variables and Table 8 markers of each child, computed from the family's
true records (NZ study, Box 1 and Table 8): exactly what a perfectly linked pipeline would
compute. One function per marker.

Conventions (the cohort pipeline mirrors these):
- Prediction is made at 3 months of age: registration data count when registered within
  `AT_3_MONTHS_DAYS` of birth, benefit inclusions when claimed by then.
- Parents/caregivers = the birth mother, the father when listed on a registration made by
  3 months, and the benefit client when the child is included by 3 months and the client
  is not the mother. The primary caregiver is that benefit client, else the mother.
- Histories look back five years before the birth (`LOOKBACK_5Y_DAYS`); the parents' own
  childhood CP history and behavioural findings have no time limit (para 50).
- Other children = the mother's earlier-born children born in the observation window and
  under 18 at the index birth (twins of the same delivery are not "other children").
"""

from __future__ import annotations

import polars as pl

from cmi_assets.synthetic.outcomes import INVESTIGATED

LOOKBACK_5Y_DAYS = 1826
LAST_YEAR_DAYS = 365
AT_3_MONTHS_DAYS = 91
ADULT_AGE_DAYS = 6575  # 18 years

CHILD_COLUMNS = ["child_id", "dob_day"]


def _flag(frame: pl.DataFrame, births: pl.DataFrame, name: str, default=False) -> pl.DataFrame:
    """Left-join a per-child result onto every child, filling children without rows."""
    return (
        births.select("child_id")
        .join(frame.select("child_id", name), on="child_id", how="left")
        .with_columns(pl.col(name).fill_null(default))
    )


def registered_by_3_months(births: pl.DataFrame) -> pl.Expr:
    return (
        (pl.col("reg_day") >= 0)
        & (pl.col("reg_day") <= pl.col("dob_day") + AT_3_MONTHS_DAYS)
        & (pl.col("reg_day") > -(10**8))
    )


def on_benefit_by_3_months(births: pl.DataFrame) -> pl.Expr:
    return pl.col("claim_day").is_between(pl.col("dob_day") - 10**6, pl.col("dob_day") + AT_3_MONTHS_DAYS) & (
        pl.col("claim_day") > -(10**8)
    )


def parents_and_caregivers(births: pl.DataFrame) -> pl.DataFrame:
    """Long frame child_id, dob_day, adult_id, primary (the primary caregiver)."""
    b = births.with_columns(
        registered_by_3_months(births).alias("_reg3"), on_benefit_by_3_months(births).alias("_ben3")
    )
    primary_is_caregiver = pl.col("_ben3") & (pl.col("caregiver_id") >= 0)
    mother = b.select(
        "child_id", "dob_day", pl.col("mother_id").alias("adult_id"), (~primary_is_caregiver).alias("primary")
    )
    father = b.filter(pl.col("_reg3") & pl.col("father_listed")).select(
        "child_id", "dob_day", pl.col("father_id").alias("adult_id"), pl.lit(False).alias("primary")
    )
    carer = b.filter(primary_is_caregiver).select(
        "child_id", "dob_day", pl.col("caregiver_id").alias("adult_id"), pl.lit(True).alias("primary")
    )
    both = pl.concat([mother, father, carer])
    return both.sort("child_id", "primary", descending=[False, True]).unique(
        ["child_id", "adult_id"], keep="first", maintain_order=True
    )


def primary_caregiver(births: pl.DataFrame) -> pl.DataFrame:
    return parents_and_caregivers(births).filter("primary").select("child_id", "dob_day", "adult_id")


# ---- child -------------------------------------------------------------------------------


def marker_male(births: pl.DataFrame) -> pl.Series:
    return (births["sex"] == "M").alias("male")


def marker_low_birth_weight_or_preterm(births: pl.DataFrame) -> pl.Series:
    """< 2500 g or < 37 weeks, known from a registration made by 3 months."""
    known = births.select(registered_by_3_months(births)).to_series()
    low = (births["birth_weight_g"] < 2500) | (births["gestation_weeks"] < 37)
    return (known & low).alias("low_birth_weight_or_preterm")


def other_children(births: pl.DataFrame, all_births: pl.DataFrame, observation_start_day: int) -> pl.DataFrame:
    """Pairs (child_id, sibling_id, sibling_dob_day) of earlier-born children of the same
    mother, born in the observation window and under 18 at the index birth."""
    sib = all_births.select(
        pl.col("mother_id"),
        pl.col("child_id").alias("sibling_id"),
        pl.col("dob_day").alias("sibling_dob_day"),
        pl.col("event_id").alias("sibling_event"),
    )
    pairs = births.select("child_id", "mother_id", "dob_day", "event_id").join(sib, on="mother_id")
    return pairs.filter(
        (pl.col("sibling_dob_day") < pl.col("dob_day"))
        & (pl.col("sibling_event") != pl.col("event_id"))
        & (pl.col("sibling_dob_day") >= observation_start_day)
        & (pl.col("dob_day") - pl.col("sibling_dob_day") < ADULT_AGE_DAYS)
    ).select("child_id", "dob_day", "sibling_id", "sibling_dob_day")


def marker_parenting_demands(births: pl.DataFrame, siblings: pl.DataFrame) -> pl.Series:
    """high (multiple birth, other children under 2, or 3+ other children) / none / other."""
    counts = siblings.group_by("child_id").agg(
        pl.len().alias("n_other"), ((pl.col("dob_day") - pl.col("sibling_dob_day")) < 731).any().alias("under_2")
    )
    b = (
        births.select("child_id", "plurality")
        .join(counts, on="child_id", how="left")
        .with_columns(pl.col("n_other").fill_null(0), pl.col("under_2").fill_null(False))
    )
    return b.select(
        pl.when((pl.col("plurality") > 1) | pl.col("under_2") | (pl.col("n_other") >= 3))
        .then(pl.lit("high"))
        .when(pl.col("n_other") == 0)
        .then(pl.lit("none"))
        .otherwise(pl.lit("other"))
        .alias("parenting_demands")
    ).to_series()


def marker_other_children_cp_history_5y(
    births: pl.DataFrame, siblings: pl.DataFrame, reports: pl.DataFrame
) -> pl.Series:
    """Any other child with a CP record in the five years before the birth: a notification
    other than a police FV referral / contact record, or any notification that led to an
    investigation or assessment (footnote 8: FV records alone do not count)."""
    cp = reports.filter((pl.col("source") != "POLICE_FV") | pl.col("category").is_in(INVESTIGATED)).select(
        pl.col("person_id").alias("sibling_id"), "notification_day"
    )
    hits = (
        siblings.join(cp, on="sibling_id")
        .filter(pl.col("notification_day").is_between(pl.col("dob_day") - LOOKBACK_5Y_DAYS, pl.col("dob_day") - 1))
        .select("child_id")
        .unique()
        .with_columns(pl.lit(True).alias("other_children_cp_history_5y"))
    )
    return _flag(hits, births, "other_children_cp_history_5y")["other_children_cp_history_5y"]


def marker_family_violence_last_year(births: pl.DataFrame, siblings: pl.DataFrame, reports: pl.DataFrame) -> pl.Series:
    """Months of the last 12 with a police FV notification or contact record for other
    children: none / one / two_plus (Box 1 family violence)."""
    fv = reports.filter(pl.col("source") == "POLICE_FV").select(
        pl.col("person_id").alias("sibling_id"), "notification_day"
    )
    hits = (
        siblings.join(fv, on="sibling_id")
        .filter(pl.col("notification_day").is_between(pl.col("dob_day") - LAST_YEAR_DAYS, pl.col("dob_day") - 1))
        .with_columns(((pl.col("dob_day") - pl.col("notification_day") - 1) // 30.5).cast(pl.Int64).alias("month_back"))
    )
    months = hits.group_by("child_id").agg(pl.col("month_back").n_unique().alias("n_months"))
    b = _flag(months, births, "n_months", 0)
    return b.select(
        pl.when(pl.col("n_months") >= 2)
        .then(pl.lit("two_plus"))
        .when(pl.col("n_months") == 1)
        .then(pl.lit("one"))
        .otherwise(pl.lit("none"))
        .alias("family_violence")
    ).to_series()


# ---- parents and caregivers -----------------------------------------------------------------


def marker_single_parent(births: pl.DataFrame, spells: pl.DataFrame) -> pl.Series:
    """yes_father_not_listed (registered by 3 months without a father) / yes (the benefit
    caregiver receives a sole-parent benefit around the birth) / no_or_unknown."""
    carer = primary_caregiver(births)
    spb = (
        carer.join(spells.filter(pl.col("benefit_type") == "SPB"), left_on="adult_id", right_on="person_id")
        .filter(
            (pl.col("start_day") <= pl.col("dob_day") + AT_3_MONTHS_DAYS)
            & ((pl.col("end_day") < -(10**8)) | (pl.col("end_day") >= pl.col("dob_day")))
        )
        .select("child_id")
        .unique()
        .with_columns(pl.lit(True).alias("spb"))
    )
    b = births.with_columns(registered_by_3_months(births).alias("reg3")).select("child_id", "reg3", "father_listed")
    b = b.join(spb, on="child_id", how="left").with_columns(pl.col("spb").fill_null(False))
    return b.select(
        pl.when(pl.col("reg3") & ~pl.col("father_listed"))
        .then(pl.lit("yes_father_not_listed"))
        .when(pl.col("spb"))
        .then(pl.lit("yes"))
        .otherwise(pl.lit("no_or_unknown"))
        .alias("single_parent")
    ).to_series()


def marker_caregiver_not_birth_parent(births: pl.DataFrame) -> pl.Series:
    """yes / no / no_registration_by_3_months (Box 1)."""
    return births.select(
        pl.when(~registered_by_3_months(births))
        .then(pl.lit("no_registration_by_3_months"))
        .when(on_benefit_by_3_months(births) & (pl.col("caregiver_relationship") != "PARENT"))
        .then(pl.lit("yes"))
        .otherwise(pl.lit("no"))
        .alias("caregiver_not_birth_parent")
    ).to_series()


def marker_no_registration_by_3_months(births: pl.DataFrame) -> pl.Series:
    return births.select((~registered_by_3_months(births)).alias("no_registration_by_3_months")).to_series()


def marker_on_benefit_by_3_months(births: pl.DataFrame) -> pl.Series:
    return births.select(on_benefit_by_3_months(births).alias("on_benefit_by_3_months")).to_series()


def marker_caregiver_age(births: pl.DataFrame, persons: pl.DataFrame) -> pl.Series:
    """Age band of the mother or primary benefit recipient at the birth."""
    carer = primary_caregiver(births).join(
        persons.select("true_person_id", pl.col("dob_day").alias("adult_dob")),
        left_on="adult_id",
        right_on="true_person_id",
        how="left",
    )
    age = carer.with_columns(((pl.col("dob_day") - pl.col("adult_dob")) / 365.25).alias("age"))
    age = births.select("child_id").join(age.select("child_id", "age"), on="child_id", how="left")
    bands = pl.when(pl.col("age").is_null()).then(pl.lit("30-34"))  # footnote 9: missing -> 30-34
    for upper, label in ((20, "<20"), (25, "20-24"), (30, "25-29"), (35, "30-34"), (40, "35-39")):
        bands = bands.when(pl.col("age") < upper).then(pl.lit(label))
    return age.select(bands.otherwise(pl.lit("40+")).alias("caregiver_age")).to_series()


def _any_adult_before_birth(births: pl.DataFrame, childhood: pl.DataFrame, column: str, name: str) -> pl.Series:
    """Any parent/caregiver with a childhood record of the given kind dated before the birth."""
    pc = parents_and_caregivers(births).join(childhood.filter(pl.col(column)), left_on="adult_id", right_on="person_id")
    hits = (
        pc.filter(pl.col("notification_day") < pl.col("dob_day"))
        .select("child_id")
        .unique()
        .with_columns(pl.lit(True).alias(name))
    )
    return _flag(hits, births, name)[name]


def childhood_records(reports: pl.DataFrame, findings: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """Per CP report made before the person turned 18: person_id, notification_day, and
    whether it carries a substantiated BEHAVIOURAL finding (inputs of the parent markers,
    which have no look-back limit: para 50)."""
    with_age = reports.join(
        persons.select(pl.col("true_person_id").alias("person_id"), pl.col("dob_day").alias("p_dob")), on="person_id"
    ).filter(pl.col("notification_day") - pl.col("p_dob") < ADULT_AGE_DAYS)
    beh = (
        findings.filter((pl.col("abuse_type") == "BEHAVIOURAL") & (pl.col("finding") == "SUBSTANTIATED"))
        .select("report_id")
        .unique()
    )
    beh = beh.with_columns(pl.lit(True).alias("behavioural_as_child"))
    return (
        with_age.select("report_id", "person_id", "notification_day")
        .join(beh, on="report_id", how="left")
        .with_columns(pl.col("behavioural_as_child").fill_null(False), pl.lit(True).alias("cp_as_child"))
    )


def marker_parent_cp_history_as_child(births: pl.DataFrame, childhood: pl.DataFrame) -> pl.Series:
    return _any_adult_before_birth(births, childhood, "cp_as_child", "parent_cp_history_as_child")


def marker_parent_behavioural_finding_as_child(births: pl.DataFrame, childhood: pl.DataFrame) -> pl.Series:
    return _any_adult_before_birth(births, childhood, "behavioural_as_child", "parent_behavioural_finding_as_child")


def _overlap_days(frame: pl.DataFrame, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    """Days of [start_day, end_day] (open end = still running) inside [lo, hi)."""
    end = pl.when(pl.col("end_day") < -(10**8)).then(hi).otherwise(pl.col("end_day"))
    return pl.max_horizontal(pl.min_horizontal(end, hi) - pl.max_horizontal(pl.col("start_day"), lo), pl.lit(0))


def marker_caregiver_time_on_benefit_5y(births: pl.DataFrame, spells: pl.DataFrame) -> pl.Series:
    """Share of the five years before the birth the mother / primary benefit recipient was
    on benefit: none / 0-20 / 20-80 / 80-100 (%)."""
    carer = primary_caregiver(births).join(spells, left_on="adult_id", right_on="person_id")
    carer = carer.with_columns(
        _overlap_days(carer, pl.col("dob_day") - LOOKBACK_5Y_DAYS, pl.col("dob_day")).alias("days")
    )
    share = carer.group_by("child_id").agg((pl.col("days").sum() / LOOKBACK_5Y_DAYS).alias("share"))
    b = _flag(share, births, "share", 0.0)
    return b.select(
        pl.when(pl.col("share") <= 0)
        .then(pl.lit("none"))
        .when(pl.col("share") < 0.2)
        .then(pl.lit("0-20"))
        .when(pl.col("share") < 0.8)
        .then(pl.lit("20-80"))
        .otherwise(pl.lit("80-100"))
        .alias("caregiver_time_on_benefit_5y")
    ).to_series()


def marker_mental_health_5y(births: pl.DataFrame, spells: pl.DataFrame) -> pl.Series:
    """Parents/caregivers' incapacity benefit in the last five years: none / substance /
    substance_3plus_years / mental_health / mental_health_3plus_years (substance
    prioritised, footnote 10; 3+ years = incapacity days summed per person)."""
    pc = parents_and_caregivers(births).join(
        spells.filter(pl.col("incapacity_code").is_in(["SUB", "MH"])), left_on="adult_id", right_on="person_id"
    )
    pc = pc.with_columns(
        _overlap_days(pc, pl.col("dob_day") - LOOKBACK_5Y_DAYS, pl.col("dob_day")).alias("days")
    ).filter(pl.col("days") > 0)
    per_person = pc.group_by("child_id", "adult_id", "incapacity_code").agg(pl.col("days").sum())
    per_child = per_person.group_by("child_id").agg(
        (pl.col("incapacity_code") == "SUB").any().alias("sub"),
        pl.col("days").filter(pl.col("incapacity_code") == "SUB").max().alias("sub_days"),
        pl.col("days").filter(pl.col("incapacity_code") == "MH").max().alias("mh_days"),
    )
    b = births.select("child_id").join(per_child, on="child_id", how="left")
    three = 3 * 365
    return b.select(
        pl.when(pl.col("sub") & (pl.col("sub_days") >= three))
        .then(pl.lit("substance_3plus_years"))
        .when(pl.col("sub"))
        .then(pl.lit("substance"))
        .when(pl.col("mh_days") >= three)
        .then(pl.lit("mental_health_3plus_years"))
        .when(pl.col("mh_days") > 0)
        .then(pl.lit("mental_health"))
        .otherwise(pl.lit("none"))
        .alias("mental_health_5y")
    ).to_series()


def marker_address_changes_last_year(births: pl.DataFrame, spells: pl.DataFrame, addresses: pl.DataFrame) -> pl.Series:
    """Primary caregiver's benefit address changes in the year before the birth (records
    after the client's first address): none / one_two / three_plus / missing (no benefit in
    the last year)."""
    carer = primary_caregiver(births)
    window_lo = pl.col("dob_day") - LAST_YEAR_DAYS
    on_benefit = (
        carer.join(spells, left_on="adult_id", right_on="person_id")
        .filter(_overlap_days(spells, window_lo, pl.col("dob_day")) > 0)
        .select("child_id")
        .unique()
        .with_columns(pl.lit(True).alias("on_benefit"))
    )
    changes = (
        addresses.sort("person_id", "effective_day")
        .with_columns(pl.int_range(pl.len()).over("person_id").alias("nth"))
        .filter(pl.col("nth") > 0)
    )
    counts = (
        carer.join(changes, left_on="adult_id", right_on="person_id")
        .filter(pl.col("effective_day").is_between(window_lo, pl.col("dob_day") - 1))
        .group_by("child_id")
        .agg(pl.len().alias("n"))
    )
    b = births.select("child_id").join(on_benefit, on="child_id", how="left").join(counts, on="child_id", how="left")
    return b.select(
        pl.when(pl.col("on_benefit").is_null() & pl.col("n").is_null())
        .then(pl.lit("missing"))
        .when(pl.col("n") >= 3)
        .then(pl.lit("three_plus"))
        .when(pl.col("n") >= 1)
        .then(pl.lit("one_two"))
        .otherwise(pl.lit("none"))
        .alias("address_changes_last_year")
    ).to_series()


def marker_corrections_5y(births: pl.DataFrame, sentences: pl.DataFrame) -> pl.Series:
    """Parents/caregivers' sentences served in the last five years: none / community_only /
    custodial_non_violent / custodial_violent (violent prioritised, footnote 12)."""
    pc = parents_and_caregivers(births).join(sentences, left_on="adult_id", right_on="person_id")
    pc = pc.filter(
        (pl.col("start_day") < pl.col("dob_day"))
        & (_overlap_days(pc, pl.col("dob_day") - LOOKBACK_5Y_DAYS, pl.col("dob_day")) > 0)
    )
    per_child = pc.group_by("child_id").agg(
        ((pl.col("sentence_type") == "CUSTODIAL") & (pl.col("offence_category") == "VIOLENT")).any().alias("cv"),
        (pl.col("sentence_type") == "CUSTODIAL").any().alias("c"),
    )
    b = births.select("child_id").join(per_child, on="child_id", how="left")
    return b.select(
        pl.when(pl.col("cv"))
        .then(pl.lit("custodial_violent"))
        .when(pl.col("c"))
        .then(pl.lit("custodial_non_violent"))
        .when(pl.col("cv").is_not_null())
        .then(pl.lit("community_only"))
        .otherwise(pl.lit("none"))
        .alias("corrections_5y")
    ).to_series()


# ---- community -------------------------------------------------------------------------------


def marker_office_and_deprivation(births: pl.DataFrame, areas: pl.DataFrame) -> pl.DataFrame:
    """CP office serving the birth postcode (Box 1, 43 categories) and whether the postcode
    is in deprivation deciles 8-10 (Table 8)."""
    b = births.select("child_id", "birth_postcode").join(
        areas, left_on="birth_postcode", right_on="postcode", how="left"
    )
    return b.select(
        pl.col("office_code").alias("office"), (pl.col("deprivation_decile") >= 8).alias("high_deprivation")
    )


# ---- assembling ----------------------------------------------------------------------------

TABLE8_MARKERS = [
    "male",
    "low_birth_weight_or_preterm",
    "high_parenting_demands",
    "no_other_children",
    "other_children_cp_history_5y",
    "other_children_fv_last_year",
    "single_parent",
    "no_registration_by_3_months",
    "caregiver_under_25",
    "parent_cp_history_as_child",
    "parent_behavioural_finding_as_child",
    "on_benefit_by_3_months",
    "caregiver_benefit_80_100_pct_5y",
    "parent_substance_benefit_5y",
    "parent_mental_health_benefit_5y",
    "caregiver_address_change_last_year",
    "parent_any_sentence_5y",
    "parent_custodial_sentence_5y",
    "high_deprivation",
]


def static_markers(
    births: pl.DataFrame,
    persons: pl.DataFrame,
    spells: pl.DataFrame,
    addresses: pl.DataFrame,
    sentences: pl.DataFrame,
    childhood: pl.DataFrame,
    areas: pl.DataFrame,
) -> pl.DataFrame:
    """Markers that do not depend on other children's CP outcomes."""
    return pl.DataFrame(
        [
            births["child_id"],
            marker_male(births),
            marker_low_birth_weight_or_preterm(births),
            marker_single_parent(births, spells),
            marker_caregiver_not_birth_parent(births),
            marker_no_registration_by_3_months(births),
            marker_on_benefit_by_3_months(births),
            marker_caregiver_age(births, persons),
            marker_parent_cp_history_as_child(births, childhood),
            marker_parent_behavioural_finding_as_child(births, childhood),
            marker_caregiver_time_on_benefit_5y(births, spells),
            marker_mental_health_5y(births, spells),
            marker_address_changes_last_year(births, spells, addresses),
            marker_corrections_5y(births, sentences),
        ]
    ).hstack(marker_office_and_deprivation(births, areas))


def sibling_markers(
    births: pl.DataFrame, all_births: pl.DataFrame, reports: pl.DataFrame, observation_start_day: int
) -> pl.DataFrame:
    """Markers from other children: parenting demands, their CP history and FV records."""
    sibs = other_children(births, all_births, observation_start_day)
    return pl.DataFrame(
        [
            births["child_id"],
            marker_parenting_demands(births, sibs),
            marker_other_children_cp_history_5y(births, sibs, reports),
            marker_family_violence_last_year(births, sibs, reports),
        ]
    )


def table8_booleans(markers: pl.DataFrame) -> pl.DataFrame:
    """The Table 8 rows as booleans (their order is TABLE8_MARKERS)."""
    return markers.select(
        "child_id",
        pl.col("male"),
        pl.col("low_birth_weight_or_preterm"),
        (pl.col("parenting_demands") == "high").alias("high_parenting_demands"),
        (pl.col("parenting_demands") == "none").alias("no_other_children"),
        pl.col("other_children_cp_history_5y"),
        (pl.col("family_violence") != "none").alias("other_children_fv_last_year"),
        (pl.col("single_parent") != "no_or_unknown").alias("single_parent"),
        pl.col("no_registration_by_3_months"),
        pl.col("caregiver_age").is_in(["<20", "20-24"]).alias("caregiver_under_25"),
        pl.col("parent_cp_history_as_child"),
        pl.col("parent_behavioural_finding_as_child"),
        pl.col("on_benefit_by_3_months"),
        (pl.col("caregiver_time_on_benefit_5y") == "80-100").alias("caregiver_benefit_80_100_pct_5y"),
        pl.col("mental_health_5y").str.starts_with("substance").alias("parent_substance_benefit_5y"),
        pl.col("mental_health_5y").str.starts_with("mental_health").alias("parent_mental_health_benefit_5y"),
        pl.col("address_changes_last_year")
        .is_in(["one_two", "three_plus"])
        .alias("caregiver_address_change_last_year"),
        (pl.col("corrections_5y") != "none").alias("parent_any_sentence_5y"),
        pl.col("corrections_5y").str.starts_with("custodial").alias("parent_custodial_sentence_5y"),
        pl.col("high_deprivation").fill_null(False),
    )


def extra_effect_columns(markers: pl.DataFrame) -> pl.DataFrame:
    """Box 1 categories finer than the Table 8 booleans (fixed increments in eta)."""
    return markers.select(
        (pl.col("caregiver_age") == "<20").alias("caregiver_under_20"),
        (pl.col("family_violence") == "two_plus").alias("family_violence_2plus_months"),
        pl.col("mental_health_5y").str.ends_with("3plus_years").alias("mental_health_3plus_years"),
        (pl.col("corrections_5y") == "custodial_violent").alias("custodial_violent"),
    )
