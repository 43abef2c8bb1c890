"""Who is who at 3 months: registration parents, benefit caregivers and partners, the
primary caregiver, other children (NZ study, Box 1)."""

import polars as pl

from cmi_assets.cohorts.inputs import load_cohort_inputs


def _inputs(events_con):
    return load_cohort_inputs(events_con, 2010, "conservative")


def test_grandmother_caregiver_is_primary_and_her_partner_is_a_caregiver(events_con):
    adults = _inputs(events_con).adults.filter(pl.col("person_key") == "C")
    rows = {r["adult_key"]: r for r in adults.iter_rows(named=True)}
    assert set(rows) == {"MC", "GC", "PC"}
    assert rows["GC"]["primary"] and rows["GC"]["benefit_caregiver"] and rows["GC"]["relationship"] == "GRANDPARENT"
    assert rows["MC"]["registration_parent"] and not rows["MC"]["primary"]
    assert rows["PC"]["benefit_partner"] and not rows["PC"]["primary"]


def test_parents_of_a_registration_after_3_months_are_not_known(events_con):
    adults = _inputs(events_con).adults.filter(pl.col("person_key") == "E")
    assert adults["adult_key"].to_list() == ["ME"]  # FE only on the registration at 100 days
    assert adults["primary"].to_list() == [True]


def test_other_children_exclude_the_twin_and_include_benefit_inclusions(events_con):
    siblings = _inputs(events_con).siblings
    pairs = {(r["person_key"], r["sibling_key"]) for r in siblings.iter_rows(named=True)}
    assert pairs == {("A", "SA1"), ("A", "SA2"), ("B", "SB1"), ("B", "SB2"), ("C", "MC")}
