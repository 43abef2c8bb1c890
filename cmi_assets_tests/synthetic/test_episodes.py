"""The episodes truth and its recording draws: with the calibrated shares (all 0) nothing is
added; with shares set, the new records come on top of an unchanged world (their own
random stream), and every recording the truth names is a record the world wrote."""

from __future__ import annotations

import copy

import polars as pl
import pytest

from cmi_assets.synthetic.profile import load_profile
from cmi_assets.synthetic.world import simulate_world

SCALE, SEED = 0.004, 5
SHARES = {
    "frailty_sd": 0.3,
    "police_contact_share": 0.3,
    "hospital_admission_share": 0.2,
    "cp_notification_share": 0.2,
    "cp_after_police_share": 0.3,
    "cp_after_hospital_share": 0.4,
}
NEW_ORIGINS = ("episode_police", "episode_notification")


@pytest.fixture(scope="module")
def worlds():
    base = load_profile("default")
    recorded = copy.deepcopy(base)
    recorded["world"]["maltreatment_episodes"].update(SHARES)
    return simulate_world(base, SCALE, SEED), simulate_world(recorded, SCALE, SEED)


def test_calibrated_shares_add_no_record(worlds):
    calibrated, _ = worlds
    assert calibrated.episodes.height > 0
    assert calibrated.reports.filter(pl.col("origin").is_in(NEW_ORIGINS)).is_empty()
    assert calibrated.hospitalisations.filter(pl.col("origin") == "episode_admission").is_empty()


def test_recording_draws_leave_every_other_draw_unchanged(worlds):
    calibrated, recorded = worlds
    old = recorded.reports.filter(~pl.col("origin").is_in(NEW_ORIGINS))
    assert old.sort("report_id").equals(calibrated.reports.sort("report_id"))
    kept = recorded.hospitalisations.filter(pl.col("origin") != "episode_admission")
    order = ["person_id", "admit_day", "diagnosis_code", "discharge_day"]
    assert kept.sort(order).equals(calibrated.hospitalisations.sort(order))
    for name in ("births", "persons", "undetected", "spells", "sentences"):
        assert getattr(recorded, name).equals(getattr(calibrated, name)), name
    assert recorded.reports.filter(pl.col("origin").is_in(NEW_ORIGINS)).height > 0


def test_every_recording_is_a_record(worlds):
    _, recorded = worlds
    e = recorded.episodes
    # police contacts recorded by the truth exist as police FV records of the child on that day
    police = e.filter(pl.col("police_fv_day").is_not_null()).select(
        "true_person_id", pl.col("police_fv_day").alias("day")
    )
    records = recorded.reports.filter(pl.col("source") == "POLICE_FV").select(
        pl.col("person_id").alias("true_person_id"), pl.col("notification_day").alias("day")
    )
    assert police.join(records, on=["true_person_id", "day"], how="anti").is_empty()
    admitted = e.filter(pl.col("hospital_day").is_not_null()).select(
        "true_person_id", pl.col("hospital_day").alias("day")
    )
    stays = recorded.hospitalisations.select(
        pl.col("person_id").alias("true_person_id"), pl.col("admit_day").alias("day")
    )
    assert admitted.join(stays, on=["true_person_id", "day"], how="anti").is_empty()
    # an undetected episode is never substantiated
    assert e.filter((pl.col("kind") == "undetected") & pl.col("cp_finding_day").is_not_null()).is_empty()
