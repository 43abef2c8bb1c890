"""Outcomes by age 1..5 (Figure 1) and the Table 10 targets A-E, as children and events."""

import datetime as dt

import pytest

from cmi_assets.cohorts.outcomes import TARGETS, cohort_outcomes, outcome_column


def test_finding_at_729_days_is_by_age_2_and_at_731_days_is_not(value, outcomes_2010):
    assert [value(outcomes_2010, "A", f"finding_by_age_{k}") for k in range(1, 6)] == [False, True, True, True, True]
    assert [value(outcomes_2010, "B", f"finding_by_age_{k}") for k in range(1, 6)] == [False, False, True, True, True]


def test_one_investigation_with_two_abuse_types_is_one_finding_event(value, outcomes_2010):
    assert value(outcomes_2010, "A", "n_finding_events_by_age_5") == 1
    assert value(outcomes_2010, "A", "n_investigation_events_by_age_5") == 1


def test_target_d_excludes_emotional_abuse(value, outcomes_2010):
    assert value(outcomes_2010, "A", "target_d_by_age_5") is False  # emotional
    assert value(outcomes_2010, "B", "target_d_by_age_3") is True  # physical


def test_behavioural_findings_and_no_finding_assessments_are_investigations_not_findings(value, outcomes_2010):
    assert value(outcomes_2010, "C", "finding_by_age_5") is False
    assert value(outcomes_2010, "C", "investigation_by_age_1") is True
    assert value(outcomes_2010, "C", "n_investigation_events_by_age_2") == 2


def test_notifications_count_fv_contact_records_of_children_known_to_cp(value, outcomes_2010):
    # C: notifications at 100 and 500 days and a contact record at 600 (Table 10 note 2)
    assert [value(outcomes_2010, "C", f"n_notification_events_by_age_{k}") for k in (1, 2)] == [1, 3]
    assert value(outcomes_2010, "G", "notification_by_age_5") is False  # a contact record only
    assert value(outcomes_2010, "E", "notification_by_age_5") is False  # unborn notification


def test_target_e_hospitalisations(value, outcomes_2010):
    # T1: intracranial injury at 200 days (a marker injury by age 1)
    assert value(outcomes_2010, "T1", "target_e_by_age_1") is True
    # T2: femur fracture at 400 days (after age 1: not a marker), maltreatment syndrome at
    # 500 days discharged the same day (short stay: excluded) and at 600 days
    assert [value(outcomes_2010, "T2", f"target_e_by_age_{k}") for k in (1, 2)] == [False, True]
    assert value(outcomes_2010, "T2", "n_target_e_events_by_age_5") == 1
    # B: substantiated physical abuse
    assert value(outcomes_2010, "B", "target_e_by_age_3") is True


def test_ages_not_yet_observable_are_null(value, events_con):
    out = cohort_outcomes(events_con, 2010, "conservative", observation_end=dt.date(2012, 5, 31))
    # B (2010-05-15): age 2 reached 2012-05-14.5 (observable), age 3 not
    assert value(out, "B", "finding_by_age_2") is False and value(out, "B", "finding_by_age_3") is None
    assert value(out, "A", "n_finding_events_by_age_2") is None  # A reaches 2 in June 2012
    # default: the latest notification date in the data (2012-06-13: A's notification)
    default = cohort_outcomes(events_con, 2010, "conservative")
    assert value(default, "A", "finding_by_age_2") is None and value(default, "B", "finding_by_age_2") is False


def test_outcome_columns_per_target_and_age(outcomes_2010):
    assert (
        outcome_column("A", 2) == "finding_by_age_2"
        and outcome_column("E", 5, events=True) == "n_target_e_events_by_age_5"
    )
    expected = {outcome_column(t, k, e) for t in TARGETS for k in range(1, 6) for e in (False, True)}
    assert set(outcomes_2010.columns) == {"person_key", "birth_year", *expected}


@pytest.mark.parametrize("max_age", [2])
def test_max_age(events_con, max_age):
    out = cohort_outcomes(events_con, 2010, "conservative", max_age=max_age, observation_end=dt.date(2016, 1, 1))
    assert "finding_by_age_2" in out.columns and "finding_by_age_3" not in out.columns
