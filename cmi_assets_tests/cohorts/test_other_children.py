"""Box 1, other children of the parents and/or caregivers."""

import pytest

from cmi_assets.cohorts.features import cohort_features


@pytest.mark.parametrize(
    "child, expected",
    [
        ("T1", "high demands"),  # multiple birth child (the twin is not another child)
        ("B", "high demands"),  # other child (SB1) under 2
        ("G", "high demands"),  # registration: 3 previous children of the same parents
        ("A", "other children, not high demands"),  # SA1 (5), SA2 (7)
        ("C", "other children, not high demands"),  # the grandmother's daughter MC (17)
        ("E", "no other children"),
    ],
)
def test_parenting_demands_high_none_other(value, features_2010, child, expected):
    assert value(features_2010, child, "parenting_demands") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "yes"),  # SA1 notified 4 years before the birth (SA2's 6 years before does not count)
        ("C", "yes"),  # MC, the caregiver's other child, notified 3 years before
        ("B", "no"),  # SB2: notification 6 years before, police FV records only since (footnote 8)
        ("T1", "no"),
    ],
)
def test_other_children_with_care_and_protection_history_in_the_last_5_years(value, features_2010, child, expected):
    assert value(features_2010, child, "other_children_cp_history_5y") == expected


def test_other_children_cp_history_at_the_less_conservative_linkage(value, events_con):
    # the same family B, where the less conservative linkage finds SB2's 2008 notification
    less = cohort_features(events_con, 2010, "less_conservative")
    assert less["person_key"].to_list() == ["B"]
    assert value(less, "B", "other_children_cp_history_5y") == "yes"


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "1 of last 12 months"),  # two contact records in one month; one 13 months before
        ("B", "2+ of last 12 months"),  # police FV notification 9 months before, contact record 3 months before
        ("C", "no events"),
    ],
)
def test_family_violence_none_1_or_2plus_of_last_12_months(value, features_2010, child, expected):
    assert value(features_2010, child, "family_violence_last_year") == expected
