"""Child-protection events: the hidden risk model (recorded substantiated findings as a
Poisson process with cumulative hazard exp(eta) * Lambda(age)), other notifications,
police family-violence referrals, the parents' own childhood records, true maltreatment
(recorded / detection probability: NZ section 13) and the CFSR edge cases (CFSR R4
rules, section 2.1: re-reports within 14 days, same-incident duplicates, dispositions
after the fiscal year, alternative response, deaths, 18+, unborn)."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.dates import MISSING_DAY, day_number, years_to_days

# Report categories: how a notification ends
FINDING, BEHAVIOURAL, UNSUBSTANTIATED, ALTERNATIVE_RESPONSE, SCREENED_OUT, FV_REFERRAL = (
    "finding",
    "behavioural",
    "unsubstantiated",
    "alternative_response",
    "screened_out",
    "fv_referral",
)

# categories whose notification leads to an investigation or assessment (further action)
INVESTIGATED = (FINDING, BEHAVIOURAL, UNSUBSTANTIATED, ALTERNATIVE_RESPONSE)

REPORT_SCHEMA = {
    "person_id": pl.Int64,
    "notification_day": pl.Int64,
    "incident_day": pl.Int64,
    "source": pl.String,
    "category": pl.String,
    "origin": pl.String,
    "death": pl.Boolean,
    "unborn": pl.Boolean,
}


def reports_frame(person_id, day, source, category, origin, incident_day=None, death=None, unborn=None) -> pl.DataFrame:
    n = len(person_id)
    return pl.DataFrame(
        {
            "person_id": np.asarray(person_id, dtype="int64"),
            "notification_day": np.asarray(day, dtype="int64"),
            "incident_day": np.full(n, MISSING_DAY, dtype="int64")
            if incident_day is None
            else np.asarray(incident_day, dtype="int64"),
            "source": np.asarray(source).astype(str) if n else np.array([], dtype=str),
            "category": np.asarray(category).astype(str) if n else np.array([], dtype=str),
            "origin": np.full(n, origin).astype(str) if n else np.array([], dtype=str),
            "death": np.zeros(n, bool) if death is None else np.asarray(death, bool),
            "unborn": np.zeros(n, bool) if unborn is None else np.asarray(unborn, bool),
        },
        schema=REPORT_SCHEMA,
    )


def draw_sources(
    n: int, params: dict, rng: np.random.Generator, age_years: np.ndarray | None = None, police_fv: bool = True
) -> np.ndarray:
    """Notifier per report. Police FV referrals are family-violence incidents
    (draw_family_violence_reports); only reports leading to findings also arise from them."""
    out = params["outcomes"]
    sources = np.asarray(out["sources"])
    shares = np.asarray(out["source_shares"], dtype=float) * (1.0 if police_fv else (sources != "POLICE_FV"))
    pick = rng.choice(len(sources), n, p=shares / shares.sum())
    result = sources[pick]
    if age_years is not None:  # schools notify only school-age children
        young = (result == "EDUCATION") & (age_years < 5)
        result[young] = "HEALTH"
    return result


# ---- hazard ------------------------------------------------------------------------------------


def band_exposure(dob: np.ndarray, lo_day: int, hi_day: int, edges: list[float]) -> np.ndarray:
    """Years of each age band lived inside [lo_day, hi_day] (rows: children, cols: bands)."""
    edges_days = years_to_days(np.asarray(edges, dtype=float))
    start = np.maximum(dob[:, None] + edges_days[None, :-1], lo_day)
    stop = np.minimum(dob[:, None] + edges_days[None, 1:], hi_day + 1)
    return np.maximum(stop - start, 0) / 365.25


def cumulative_baseline(age_years: float, params: dict) -> float:
    """Lambda(age): the baseline cumulative hazard per unit exp(eta)."""
    out = params["outcomes"]
    edges, rates = np.asarray(out["age_band_edges"], float), np.asarray(out["baseline_hazard"], float)
    widths = np.clip(age_years - edges[:-1], 0, np.diff(edges))
    return float(widths @ rates)


def events_in_bands(
    rate: np.ndarray,
    dob: np.ndarray,
    lo_day: int,
    hi_day: int,
    params: dict,
    rng: np.random.Generator,
    age_profile: list[float] | None = None,
):
    """Poisson events with intensity rate_i * baseline(age) [* age_profile] in
    [lo_day, hi_day]; returns (row index, event day)."""
    out = params["outcomes"]
    edges = out["age_band_edges"]
    exposure = band_exposure(dob, lo_day, hi_day, edges)
    hazard = np.asarray(out["baseline_hazard"], float) * (
        1.0 if age_profile is None else np.asarray(age_profile, float)
    )
    # Intensities are capped (events per year): exp(eta) of the highest-risk children is
    # large, and without a ceiling they would carry hundreds of reports a year. The cap
    # hardly moves first-event probabilities (they are ~1 above it) and keeps counts real.
    intensity = np.minimum(rate[:, None] * hazard[None, :], out["max_events_per_year"])
    counts = rng.poisson(intensity * exposure)
    rows, bands = np.nonzero(counts)
    reps = counts[rows, bands]
    rows, bands = np.repeat(rows, reps), np.repeat(bands, reps)
    edges_days = years_to_days(np.asarray(edges, dtype=float))
    start = np.maximum(dob[rows] + edges_days[bands], lo_day)
    stop = np.minimum(dob[rows] + edges_days[bands + 1], hi_day + 1)
    day = start + (rng.random(rows.size) * (stop - start)).astype("int64")
    return rows, day


def eta_of(
    table8: pl.DataFrame,
    extras: pl.DataFrame,
    offices: pl.Series,
    office_effects: dict,
    cohort_year: np.ndarray,
    params: dict,
) -> np.ndarray:
    """eta = alpha + beta . Table 8 markers + fixed Box 1 increments + office effect +
    cohort trend (no unobserved frailty)."""
    out = params["outcomes"]
    beta = out["beta"]
    eta = np.full(len(table8), float(out["alpha"]))
    for name, coef in beta.items():
        eta += float(coef) * table8[name].to_numpy().astype(float)
    for name, coef in out["extra_effects"].items():
        eta += float(coef) * extras[name].to_numpy().astype(float)
    eta += np.array([office_effects.get(o, 0.0) for o in offices.to_list()])
    eta += out["cohort_trend_per_year"] * (cohort_year - out["cohort_trend_centre"])
    return eta


def draw_office_effects(n_offices: int, sd: float, rng: np.random.Generator) -> dict[str, float]:
    return {f"O{i:02d}": float(v) for i, v in enumerate(rng.normal(0, sd, n_offices), start=1)}


# ---- children's own outcomes --------------------------------------------------------------------


def simulate_child_reports(
    children: pl.DataFrame, eta: np.ndarray, known: np.ndarray, params: dict, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CP reports of the given children over ages 0-17 inside the CP data window, and
    their undetected maltreatment episodes (truth only). `children` has child_id, dob_day;
    `known` flags families known to benefits/CP (higher detection)."""
    out = params["outcomes"]
    lo = day_number(params["timeline"]["data_start"]["child_protection"])
    hi = day_number(params["timeline"]["observation_end"])
    dob = children["dob_day"].to_numpy()
    ids = children["child_id"].to_numpy()
    rate = np.exp(eta)
    frames = []

    # recorded substantiated findings (the oracle's outcome)
    rows, day = events_in_bands(rate, dob, lo, hi, params, rng)
    age = (day - dob[rows]) / 365.25
    death = (age < 5) & (rng.random(rows.size) < out["death_per_finding_under_5"])
    incident = np.where(rng.random(rows.size) < 0.85, day - rng.integers(0, 10, rows.size), MISSING_DAY)
    findings = reports_frame(
        ids[rows],
        day,
        draw_sources(rows.size, params, rng, age),
        np.full(rows.size, FINDING),
        "child_outcome",
        incident,
        death,
    )
    frames.append(findings)

    # other notifications: screened out, unsubstantiated, or alternative response
    alpha = float(out["alpha"])
    n_rate = out["notification_multiplier"] * np.exp(alpha + out["notification_slope"] * (eta - alpha))
    rows_n, day_n = events_in_bands(n_rate, dob, lo, hi, params, rng, out["notification_age_profile"])
    u = rng.random(rows_n.size)
    cat = np.where(
        u < out["screened_out_share"],
        SCREENED_OUT,
        np.where(u < out["screened_out_share"] + out["assessment_share"], ALTERNATIVE_RESPONSE, UNSUBSTANTIATED),
    )
    age_n = (day_n - dob[rows_n]) / 365.25
    frames.append(
        reports_frame(
            ids[rows_n], day_n, draw_sources(rows_n.size, params, rng, age_n, police_fv=False), cat, "child_outcome"
        )
    )

    # CFSR edge cases built on the findings
    f_day, f_pid, f_inc = (
        findings["notification_day"].to_numpy(),
        findings["person_id"].to_numpy(),
        findings["incident_day"].to_numpy(),
    )
    re = rng.random(len(findings)) < out["re_report_14_days_share"]
    re_day = f_day[re] + rng.integers(1, 15, re.sum())
    frames.append(
        reports_frame(
            f_pid[re],
            re_day,
            draw_sources(re.sum(), params, rng),
            np.where(rng.random(re.sum()) < 0.5, FINDING, UNSUBSTANTIATED),
            "re_report_14_days",
        )
    )
    dup = (rng.random(len(findings)) < out["same_incident_duplicate_share"]) & (f_inc != MISSING_DAY)
    dup_day = f_day[dup] + rng.integers(15, 90, dup.sum())
    frames.append(
        reports_frame(
            f_pid[dup],
            dup_day,
            draw_sources(dup.sum(), params, rng),
            np.full(dup.sum(), FINDING),
            "same_incident_duplicate",
            f_inc[dup],
        )
    )
    with_finding = np.unique(f_pid)
    late = with_finding[rng.random(with_finding.size) < out["report_18_plus_share"]]
    dob_of = dict(zip(ids.tolist(), dob.tolist()))
    late_day = np.array([dob_of[p] for p in late.tolist()], dtype="int64") + years_to_days(
        rng.uniform(18.0, 19.5, late.size)
    )
    frames.append(
        reports_frame(
            late,
            late_day,
            draw_sources(late.size, params, rng),
            np.full(late.size, UNSUBSTANTIATED),
            "reported_at_18_plus",
        )
    )
    reports = pl.concat(frames).filter(pl.col("notification_day").is_between(lo, hi))
    reports = drop_after_death(reports)

    # true maltreatment episodes that were never recorded (rate scaled by 1/detection - 1)
    detect = np.where(known, out["detection_known"], out["detection_unknown"])
    rows_u, day_u = events_in_bands(rate * (1 - detect) / detect, dob, -(10**7), hi, params, rng)
    physical = rng.random(rows_u.size) < out["abuse_type_shares"][out["abuse_types"].index("PHYSICAL")]
    undetected = pl.DataFrame({"person_id": ids[rows_u], "episode_day": day_u.astype("int64"), "physical": physical})
    return reports, undetected


def drop_after_death(reports: pl.DataFrame) -> pl.DataFrame:
    """A child who dies of maltreatment has no later reports."""
    death_day = reports.filter("death").group_by("person_id").agg(pl.min("notification_day").alias("death_day"))
    return (
        reports.join(death_day, on="person_id", how="left")
        .filter(pl.col("death_day").is_null() | (pl.col("notification_day") <= pl.col("death_day")))
        .drop("death_day")
    )


def draw_prenatal_reports(
    births: pl.DataFrame, all_births: pl.DataFrame, reports: pl.DataFrame, params: dict, rng: np.random.Generator
) -> pl.DataFrame:
    """Unborn-child reports: births to mothers with another child's substantiated finding
    in the two years before the birth are sometimes notified before birth."""
    sib_findings = (
        reports.filter(pl.col("category") == FINDING)
        .join(all_births.select(pl.col("child_id").alias("person_id"), "mother_id"), on="person_id")
        .select("mother_id", "notification_day")
    )
    cand = (
        births.select("child_id", "mother_id", "dob_day", "twin_index")
        .filter(pl.col("twin_index") == 0)
        .join(sib_findings, on="mother_id")
        .filter(pl.col("notification_day").is_between(pl.col("dob_day") - 730, pl.col("dob_day") - 1))
        .select("child_id", "dob_day")
        .unique()
        .sort("child_id")
    )
    pick = rng.random(len(cand)) < params["outcomes"]["prenatal_report_share"]
    cand = cand.filter(pl.Series(pick))
    day = cand["dob_day"].to_numpy() - rng.integers(7, 150, len(cand))
    lo = day_number(params["timeline"]["data_start"]["child_protection"])
    frame = reports_frame(
        cand["child_id"].to_numpy(),
        day,
        np.where(rng.random(len(cand)) < 0.6, "HEALTH", "SOCIAL_SERVICES"),
        np.full(len(cand), ALTERNATIVE_RESPONSE),
        "prenatal",
        unborn=np.ones(len(cand), bool),
    )
    return frame.filter(pl.col("notification_day") >= lo)


# ---- family violence and parents' childhood ---------------------------------------------------


def draw_family_violence_reports(
    births: pl.DataFrame, mothers_z: pl.DataFrame, params: dict, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Police FV incidents per mother (while she has children under 17); every child
    present gets a POLICE_FV record (NZ paras 45-46). Returns (reports, incidents)."""
    fv = params["family_violence"]
    lo = day_number(params["timeline"]["data_start"]["child_protection"])
    hi = day_number(params["timeline"]["observation_end"])
    span = (
        births.group_by("mother_id")
        .agg(pl.min("dob_day").alias("first"), pl.max("dob_day").alias("last"))
        .join(mothers_z, left_on="mother_id", right_on="true_person_id")
        .sort("mother_id")
    )
    start = np.maximum(span["first"].to_numpy(), lo)
    stop = np.minimum(span["last"].to_numpy() + years_to_days(17), hi)
    years = np.maximum(stop - start, 0) / 365.25
    counts = rng.poisson(years * np.exp(fv["incidents_per_year_log"] + fv["incidents_z"] * span["z"].to_numpy()))
    rows = np.repeat(np.arange(len(span)), counts)
    day = start[rows] + (rng.random(rows.size) * (stop[rows] - start[rows])).astype("int64")
    incidents = pl.DataFrame(
        {
            "incident_id": np.arange(rows.size, dtype="int64"),
            "mother_id": span["mother_id"].to_numpy()[rows],
            "incident_day": day.astype("int64"),
        }
    )
    present = (
        incidents.join(births.select("mother_id", "child_id", "dob_day"), on="mother_id")
        .filter(
            (pl.col("dob_day") <= pl.col("incident_day"))
            & (pl.col("incident_day") - pl.col("dob_day") < years_to_days(17))
        )
        .sort("incident_id", "child_id")
    )
    further = rng.random(len(present)) < fv["further_action_share"]
    cat = np.where(
        further, np.where(rng.random(len(present)) < 0.5, UNSUBSTANTIATED, ALTERNATIVE_RESPONSE), FV_REFERRAL
    )
    notified = present["incident_day"].to_numpy() + rng.integers(0, 3, len(present))
    reports = reports_frame(
        present["child_id"].to_numpy(),
        notified,
        np.full(len(present), "POLICE_FV"),
        cat,
        "family_violence",
        present["incident_day"].to_numpy(),
    )
    return reports.filter(pl.col("notification_day") <= hi), incidents


def draw_parents_childhood_reports(adults: pl.DataFrame, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """Parents' and caregivers' own CP records as children (electronic records from 1990, so
    only younger parents have them: NZ para 50), including behavioural/relationship
    findings (Box 1)."""
    cp = params["parents_childhood_cp"]
    lo = day_number(params["timeline"]["data_start"]["child_protection"])
    hi = day_number(params["timeline"]["observation_end"])
    dob = adults["dob_day"].to_numpy()
    start = np.maximum(dob, lo)
    stop = np.minimum(dob + years_to_days(18) - 1, hi)
    years = np.maximum(stop - start, 0) / 365.25
    z_child = adults["z"].to_numpy() + cp["z_noise_sd"] * rng.standard_normal(len(adults))
    per_year = np.exp(cp["notifications_per_year_log"] + cp["notifications_z"] * z_child)
    counts = rng.poisson(years * np.minimum(per_year, params["outcomes"]["max_events_per_year"]))
    rows = np.repeat(np.arange(len(adults)), counts)
    day = start[rows] + (rng.random(rows.size) * (stop[rows] - start[rows])).astype("int64")
    age = (day - dob[rows]) / 365.25
    investigated = rng.random(rows.size) < cp["investigated_share"]
    substantiated = investigated & (rng.random(rows.size) < cp["substantiated_share"])
    behavioural = substantiated & (age >= 8) & (rng.random(rows.size) < cp["behavioural_share"])
    cat = np.where(
        behavioural,
        BEHAVIOURAL,
        np.where(substantiated, FINDING, np.where(investigated, UNSUBSTANTIATED, SCREENED_OUT)),
    )
    return reports_frame(
        adults["true_person_id"].to_numpy()[rows],
        day,
        draw_sources(rows.size, params, rng, age),
        cat,
        "parent_childhood",
    )


# ---- investigations and findings ---------------------------------------------------------------


def draw_investigations(
    reports: pl.DataFrame, params: dict, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Adds record_kind, further_action, response, start/completed days to `reports` (which
    must carry report_id) and returns (reports, findings) with one findings row per abuse
    type of each investigation. Investigations still open at the observation end have no
    completed date and no finding yet."""
    out = params["outcomes"]
    hi = day_number(params["timeline"]["observation_end"])
    contact_from = day_number(params["family_violence"]["contact_record_from"])
    n = len(reports)
    cat = reports["category"].to_numpy()
    day = reports["notification_day"].to_numpy()
    investigated = np.isin(cat, [FINDING, BEHAVIOURAL, UNSUBSTANTIATED, ALTERNATIVE_RESPONSE])
    assessment = (cat == ALTERNATIVE_RESPONSE) | (np.isin(cat, [FINDING, BEHAVIOURAL]) & (rng.random(n) < 0.2))
    start = day + rng.integers(out["investigation_start_days"][0], out["investigation_start_days"][1] + 1, n)
    completed = start + rng.integers(out["investigation_days"][0], out["investigation_days"][1] + 1, n)
    open_at_end = completed > hi
    kind = np.where((cat == FV_REFERRAL) & (day >= contact_from), "FV_CONTACT_RECORD", "NOTIFICATION")
    reports = reports.with_columns(
        pl.Series("record_kind", kind),
        pl.Series("further_action", np.where(investigated, "Y", "N")),
        pl.Series("response", np.where(investigated, np.where(assessment, "ASSESSMENT", "INVESTIGATION"), "")).replace(
            "", None
        ),
        pl.Series("start_day", np.where(investigated & (start <= hi), start, MISSING_DAY)),
        pl.Series("completed_day", np.where(investigated & ~open_at_end, completed, MISSING_DAY)),
    )

    # abuse rows per investigation
    inv = reports.filter(pl.col("further_action") == "Y")
    types = np.asarray(out["abuse_types"])
    shares = np.asarray(out["abuse_type_shares"], float)
    m = len(inv)
    first = types[rng.choice(len(types), m, p=shares / shares.sum())]
    second_on = rng.random(m) < out["second_abuse_type_share"]
    second = types[rng.choice(len(types), m, p=shares / shares.sum())]
    second_on &= second != first
    c = inv["category"].to_numpy()
    done = inv["completed_day"].to_numpy() != MISSING_DAY
    first = np.where(
        c == BEHAVIOURAL, "BEHAVIOURAL", np.where((c == ALTERNATIVE_RESPONSE) & (rng.random(m) < 0.4), "NONE", first)
    )
    finding_first = np.where(
        ~done,
        "NO_FINDING",
        np.where(
            np.isin(c, [FINDING, BEHAVIOURAL]),
            "SUBSTANTIATED",
            np.where(
                c == UNSUBSTANTIATED, np.where(rng.random(m) < 0.8, "NOT_SUBSTANTIATED", "NO_FINDING"), "NO_FINDING"
            ),
        ),
    )
    finding_second = np.where(
        ~done,
        "NO_FINDING",
        np.where(
            c == FINDING,
            np.where(rng.random(m) < 0.5, "SUBSTANTIATED", "NOT_SUBSTANTIATED"),
            np.where(c == ALTERNATIVE_RESPONSE, "NO_FINDING", "NOT_SUBSTANTIATED"),
        ),
    )
    second_on &= (c != BEHAVIOURAL) & (first != "NONE")
    rid = inv["report_id"].to_numpy()
    findings = pl.concat(
        [
            pl.DataFrame({"report_id": rid, "abuse_type": first, "finding": finding_first}),
            pl.DataFrame(
                {"report_id": rid[second_on], "abuse_type": second[second_on], "finding": finding_second[second_on]}
            ),
        ]
    ).sort("report_id", "abuse_type")
    return reports, findings
