"""Box 2, the Ministry of Health variables of the extended model."""

import pytest


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "yes"),  # registration 39 weeks, maternity record 35 weeks
        ("E", "yes"),  # maternity 34 weeks (mother known as the benefit parent)
        ("B", "no or unknown"),
    ],
)
def test_moh_low_birth_weight_or_preterm(value, features_2010, child, expected):
    assert value(features_2010, child, "moh_low_birth_weight_or_preterm") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("E", "high demands"),  # child with a birth abnormality (Q21.0 at 20 days)
        ("K", "no other children"),
        ("A", "other children, not high demands"),
    ],
)
def test_moh_parenting_demands(value, features_2010, child, expected):
    assert value(features_2010, child, "moh_parenting_demands") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "2+ of last 12 months"),  # FV in 1 month, and the mother hospitalised for assault 2.5 years before
        ("C", "2+ of last 12 months"),  # other child (MC) hospitalised with intracranial injury at 167 days
        ("T1", "no events"),
    ],
)
def test_moh_family_violence(value, features_2010, child, expected):
    assert value(features_2010, child, "moh_family_violence") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "substance abuse"),  # a substance-use contact outranks the MH benefit
        ("G", "other mental health 3+ of last 5 years"),  # contacts in 3 of the 5 years
        ("E", "none known"),
    ],
)
def test_moh_mental_health_in_the_last_5_years(value, features_2010, child, expected):
    assert value(features_2010, child, "moh_parent_mental_health_5y") == expected


@pytest.mark.parametrize("child, expected", [("T1", "yes"), ("B", "no or unknown"), ("A", "no or unknown")])
def test_moh_mother_a_smoker(value, features_2010, child, expected):
    assert value(features_2010, child, "moh_mother_smoker") == expected
