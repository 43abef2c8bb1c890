"""Study population (NZ para 39): birth registered or on a caregiver's benefit by 3 months
(91 days); first observation and weeks to it (Figure 5)."""

import polars as pl
import pytest

from cmi_assets.cohorts.population import cohort_population, first_observations, observed_by_week


def test_population_is_registration_or_benefit_by_91_days(events_con):
    keys = cohort_population(events_con, 2010, "conservative")["person_key"].to_list()
    # G registered at 91 days (in), H at 92 (out); K on benefit at 91 (in), I at 92 and
    # registered at 120 (out); J (registered) and SB1 (on benefit at 17 days) are 2009's
    assert keys == ["A", "B", "C", "E", "G", "K", "T1", "T2"]
    assert cohort_population(events_con, 2009, "conservative")["person_key"].to_list() == ["J", "SB1"]


def test_registered_at_100_days_but_on_benefit_at_40_days(events_con):
    row = cohort_population(events_con, 2010, "conservative").filter(pl.col("person_key") == "E").row(0, named=True)
    assert row["registered_by_3_months"] is False and row["on_benefit_by_3_months"] is True
    assert row["first_observation_source"] == "benefit"
    assert row["first_observed_age_days"] == 40 and row["weeks_to_first_observation"] == 5


@pytest.mark.parametrize(
    "child, source, weeks",
    [
        ("A", "birth_registration", 2),
        ("C", "birth_registration", 2),
        ("G", "birth_registration", 13),
        ("K", "benefit", 13),
    ],
)
def test_first_observation_source_and_weeks(events_con, child, source, weeks):
    row = cohort_population(events_con, 2010, "conservative").filter(pl.col("person_key") == child).row(0, named=True)
    assert (row["first_observation_source"], row["weeks_to_first_observation"]) == (source, weeks)


def test_first_observations_include_children_seen_after_3_months(events_con):
    seen = first_observations(events_con, 2010, "conservative")
    late = seen.filter(~pl.col("in_study_population"))["person_key"].to_list()
    assert late == ["H", "I"]


def test_observed_by_week_figure_5(events_con):
    seen = first_observations(events_con, 2010, "conservative")  # 10 children
    curve = observed_by_week(seen, max_weeks=14).filter(pl.col("week").is_in([1, 13, 14]))
    # week 1 (<= 7 days): nobody; week 13 (<= 91 days): registrations A,B,C,G,T1,T2 = 6 of 10,
    # benefit C,E,K = 3, either 8; week 14 (<= 98): H registered at 92, I on benefit at 92
    assert curve["pct_birth_registration"].to_list() == [0.0, 60.0, 70.0]
    assert curve["pct_benefit"].to_list() == [0.0, 30.0, 40.0]
    assert curve["pct_either"].to_list() == [0.0, 80.0, 100.0]
    assert observed_by_week(seen, 13, total_children=20)["pct_either"][-1] == 40.0
