"""Health events (data from 2000): maternity records per delivery (smoking, gestation,
plurality), hospital admissions of children (T74 maltreatment syndromes, S06 intracranial
injury, long-bone fractures S42/S52/S72/S82, Q birth abnormalities, accidental injuries)
and mothers' assault admissions with external cause X85-Y09."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.synthetic.dates import MISSING_DAY, day_number
from cmi_assets.synthetic.families import expit

LONG_BONE = np.array(["S42.2", "S52.5", "S72.0", "S82.2"])
INTRACRANIAL = np.array(["S06.0", "S06.5", "S06.6"])
MALTREATMENT_SYNDROME = np.array(["T74.1", "T74.0", "T74.8"])
BIRTH_ABNORMALITY = np.array(["Q21.0", "Q35.9", "Q65.0", "Q90.9", "Q53.1"])
ACCIDENT = np.array(["S52.5", "S42.0", "S01.8", "T14.0", "S82.6"])
ASSAULT_INJURY = np.array(["S02.2", "S00.8", "S06.0", "S20.2", "T14.0"])
ASSAULT_CAUSE = np.array(["X99", "Y00", "Y04", "Y05", "Y08", "Y09", "X85"])
ACCIDENT_CAUSE = np.array(["W01", "W06", "W10", "W19", "V43"])


def _window(params: dict) -> tuple[int, int]:
    return day_number(params["timeline"]["data_start"]["health"]), day_number(params["timeline"]["observation_end"])


def draw_maternity(births: pl.DataFrame, persons: pl.DataFrame, params: dict, rng: np.random.Generator) -> pl.DataFrame:
    """One maternity record per delivery from 2000 (most deliveries), with smoking at
    booking driven by z."""
    h = params["health"]
    lo, hi = _window(params)
    ev = births.filter(pl.col("twin_index") == 0).filter(pl.col("dob_day").is_between(lo, hi))
    keep = rng.random(len(ev)) < h["maternity_coverage"]
    ev = ev.filter(pl.Series(keep))
    n = len(ev)
    smoker = rng.random(n) < expit(h["smoking_logit"] + h["smoking_z"] * ev["z"].to_numpy())
    smoking = np.where(rng.random(n) < h["smoking_unknown_share"], "U", np.where(smoker, "Y", "N"))
    return ev.select(
        pl.col("mother_id").alias("person_id"),
        "dob_day",
        "plurality",
        "gestation_weeks",
        pl.col("birth_postcode").alias("postcode"),
        "event_id",
        "child_id",
    ).with_columns(pl.Series("smoking_at_booking", smoking))


def draw_hospitalisations(
    births: pl.DataFrame,
    reports: pl.DataFrame,
    findings: pl.DataFrame,
    undetected: pl.DataFrame,
    incidents: pl.DataFrame,
    params: dict,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Admissions: physical-abuse findings (some coded T74, infants often S06), undetected
    physical maltreatment (injury codes without T74), accidental injuries, birth
    abnormalities, and mothers' assault admissions after family violence."""
    h = params["health"]
    lo, hi = _window(params)
    frames = []
    phys = (
        findings.filter((pl.col("abuse_type") == "PHYSICAL") & (pl.col("finding") == "SUBSTANTIATED"))
        .select("report_id")
        .unique()
    )
    phys = (
        reports.join(phys, on="report_id")
        .select("person_id", "notification_day", "report_id")
        .join(births.select(pl.col("child_id").alias("person_id"), "dob_day"), on="person_id")
    )
    phys = phys.filter(pl.Series(rng.random(len(phys)) < h["physical_finding_admission_share"]))
    infant = (phys["notification_day"] - phys["dob_day"]).to_numpy() < 365
    n = len(phys)
    code = np.where(
        rng.random(n) < 0.5,
        rng.choice(MALTREATMENT_SYNDROME, n),
        np.where(infant, rng.choice(INTRACRANIAL, n), rng.choice(LONG_BONE, n)),
    )
    frames.append(
        _admissions(
            phys["person_id"].to_numpy(),
            phys["notification_day"].to_numpy() - rng.integers(0, 4, n),
            code,
            rng.choice(ASSAULT_CAUSE, n),
            rng,
            "maltreatment",
            ("R" + phys["report_id"].cast(pl.String)).to_list(),
        )
    )
    und = undetected.filter("physical")
    und = und.filter(pl.Series(rng.random(len(und)) < h["undetected_physical_admission_share"]))
    m = len(und)
    frames.append(
        _admissions(
            und["person_id"].to_numpy(),
            und["episode_day"].to_numpy(),
            np.where(rng.random(m) < 0.5, rng.choice(INTRACRANIAL, m), rng.choice(LONG_BONE, m)),
            np.full(m, None),
            rng,
            "undetected_maltreatment",
            und["episode_key"].to_list() if "episode_key" in und.columns else None,
        )
    )
    # accidental injuries ages 0-17 and birth abnormalities
    dob = births["dob_day"].to_numpy()
    years = np.clip((np.minimum(dob + 6575, hi) - np.maximum(dob, lo)) / 365.25, 0, None)
    counts = rng.poisson(years * h["accidental_injury_per_year"])
    rows = np.repeat(np.arange(len(births)), counts)
    start, stop = np.maximum(dob[rows], lo), np.minimum(dob[rows] + 6575, hi)
    day = start + (rng.random(rows.size) * np.maximum(stop - start, 1)).astype("int64")
    frames.append(
        _admissions(
            births["child_id"].to_numpy()[rows],
            day,
            rng.choice(ACCIDENT, rows.size),
            rng.choice(ACCIDENT_CAUSE, rows.size),
            rng,
            "accident",
        )
    )
    abn = rng.random(len(births)) < h["birth_abnormality_share"]
    frames.append(
        _admissions(
            births["child_id"].to_numpy()[abn],
            dob[abn] + rng.integers(0, 30, abn.sum()),
            rng.choice(BIRTH_ABNORMALITY, abn.sum()),
            np.full(abn.sum(), None),
            rng,
            "birth_abnormality",
        )
    )
    fv = incidents.filter(
        pl.Series(rng.random(len(incidents)) < params["family_violence"]["mother_assault_admission_share"])
    )
    k = len(fv)
    frames.append(
        _admissions(
            fv["mother_id"].to_numpy(),
            fv["incident_day"].to_numpy(),
            rng.choice(ASSAULT_INJURY, k),
            rng.choice(ASSAULT_CAUSE, k),
            rng,
            "mother_assault",
        )
    )
    out = pl.concat(frames)
    return (
        out.filter(pl.col("admit_day").is_between(lo, hi))
        .with_columns(
            pl.when(pl.col("discharge_day") > hi)
            .then(MISSING_DAY)
            .otherwise(pl.col("discharge_day"))
            .alias("discharge_day")
        )
        .sort("person_id", "admit_day")
    )


def _admissions(person_id, admit_day, diagnosis, external_cause, rng, origin: str, episode_ref=None) -> pl.DataFrame:
    """`episode_ref` (truth only, never written to an extract) names the maltreatment episode
    an admission records: "R<report_id>" for a finding's report, an undetected episode's key."""
    n = len(person_id)
    admit = np.asarray(admit_day, dtype="int64")
    return pl.DataFrame(
        {
            "person_id": np.asarray(person_id, dtype="int64"),
            "admit_day": admit,
            "discharge_day": admit + rng.integers(0, 15, n),
            "diagnosis_code": pl.Series(list(diagnosis), dtype=pl.String),
            "external_cause_code": pl.Series(list(external_cause), dtype=pl.String),
            "origin": pl.Series([origin] * n, dtype=pl.String),
            "episode_ref": pl.Series(episode_ref if episode_ref is not None else [None] * n, dtype=pl.String),
        }
    )
