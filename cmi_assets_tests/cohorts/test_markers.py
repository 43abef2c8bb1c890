"""The 11 risk markers of Figure 4 (para 150) and the five-or-more count."""

import pytest

from cmi_assets.cohorts.markers import RISK_MARKERS

EXPECTED = {
    # A: other children CP, parent CP as child, MH, FV, sentence, address change
    "A": {
        "marker_other_children_cp_history",
        "marker_parent_cp_history_as_child",
        "marker_parent_mental_health",
        "marker_family_violence",
        "marker_parent_sentence",
        "marker_address_change",
    },
    # B: MH (substance), FV 2+, single (father not listed), high demands (other child under 2)
    "B": {
        "marker_parent_mental_health",
        "marker_family_violence",
        "marker_single_parent",
        "marker_high_parenting_demands",
    },
    # C: everything but FV, under 20 and high demands
    "C": {
        "marker_other_children_cp_history",
        "marker_caregiver_benefit_80_plus",
        "marker_parent_cp_history_as_child",
        "marker_parent_mental_health",
        "marker_single_parent",
        "marker_parent_sentence",
        "marker_caregiver_not_registration_parent",
        "marker_address_change",
    },
    "E": {"marker_single_parent"},
    "G": {"marker_caregiver_under_20", "marker_high_parenting_demands"},
    "K": set(),
    "T1": {"marker_parent_mental_health", "marker_parent_sentence", "marker_high_parenting_demands"},
}


def test_there_are_11_markers():
    assert len(RISK_MARKERS) == 11


@pytest.mark.parametrize("child", sorted(EXPECTED))
def test_risk_markers_of_each_child(value, features_2010, child):
    on = {name for name in RISK_MARKERS if value(features_2010, child, name)}
    assert on == EXPECTED[child]
    assert value(features_2010, child, "marker_count") == len(EXPECTED[child])
    assert value(features_2010, child, "five_plus_markers") is (len(EXPECTED[child]) >= 5)
