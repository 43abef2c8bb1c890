"""Box 1 / Table 8 markers on a hand-built family, each expected value worked out by hand
from the definitions in markers.py (5-year look-back, last year, 3 months)."""

from __future__ import annotations

import polars as pl

from cmi_assets.synthetic import markers as mk
from cmi_assets.synthetic.dates import MISSING_DAY, day_number

D = day_number
OBS_START = D("1990-01-01")


def births_fixture() -> pl.DataFrame:
    """Mother 1 (born 1985-06-01): child 10 (2003), twins 11/12 (2004-03-01), child 13
    (2010-01-01, registered late, on a grandmother's benefit). Mother 2 (born 1970-01-01):
    child 20 (2008-05-05), registered on time without a father."""
    rows = [
        # child, event, mother, father, listed, dob, plurality, reg_day, claim_day, caregiver, relationship, sex, weight, gest
        (10, 0, 1, 5, True, D("2003-02-01"), 1, D("2003-02-20"), MISSING_DAY, -1, None, "M", 3400, 40),
        (11, 1, 1, 5, True, D("2004-03-01"), 2, D("2004-03-20"), D("2004-04-01"), 1, "PARENT", "F", 2400, 36),
        (12, 1, 1, 5, True, D("2004-03-01"), 2, D("2004-03-20"), D("2004-04-01"), 1, "PARENT", "F", 2600, 36),
        (13, 2, 1, 6, True, D("2010-01-01"), 1, D("2010-06-01"), D("2010-02-15"), 7, "GRANDPARENT", "M", 3300, 39),
        (20, 3, 2, 8, False, D("2008-05-05"), 1, D("2008-05-30"), MISSING_DAY, -1, None, "M", 3500, 41),
    ]
    cols = [
        "child_id",
        "event_id",
        "mother_id",
        "father_id",
        "father_listed",
        "dob_day",
        "plurality",
        "reg_day",
        "claim_day",
        "caregiver_id",
        "caregiver_relationship",
        "sex",
        "birth_weight_g",
        "gestation_weeks",
    ]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.lit("06001").alias("birth_postcode"))


def persons_fixture() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "true_person_id": [1, 2, 5, 6, 7, 8],
            "dob_day": [
                D("1985-06-01"),
                D("1970-01-01"),
                D("1984-01-01"),
                D("1980-01-01"),
                D("1960-01-01"),
                D("1969-01-01"),
            ],
        }
    )


def test_parents_and_caregivers_and_primary():
    pc = mk.parents_and_caregivers(births_fixture())
    got = {(r["child_id"], r["adult_id"]): r["primary"] for r in pc.iter_rows(named=True)}
    # child 13: not registered by 3 months -> father not counted; grandmother 7 on benefit is primary
    assert {k: v for k, v in got.items() if k[0] == 13} == {(13, 1): False, (13, 7): True}
    # child 11: mother is both parent and benefit client -> one row, primary
    assert {k: v for k, v in got.items() if k[0] == 11} == {(11, 1): True, (11, 5): False}
    # child 20: father not listed -> mother only
    assert {k: v for k, v in got.items() if k[0] == 20} == {(20, 2): True}


def test_child_and_registration_markers():
    b = births_fixture()
    assert mk.marker_male(b).to_list() == [True, False, False, True, True]
    # 2400 g twin and 36-week twin are low/pre-term; child 13 is unknown (registered late) -> no
    assert mk.marker_low_birth_weight_or_preterm(b).to_list() == [False, True, True, False, False]
    assert mk.marker_no_registration_by_3_months(b).to_list() == [False, False, False, True, False]
    assert mk.marker_on_benefit_by_3_months(b).to_list() == [False, True, True, True, False]
    assert mk.marker_caregiver_not_birth_parent(b).to_list() == ["no", "no", "no", "no_registration_by_3_months", "no"]


def test_parenting_demands_and_sibling_cp_and_fv():
    b = births_fixture()
    sibs = mk.other_children(b, b, OBS_START)
    # child 10: none; twins: other child 10 born 13 months earlier (< 2 years) -> high;
    # child 13: three other children (10, 11, 12) -> high; child 20: none
    assert mk.marker_parenting_demands(b, sibs).to_list() == ["none", "high", "high", "high", "none"]
    reports = pl.DataFrame(
        {
            "person_id": [10, 11, 11, 12],
            "notification_day": [D("2004-12-01"), D("2009-06-01"), D("2009-11-15"), D("2009-03-10")],
            "source": ["HEALTH", "POLICE_FV", "POLICE_FV", "POLICE_FV"],
            "category": ["unsubstantiated", "fv_referral", "fv_referral", "alternative_response"],
        }
    )
    # child 13 (born 2010-01-01): child 10's report (2004-12-01) is over 5 years back; child 12's FV
    # report led to an assessment -> counts as CP history (footnote 8 excludes FV-only records)
    assert mk.marker_other_children_cp_history_5y(b, sibs, reports).to_list() == [False, False, False, True, False]
    # FV in the last 12 months before 2010-01-01: 2009-06-01 (7th month back), 2009-11-15 (2nd
    # month back), 2009-03-10 is 297 days back (10th month) -> 3 distinct months -> two_plus
    assert mk.marker_family_violence_last_year(b, sibs, reports).to_list() == [
        "none",
        "none",
        "none",
        "two_plus",
        "none",
    ]


def test_benefit_time_mental_health_and_corrections_windows():
    b = births_fixture().filter(pl.col("child_id") == 13)  # born 2010-01-01, grandmother 7 primary
    spells = pl.DataFrame(
        {
            "person_id": [7, 1, 1],
            "start_day": [D("2010-01-01") - 1500, D("2004-01-01"), D("2007-01-01")],
            "end_day": [MISSING_DAY, D("2005-12-31"), D("2008-12-31")],
            "benefit_type": ["SPB", "SB", "IB"],
            "incapacity_code": [None, "SUB", "MH"],
        }
    )
    # grandmother: 1500 of the last 1826 days -> 82% -> 80-100
    assert mk.marker_caregiver_time_on_benefit_5y(b, spells).to_list() == ["80-100"]
    # mother: SUB spell 2004-2005 overlaps the window (starts 2005-01-01) by 365 days; MH 2007-2008 by 730
    # days -> substance prioritised, under 3 years
    assert mk.marker_mental_health_5y(b, spells).to_list() == ["substance"]
    sentences = pl.DataFrame(
        {
            "person_id": [1, 7, 1],
            "start_day": [D("2004-06-01"), D("2006-01-01"), D("2010-03-01")],
            "end_day": [D("2004-12-31"), D("2006-06-01"), MISSING_DAY],
            "sentence_type": ["CUSTODIAL", "COMMUNITY", "CUSTODIAL"],
            "offence_category": ["VIOLENT", "NON_VIOLENT", "VIOLENT"],
        }
    )
    # the 2004 custodial sentence ended before the window; the 2010 one is after the birth
    assert mk.marker_corrections_5y(b, sentences).to_list() == ["community_only"]


def test_single_parent_age_and_address_changes():
    b = births_fixture()
    spells = pl.DataFrame(
        {
            "person_id": [1],
            "start_day": [D("2004-03-10")],
            "end_day": [MISSING_DAY],
            "benefit_type": ["SPB"],
            "incapacity_code": [None],
        }
    )
    # child 20: registered on time, no father -> yes_father_not_listed; twins: mother on SPB from
    # 9 days after their birth -> yes; child 13: primary is the grandmother (no SPB) -> no
    assert mk.marker_single_parent(b, spells).to_list() == [
        "no_or_unknown",
        "yes",
        "yes",
        "no_or_unknown",
        "yes_father_not_listed",
    ]
    ages = mk.marker_caregiver_age(b, persons_fixture()).to_list()
    # mother 1 aged 17.7 / 18.8; grandmother 7 aged 50 at child 13; mother 2 aged 38.3
    assert ages == ["<20", "<20", "<20", "40+", "35-39"]
    addresses = pl.DataFrame(
        {
            "person_id": [7, 7, 7, 7],
            "effective_day": [D("2005-01-01"), D("2009-02-01"), D("2009-08-01"), D("2009-12-31")],
        }
    )
    spells7 = pl.DataFrame(
        {
            "person_id": [7],
            "start_day": [D("2005-01-01")],
            "end_day": [MISSING_DAY],
            "benefit_type": ["SPB"],
            "incapacity_code": [None],
        }
    )
    # child 13: three changes after the first address inside 2009-01-01..2009-12-31 -> three_plus;
    # others: primary caregiver not on benefit in the last year -> missing
    assert mk.marker_address_changes_last_year(b, spells7, addresses).to_list() == [
        "missing",
        "missing",
        "missing",
        "three_plus",
        "missing",
    ]


def test_parent_childhood_history_counts_only_before_the_birth():
    b = births_fixture()
    persons = persons_fixture()
    reports = pl.DataFrame(
        {"report_id": [1, 2], "person_id": [5, 2], "notification_day": [D("1998-01-01"), D("1987-01-01")]}
    )
    findings = pl.DataFrame({"report_id": [1], "abuse_type": ["BEHAVIOURAL"], "finding": ["SUBSTANTIATED"]})
    childhood = mk.childhood_records(reports, findings, persons)
    # father 5 (listed, registered on time) had a behavioural finding at 14; mother 2's record
    # in 1987 was at 17; child 13's father is 6 (not counted: registered late)
    assert mk.marker_parent_cp_history_as_child(b, childhood).to_list() == [True, True, True, False, True]
    assert mk.marker_parent_behavioural_finding_as_child(b, childhood).to_list() == [True, True, True, False, False]
