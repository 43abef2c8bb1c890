"""Box 1, parents and/or caregivers (footnotes 9-12, paras 50 and 52)."""

import pytest


@pytest.mark.parametrize(
    "child, expected",
    [
        ("B", "yes, father not listed"),
        ("C", "yes, father not listed"),
        ("E", "yes"),  # no registration by 3 months; mother on a sole-parent benefit
        ("A", "no or unknown"),
    ],
)
def test_single_parent_yes_yes_father_not_listed_no_or_unknown(value, features_2010, child, expected):
    assert value(features_2010, child, "single_parent") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("C", "yes"),  # the grandmother
        ("A", "no"),  # not on benefit
        ("E", "no birth registration by 3 months"),
        ("K", "no birth registration by 3 months"),
    ],
)
def test_at_least_one_benefit_caregiver_is_not_a_birth_registration_parent(value, features_2010, child, expected):
    assert value(features_2010, child, "caregiver_not_registration_parent") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("G", "<20"),  # mother born Jan 1992, child Jan 2010: 18.0
        ("A", "20-24"),  # 20.25
        ("T1", "25-29"),  # 29.5
        ("E", "30-34"),  # mother's birth date unknown: footnote 9
        ("B", "35-39"),  # 35.0
        ("C", "40+"),  # the grandmother is the primary benefit recipient: 42.2
    ],
)
def test_age_of_mother_or_primary_benefit_recipient_when_child_was_born(value, features_2010, child, expected):
    assert value(features_2010, child, "mother_or_caregiver_age") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("A", "yes"),  # father's notification at 7, 25 years before the birth (para 50: no time limit)
        ("C", "yes"),  # teen mother notified at 14
        ("B", "no"),
    ],
)
def test_care_and_protection_history_as_a_child(value, features_2010, child, expected):
    assert value(features_2010, child, "parent_cp_history_as_child") == expected


@pytest.mark.parametrize("child, expected", [("A", "yes"), ("C", "no")])
def test_findings_of_behavioural_or_relationship_difficulties_as_a_child(value, features_2010, child, expected):
    assert value(features_2010, child, "parent_behavioural_finding_as_child") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("T1", "no time"),
        ("E", "0-20%"),  # 76 of 1,826 days
        ("A", "20-80%"),  # 731 + 443 = 1,174 days (64%)
        ("B", "20-80%"),  # overlapping spells count once: 1,096 days (60%), not 1,827
        ("C", "80-100%"),  # the grandmother, on benefit throughout
    ],
)
def test_mother_or_primary_benefit_recipients_time_on_benefit_in_the_last_5_years(
    value, features_2010, child, expected
):
    assert value(features_2010, child, "caregiver_time_on_benefit_5y") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("G", "none known"),
        ("B", "substance abuse"),  # substance prioritised over 3 years of MH
        ("C", "substance abuse 3+ of last 5 years"),  # 1,461 days
        ("A", "other mental health"),  # 443 days
        ("T1", "other mental health 3+ of last 5 years"),  # the father, 1,461 days
    ],
)
def test_mental_health_in_the_last_5_years(value, features_2010, child, expected):
    assert value(features_2010, child, "parent_mental_health_5y") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("B", "none"),
        ("A", "1-2"),  # 2009-09-01 and 2010-01-10
        ("C", "3+"),  # the grandmother: 3 new addresses
        ("T1", "missing - no benefit in last year"),
    ],
)
def test_number_of_benefit_address_changes_in_the_last_year(value, features_2010, child, expected):
    assert value(features_2010, child, "caregiver_address_changes_last_year") == expected


@pytest.mark.parametrize(
    "child, expected",
    [
        ("B", "no history"),
        ("E", "no history"),  # the father is only on the registration made at 100 days
        ("C", "non-custodial only"),  # the grandmother's partner
        ("T1", "custodial non-violent"),  # the violent custodial sentence ended before the 5 years
        ("A", "custodial violent"),  # violent custodial prioritised over custodial and community
    ],
)
def test_corrections_history_in_the_last_5_years(value, features_2010, child, expected):
    assert value(features_2010, child, "parent_corrections_5y") == expected
