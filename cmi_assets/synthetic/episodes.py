"""True maltreatment episodes and which agencies recorded each one (truth:
maltreatment_episodes.parquet), the input the incidence estimates are judged against.

An episode is either a substantiated-finding draw of the outcomes model (outcomes.py: the
recorded maltreatment, a report of origin `child_outcome` and category `finding`) or an
undetected episode (the same hazard scaled by 1/detection - 1: NZ section 13). Together
they are the world's true maltreatment (children.parquet, `true_maltreatment_by_age_k`).

Who records an episode:
- CP finding: its report's investigation substantiated maltreatment (the finding draws; an
  episode is one with probability `detection_known` / `detection_unknown`, which differ by
  whether the family is known to benefits or CP: heterogeneity between children);
- CP notification: its report came from a notifier other than police family violence;
- police family-violence contact: its report came from police FV (police notify CP);
- hospital: a maltreatment admission the health draws gave it (physical findings and
  undetected physical maltreatment, health_events.py).

The section `maltreatment_episodes` of world.yaml adds recordings the calibrated profiles
do not write: a police contact record and a maltreatment-injury admission of any episode,
and an unsubstantiated CP notification of an undetected one, more likely once police or a
hospital saw it (police and hospitals refer to CP). Their probabilities share a child-level
frailty (heterogeneity between children). These draws come from a stream of their own
(`episodes`); with every share 0, as in the calibrated profiles, they add no record and
every extract stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cmi_assets.synthetic.dates import MISSING_DAY, day_number
from cmi_assets.synthetic.families import expit
from cmi_assets.synthetic.outcomes import (
    FINDING,
    FV_REFERRAL,
    SCREENED_OUT,
    UNSUBSTANTIATED,
    draw_investigations,
    draw_sources,
    reports_frame,
)

MALTREATMENT_TYPES = ("EMOTIONAL", "PHYSICAL", "SEXUAL", "NEGLECT")  # NZ para 41
POLICE_FV = "POLICE_FV"
RECORDED_BY = ("cp_finding", "cp_notification", "police_fv", "hospital")
# maltreatment syndromes (ICD-10 T74): neglect, physical, sexual, psychological abuse
T74_BY_TYPE = {"NEGLECT": "T74.0", "PHYSICAL": "T74.1", "SEXUAL": "T74.2", "EMOTIONAL": "T74.3"}
ASSAULT_BY_BODILY_FORCE = "Y04"
MARKER_INJURY_AGE_DAYS = 365.25  # marker injuries count before the first birthday (NZ Table 10 note 3)

EPISODE_SCHEMA = {
    "episode_key": pl.String,
    "true_person_id": pl.Int64,
    "episode_day": pl.Int64,
    "kind": pl.String,
    "abuse_type": pl.String,
    **{f"{name}_day": pl.Int64 for name in RECORDED_BY},  # first day the agency recorded it
}
# later reports of the same episode: a re-report within 14 days, a duplicate of the incident
SAME_EPISODE_ORIGINS = ("re_report_14_days", "same_incident_duplicate")


@dataclass
class EpisodeRecords:
    """The truth table and the new records the recording draws add to the block."""

    episodes: pl.DataFrame
    reports: pl.DataFrame  # REPORT_SCHEMA + report_id + draw_investigations' columns
    findings: pl.DataFrame
    hospitalisations: pl.DataFrame


def recording_params(params: dict) -> dict:
    """The section with its defaults: no new recording."""
    defaults = {
        "frailty_sd": 0.0,
        "police_contact_share": 0.0,
        "hospital_admission_share": 0.0,
        "hospital_physical_odds": 1.0,
        "cp_notification_share": 0.0,
        "cp_after_police_share": 0.0,
        "cp_after_hospital_share": 0.0,
    }
    return {**defaults, **(params.get("maltreatment_episodes") or {})}


def undetected_keys(block: int) -> pl.Expr:
    """Keys of a block's undetected episodes (in row order), unique across blocks."""
    return pl.concat_str([pl.lit(f"U{block}."), pl.int_range(pl.len()).cast(pl.String)], separator="")


def _substantiated(findings: pl.DataFrame) -> pl.DataFrame:
    """report_id and its first substantiated maltreatment type."""
    return (
        findings.filter((pl.col("finding") == "SUBSTANTIATED") & pl.col("abuse_type").is_in(MALTREATMENT_TYPES))
        .sort("report_id", "abuse_type")
        .group_by("report_id", maintain_order=True)
        .agg(pl.col("abuse_type").first())
    )


def _recording_days(frame: pl.DataFrame) -> list[pl.Expr]:
    """The CP-side recording days a report makes: the finding (dated by its notification,
    as the cohort tables date findings), a notification, or a police FV notification."""
    day = pl.col("notification_day")
    return [
        pl.when(pl.col("abuse_type").is_not_null()).then(day).alias("cp_finding_day"),
        pl.when(pl.col("source") != POLICE_FV).then(day).alias("cp_notification_day"),
        pl.when(pl.col("source") == POLICE_FV).then(day).alias("police_fv_day"),
    ]


def true_episodes(reports: pl.DataFrame, findings: pl.DataFrame, undetected: pl.DataFrame) -> pl.DataFrame:
    """One row per true episode: the substantiated-finding draws and the undetected ones,
    with the abuse type (a finding's first substantiated type, UNKNOWN while its
    investigation is open; undetected: PHYSICAL or OTHER) and the days its own CP reports
    and their re-reports and duplicates recorded it."""
    substantiated = _substantiated(findings)
    child = reports.filter(~pl.col("unborn")).join(substantiated, on="report_id", how="left")
    own = child.filter((pl.col("origin") == "child_outcome") & (pl.col("category") == FINDING))
    found = own.select(
        pl.concat_str([pl.lit("F"), pl.col("report_id").cast(pl.String)]).alias("episode_key"),
        pl.col("person_id").alias("true_person_id"),
        pl.col("notification_day").alias("episode_day"),
        pl.lit("finding").alias("kind"),
        pl.col("abuse_type").fill_null("UNKNOWN"),
        *_recording_days(own),
    )
    later = (
        child.filter(pl.col("origin").is_in(SAME_EPISODE_ORIGINS))
        .select(pl.col("person_id").alias("true_person_id"), "notification_day", *_recording_days(child))
        .sort("notification_day")
        .join_asof(
            found.select("episode_key", "true_person_id", pl.col("episode_day").alias("notification_day")).sort(
                "notification_day"
            ),
            on="notification_day",
            by="true_person_id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("episode_key").is_not_null())
        .group_by("episode_key")
        .agg(pl.col(f"{name}_day").min().alias(f"_later_{name}") for name in RECORDED_BY[:3])
    )
    found = found.join(later, on="episode_key", how="left").with_columns(
        pl.min_horizontal(f"{name}_day", f"_later_{name}").alias(f"{name}_day") for name in RECORDED_BY[:3]
    )
    hidden = undetected.select(
        "episode_key",
        pl.col("person_id").alias("true_person_id"),
        "episode_day",
        pl.lit("undetected").alias("kind"),
        pl.when(pl.col("physical")).then(pl.lit("PHYSICAL")).otherwise(pl.lit("OTHER")).alias("abuse_type"),
        *[pl.lit(None, pl.Int64).alias(f"{name}_day") for name in RECORDED_BY[:3]],
    )
    columns = ["episode_key", "true_person_id", "episode_day", "kind", "abuse_type"]
    columns += [f"{name}_day" for name in RECORDED_BY[:3]]
    return pl.concat([found.select(columns), hidden.select(columns)], how="vertical_relaxed").sort(
        "true_person_id", "episode_day", "episode_key"
    )


def admission_days(
    episodes: pl.DataFrame, reports: pl.DataFrame, hospitalisations: pl.DataFrame, births: pl.DataFrame
) -> pl.Series:
    """The first day a hospital recorded each episode as maltreatment (null: never): an
    admission the health draws gave it (an undetected episode's own, or one for a
    substantiated physical finding on the episode's report or a later report of the same
    child before the next episode), of at least one night (same-day stays are short-stay
    emergency visits: NZ Table 10 note 3), coded as maltreatment (every finding's admission
    carries a maltreatment or assault code) or, for undetected maltreatment (injury codes
    only, no cause), a marker injury before the first birthday (Table 10 note 3)."""
    dob = births.select(pl.col("child_id").alias("person_id"), pl.col("dob_day").alias("_dob"))
    admitted = (
        hospitalisations.filter(pl.col("episode_ref").is_not_null() & (pl.col("discharge_day") != pl.col("admit_day")))
        .join(dob, on="person_id", how="left")
        .filter(
            ~pl.col("episode_ref").str.starts_with("U")
            | ((pl.col("admit_day") - pl.col("_dob")) < MARKER_INJURY_AGE_DAYS)
        )
        .select("episode_ref", "admit_day")
    )
    direct = admitted.filter(~pl.col("episode_ref").str.starts_with("R")).select(
        pl.col("episode_ref").alias("episode_key"), "admit_day"
    )
    by_report = admitted.filter(pl.col("episode_ref").str.starts_with("R")).select(
        pl.col("episode_ref").str.slice(1).cast(pl.Int64).alias("report_id"), "admit_day"
    )
    found = episodes.filter(pl.col("kind") == "finding").select("episode_key", "true_person_id", "episode_day")
    owner = (
        reports.join(by_report, on="report_id")
        .select(
            pl.col("person_id").alias("true_person_id"), pl.col("notification_day").alias("episode_day"), "admit_day"
        )
        .sort("episode_day")
        .join_asof(
            found.sort("episode_day"),
            on="episode_day",
            by="true_person_id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("episode_key").is_not_null())
        .select("episode_key", "admit_day")
    )
    first = pl.concat([direct, owner]).group_by("episode_key").agg(pl.col("admit_day").min())
    return episodes.select("episode_key").join(first, on="episode_key", how="left", maintain_order="left")["admit_day"]


def record_episodes(
    births: pl.DataFrame,
    reports: pl.DataFrame,
    findings: pl.DataFrame,
    undetected: pl.DataFrame,
    hospitalisations: pl.DataFrame,
    params: dict,
    rng: np.random.Generator,
    first_report_id: int,
) -> EpisodeRecords:
    """The block's true episodes with every recording, and the records the section
    `maltreatment_episodes` adds (empty frames when its shares are 0)."""
    p = recording_params(params)
    episodes = true_episodes(reports, findings, undetected)
    episodes = episodes.with_columns(admission_days(episodes, reports, hospitalisations, births).alias("hospital_day"))

    children = births.select(pl.col("child_id").alias("true_person_id")).sort("true_person_id")
    frailty = children.with_columns(pl.Series("_w", p["frailty_sd"] * rng.standard_normal(len(children))))
    episodes = episodes.join(frailty, on="true_person_id", how="left").with_columns(pl.col("_w").fill_null(0.0))
    n = len(episodes)
    w = episodes["_w"].to_numpy()
    physical = (episodes["abuse_type"] == "PHYSICAL").to_numpy()
    day = episodes["episode_day"].to_numpy()
    undetected_mask = (episodes["kind"] == "undetected").to_numpy()
    timeline = params["timeline"]
    cp_window = (day >= day_number(timeline["data_start"]["child_protection"])) & (
        day <= day_number(timeline["observation_end"])
    )
    health_window = (day >= day_number(timeline["data_start"]["health"])) & (
        day <= day_number(timeline["observation_end"])
    )

    def share(base: float, extra: np.ndarray | float = 0.0) -> np.ndarray:
        if base <= 0.0:
            return np.zeros(n)
        return expit(np.log(base / (1 - base)) + extra + w)

    u_police, u_hosp, u_cp, u_after_police, u_after_hosp = (rng.random(n) for _ in range(5))
    police_new = (u_police < share(p["police_contact_share"])) & episodes["police_fv_day"].is_null().to_numpy()
    police_new &= cp_window
    hosp_odds = np.log(p["hospital_physical_odds"]) * physical
    hosp_new = (u_hosp < share(p["hospital_admission_share"], hosp_odds)) & health_window
    hosp_new &= episodes["hospital_day"].is_null().to_numpy()
    after_police = undetected_mask & police_new & (u_after_police < p["cp_after_police_share"])
    after_hosp = undetected_mask & hosp_new & (u_after_hosp < p["cp_after_hospital_share"])
    other_notifier = undetected_mask & (u_cp < share(p["cp_notification_share"]))
    cp_new = (after_police | after_hosp | other_notifier) & cp_window
    cp_source = np.where(
        after_hosp,
        "HEALTH",
        np.where(after_police, "POLICE", draw_sources(n, params, rng, police_fv=False)),
    )

    pid = episodes["true_person_id"].to_numpy()
    police_reports = reports_frame(
        pid[police_new],
        day[police_new],
        np.full(police_new.sum(), POLICE_FV),
        np.full(police_new.sum(), FV_REFERRAL),
        "episode_police",
    )
    screened = rng.random(cp_new.sum()) < params["outcomes"]["screened_out_share"]
    cp_reports = reports_frame(
        pid[cp_new],
        day[cp_new],
        cp_source[cp_new],
        np.where(screened, SCREENED_OUT, UNSUBSTANTIATED),
        "episode_notification",
    )
    new_reports = pl.concat([police_reports, cp_reports]).sort("person_id", "notification_day", "source")
    new_reports = new_reports.with_columns((pl.int_range(pl.len()) + first_report_id).cast(pl.Int64).alias("report_id"))
    new_reports, new_findings = draw_investigations(new_reports, params, rng)

    abuse = episodes["abuse_type"].to_numpy()
    m = int(hosp_new.sum())
    codes = np.array([T74_BY_TYPE.get(a, "T74.8") for a in abuse[hosp_new]], dtype=object)
    admit = day[hosp_new].astype("int64")
    new_hosp = pl.DataFrame(
        {
            "person_id": pid[hosp_new].astype("int64"),
            "admit_day": admit,
            # at least one night: same-day stays are short-stay emergency visits (NZ Table 10 note 3)
            "discharge_day": admit + rng.integers(1, 15, m),
            "diagnosis_code": pl.Series(list(codes), dtype=pl.String),
            "external_cause_code": pl.Series([ASSAULT_BY_BODILY_FORCE] * m, dtype=pl.String),
            "origin": pl.Series(["episode_admission"] * m, dtype=pl.String),
            "episode_ref": pl.Series(episodes["episode_key"].to_numpy()[hosp_new].tolist(), dtype=pl.String),
        }
    )
    hi = day_number(timeline["observation_end"])
    new_hosp = new_hosp.with_columns(
        pl.when(pl.col("discharge_day") > hi)
        .then(MISSING_DAY)
        .otherwise(pl.col("discharge_day"))
        .alias("discharge_day")
    )
    # a new record is made on the episode's day
    episodes = episodes.with_columns(
        pl.min_horizontal(name, pl.when(pl.Series(new)).then(pl.col("episode_day"))).alias(name)
        for name, new in (("cp_notification_day", cp_new), ("police_fv_day", police_new), ("hospital_day", hosp_new))
    )
    return EpisodeRecords(
        episodes=episodes.select(list(EPISODE_SCHEMA)).cast(EPISODE_SCHEMA),
        reports=new_reports,
        findings=new_findings,
        hospitalisations=new_hosp,
    )


def episodes_truth(episodes: pl.DataFrame) -> pl.DataFrame:
    """maltreatment_episodes.parquet: days as dates, and `recorded_<agency>` flags."""
    as_date = lambda c: pl.col(c).cast(pl.Int32).cast(pl.Date)  # noqa: E731
    return episodes.select(
        "episode_key",
        "true_person_id",
        as_date("episode_day").alias("episode_date"),
        "kind",
        "abuse_type",
        *[pl.col(f"{name}_day").is_not_null().alias(f"recorded_{name}") for name in RECORDED_BY],
        *[as_date(f"{name}_day").alias(f"{name}_date") for name in RECORDED_BY],
    )
