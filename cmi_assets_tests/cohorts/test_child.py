"""Box 1, child."""

import pytest


@pytest.mark.parametrize("child, expected", [("A", "male"), ("B", "female"), ("T1", "female"), ("T2", "male")])
def test_gender_of_child_male_female(value, features_2010, child, expected):
    assert value(features_2010, child, "child_sex") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("T1", "yes"),  # 2,300 g
        ("T2", "yes"),  # 36 weeks
        ("A", "no or unknown"),  # 3,400 g, 39 weeks
        ("E", "no or unknown"),  # 2,000 g but registered at 100 days: unknown at 3 months
        ("K", "no or unknown"),  # no registration
    ],
)
def test_low_birth_weight_or_preterm_yes_no_or_unknown(value, features_2010, child, expected):
    assert value(features_2010, child, "low_birth_weight_or_preterm") == expected
