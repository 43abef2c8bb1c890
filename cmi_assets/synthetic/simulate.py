"""One block of families simulated end to end in memory: people, histories, CP events in
birth order (older siblings' records exist before a younger sibling's markers are
computed), health events and the children's truth table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from cmi_assets.reference.random_streams import component_rng
from cmi_assets.synthetic import markers as mk
from cmi_assets.synthetic.dates import day_number, year_of
from cmi_assets.synthetic.episodes import record_episodes, undetected_keys
from cmi_assets.synthetic.families import build_families
from cmi_assets.synthetic.health_events import draw_hospitalisations, draw_maternity
from cmi_assets.synthetic.histories import (
    draw_addresses,
    draw_background_benefit_spells,
    draw_conditions,
    draw_mental_health_contacts,
    draw_sentences,
    merge_benefit_spells,
)
from cmi_assets.synthetic.outcomes import (
    cumulative_baseline,
    draw_family_violence_reports,
    draw_investigations,
    draw_parents_childhood_reports,
    draw_prenatal_reports,
    eta_of,
    simulate_child_reports,
)

OUTCOME_AGES = (1, 2, 3, 4, 5)


@dataclass
class Block:
    """The true world of one block of families (frames keyed by true_person_id)."""

    persons: pl.DataFrame
    births: pl.DataFrame
    spells: pl.DataFrame
    addresses: pl.DataFrame
    sentences: pl.DataFrame
    mental_health: pl.DataFrame
    reports: pl.DataFrame
    findings: pl.DataFrame
    undetected: pl.DataFrame
    maternity: pl.DataFrame
    hospitalisations: pl.DataFrame
    children: pl.DataFrame
    extra: dict = field(default_factory=dict)
    episodes: pl.DataFrame | None = None  # true maltreatment episodes and who recorded them (episodes.py)


def _rng(seed: int, block: int, part: str) -> np.random.Generator:
    return component_rng(seed, f"{part}:{block}")


def birth_postcodes(births: pl.DataFrame, persons: pl.DataFrame, addresses: pl.DataFrame) -> pl.Series:
    """The mother's postcode at the birth: her latest benefit address on or before the
    birth, else her home postcode."""
    b = births.select("child_id", "mother_id", "dob_day").sort("dob_day")
    a = addresses.select(
        pl.col("person_id").alias("mother_id"), pl.col("effective_day").alias("dob_day"), "postcode"
    ).sort("dob_day")
    latest = b.join_asof(a, on="dob_day", by="mother_id", strategy="backward", check_sortedness=False)
    home = persons.select(pl.col("true_person_id").alias("mother_id"), "home_postcode")
    latest = latest.join(home, on="mother_id", how="left").select(
        "child_id", pl.coalesce("postcode", "home_postcode").alias("birth_postcode")
    )
    return births.select("child_id").join(latest, on="child_id", how="left")["birth_postcode"]


def simulate_block(
    params: dict,
    mothers,
    events: pl.DataFrame,
    areas: pl.DataFrame,
    office_effects: dict,
    seed: int,
    block: int,
    pools,
    first_id: int,
    first_report_id: int,
) -> Block:
    obs_start = day_number(params["timeline"]["observation_start"])
    fam = build_families(mothers, events, areas, params, _rng(seed, block, "families"), pools, first_id)
    persons = fam["persons"]
    adults = persons.filter(pl.col("role") != "child")
    conditions = draw_conditions(adults, params, _rng(seed, block, "conditions"))
    background = draw_background_benefit_spells(adults, conditions, params, _rng(seed, block, "benefits"))
    spells = merge_benefit_spells(background, fam["birth_spells"], params)
    addresses = draw_addresses(adults, spells, areas, params, _rng(seed, block, "addresses"), pools)
    sentences = draw_sentences(adults, params, _rng(seed, block, "corrections"))
    mental_health = draw_mental_health_contacts(conditions, adults, params, _rng(seed, block, "mh"))

    births = fam["births"]
    births = births.with_columns(birth_postcodes(births, persons, addresses).alias("birth_postcode"))

    # parents' own childhood CP records first: they feed the parent markers
    next_report = first_report_id
    parent_reports = draw_parents_childhood_reports(adults, params, _rng(seed, block, "parent_cp"))
    parent_reports = parent_reports.with_columns(
        (pl.int_range(pl.len()) + next_report).cast(pl.Int64).alias("report_id")
    )
    next_report += len(parent_reports)
    parent_reports, parent_findings = draw_investigations(parent_reports, params, _rng(seed, block, "parent_inv"))
    childhood = mk.childhood_records(parent_reports, parent_findings, persons)

    mothers_z = persons.filter(pl.col("role") == "mother").select("true_person_id", "z")
    fv_reports, incidents = draw_family_violence_reports(births, mothers_z, params, _rng(seed, block, "fv"))

    static = mk.static_markers(births, persons, spells, addresses, sentences, childhood, areas)
    reports_so_far = fv_reports
    out_rng = _rng(seed, block, "outcomes")
    marker_parts, undetected_parts, new_reports = [], [], [fv_reports]
    study_lo = int(params["timeline"]["study_birth_years"][0])
    for parity in sorted(births["parity"].unique().to_list()):
        sub = births.filter(pl.col("parity") == parity)
        sib = mk.sibling_markers(sub, births, reports_so_far, obs_start)
        markers = static.join(sib, on="child_id", how="inner")
        markers = sub.select("child_id").join(markers, on="child_id", how="left")
        t8 = mk.table8_booleans(markers)
        extras = mk.extra_effect_columns(markers)
        cohort = year_of(sub["dob_day"].to_numpy())
        eta = eta_of(t8, extras, markers["office"], office_effects, cohort, params)
        # children born before the study window: z stands in for history before electronic records
        eta = eta + np.where(cohort < study_lo, params["outcomes"]["pre_study_z"] * sub["z"].to_numpy(), 0.0)
        known = (
            t8["on_benefit_by_3_months"] | t8["other_children_cp_history_5y"] | t8["parent_cp_history_as_child"]
        ).to_numpy()
        reports, undetected = simulate_child_reports(sub, eta, known, params, out_rng)
        prenatal = draw_prenatal_reports(sub, births, reports_so_far, params, out_rng)
        reports_so_far = pl.concat([reports_so_far, reports, prenatal])
        new_reports += [reports, prenatal]
        marker_parts.append(
            markers.hstack(t8.drop("child_id").rename(lambda c: f"t8_{c}")).with_columns(pl.Series("eta", eta))
        )
        undetected_parts.append(undetected)
    child_reports = pl.concat(new_reports).sort("person_id", "notification_day", "origin")
    child_reports = child_reports.with_columns((pl.int_range(pl.len()) + next_report).cast(pl.Int64).alias("report_id"))
    child_reports, child_findings = draw_investigations(child_reports, params, _rng(seed, block, "inv"))
    reports = pl.concat([parent_reports, child_reports], how="vertical")
    findings = pl.concat([parent_findings, child_findings])
    reports = attach_caregivers(reports, births)
    undetected = pl.concat(undetected_parts)
    undetected = undetected.with_columns(undetected_keys(block).alias("episode_key"))
    all_markers = pl.concat(marker_parts)

    hrng = _rng(seed, block, "health")
    maternity = draw_maternity(births, persons, params, hrng)
    hospitalisations = draw_hospitalisations(births, reports, findings, undetected, incidents, params, hrng)
    next_report += len(child_reports)
    # after every other draw, from a stream of its own: the calibrated world's records stay as they are
    recorded = record_episodes(
        births, reports, findings, undetected, hospitalisations, params, _rng(seed, block, "episodes"), next_report
    )
    if len(recorded.reports):
        new_reports = attach_caregivers(recorded.reports, births).select(reports.columns)
        reports = pl.concat([reports, new_reports])
        findings = pl.concat([findings, recorded.findings.select(findings.columns)])
        next_report += len(recorded.reports)
    if len(recorded.hospitalisations):
        hospitalisations = pl.concat([hospitalisations, recorded.hospitalisations.select(hospitalisations.columns)])
    children = children_truth(births, all_markers, reports, findings, undetected, params)
    return Block(
        persons,
        births,
        spells,
        addresses,
        sentences,
        mental_health,
        reports,
        findings,
        undetected,
        maternity,
        hospitalisations,
        children,
        extra={"next_id": fam["next_id"], "next_report": next_report, "incidents": incidents},
        episodes=recorded.episodes,
    )


def attach_caregivers(reports: pl.DataFrame, births: pl.DataFrame) -> pl.DataFrame:
    """Caregivers named on a child's notification: the primary caregiver at birth (the
    mother or the benefit client) and, where the parents live together, the father.
    Parents' own childhood records carry none (older records rarely do)."""
    carer = mk.primary_caregiver(births).select(
        pl.col("child_id").alias("person_id"), pl.col("adult_id").alias("caregiver1_id")
    )
    fathers = births.filter(pl.col("cohabiting")).select(
        pl.col("child_id").alias("person_id"), pl.col("father_id").alias("caregiver2_id")
    )
    postcode = births.select(pl.col("child_id").alias("person_id"), "birth_postcode")
    return (
        reports.join(carer, on="person_id", how="left")
        .join(fathers, on="person_id", how="left")
        .join(postcode, on="person_id", how="left")
    )


def recorded_findings(reports: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Reports with a completed, substantiated finding of maltreatment (emotional, physical,
    sexual abuse or neglect: NZ para 41; behavioural findings are not maltreatment)."""
    maltreatment = findings.filter(
        (pl.col("finding") == "SUBSTANTIATED")
        & pl.col("abuse_type").is_in(["EMOTIONAL", "PHYSICAL", "SEXUAL", "NEGLECT"])
    )
    return reports.join(maltreatment.select("report_id").unique(), on="report_id").filter(~pl.col("unborn"))


def children_truth(
    births: pl.DataFrame,
    markers: pl.DataFrame,
    reports: pl.DataFrame,
    findings: pl.DataFrame,
    undetected: pl.DataFrame,
    params: dict,
) -> pl.DataFrame:
    """One row per child born in the study window: study-population flag, Box 1 variables,
    Table 8 booleans, the oracle probabilities and realised outcomes by age."""
    lo_year, hi_year = params["timeline"]["study_birth_years"]
    obs_end = day_number(params["timeline"]["observation_end"])
    study = births.filter(pl.col("dob_day").is_between(day_number(f"{lo_year}-01-01"), day_number(f"{hi_year}-12-31")))
    study = study.select(
        "child_id", "dob_day", "mother_id", "father_id", "birth_postcode", "caregiver_id", "caregiver_relationship"
    ).join(markers, on="child_id", how="left")
    eta = study["eta"].to_numpy()
    lam2, lam5 = cumulative_baseline(2.0, params), cumulative_baseline(5.0, params)
    rec = recorded_findings(reports, findings).select(pl.col("person_id").alias("child_id"), "notification_day")
    notif = reports.filter((pl.col("record_kind") == "NOTIFICATION") & ~pl.col("unborn")).select(
        pl.col("person_id").alias("child_id"), "notification_day"
    )
    true_m = pl.concat(
        [rec, undetected.select(pl.col("person_id").alias("child_id"), pl.col("episode_day").alias("notification_day"))]
    )
    out = study.with_columns(
        pl.col("child_id").alias("true_person_id"),
        pl.col("dob_day").cast(pl.Int32).cast(pl.Date).alias("dob"),
        (pl.col("dob_day").cast(pl.Int32).cast(pl.Date).dt.year()).alias("birth_year"),
        (~pl.col("no_registration_by_3_months") | pl.col("on_benefit_by_3_months")).alias("in_study_population"),
        pl.Series("p_finding_by_age_2", 1 - np.exp(-np.exp(eta) * lam2)),
        pl.Series("p_finding_by_age_5", 1 - np.exp(-np.exp(eta) * lam5)),
    )
    cols = []
    for name, events in (("finding", rec), ("notification", notif), ("true_maltreatment", true_m)):
        joined = (
            study.select("child_id", "dob_day")
            .join(events, on="child_id", how="left")
            .with_columns(((pl.col("notification_day") - pl.col("dob_day")) / 365.25).alias("age"))
        )
        for age in OUTCOME_AGES:
            if name == "true_maltreatment" and age not in (2, 5):
                continue
            flag = joined.group_by("child_id").agg(
                ((pl.col("age") >= 0) & (pl.col("age") < age)).any().alias(f"{name}_by_age_{age}")
            )
            cols.append(flag)
        if name in ("finding", "notification"):
            cols.append(
                joined.group_by("child_id").agg(
                    ((pl.col("age") >= 0) & (pl.col("age") < 5)).sum().alias(f"n_{name}s_by_age_5")
                )
            )
    for c in cols:
        out = out.join(c, on="child_id", how="left")
    # outcomes not yet observable at the observation end are null
    observable = {age: pl.col("dob_day") + int(round(age * 365.25)) <= obs_end for age in OUTCOME_AGES}
    out = out.with_columns(
        [
            pl.when(observable[a]).then(pl.col(f"{n}_by_age_{a}")).alias(f"{n}_by_age_{a}")
            for n in ("finding", "notification")
            for a in OUTCOME_AGES
        ]
        + [
            pl.when(observable[a]).then(pl.col(f"true_maltreatment_by_age_{a}")).alias(f"true_maltreatment_by_age_{a}")
            for a in (2, 5)
        ]
    )
    return out.drop("child_id", "dob_day")
