"""Box 1, community / office: CYF site or service centre (43 categories); deprivation."""

import pytest

from cmi_assets.cohorts.community import CP_OFFICE


@pytest.mark.parametrize(
    "child, office, high",
    [
        ("A", "O05", True),  # registration, decile 9
        ("B", "O07", False),
        ("E", "O21", None),  # not registered by 3 months: the mother's benefit address (decile unknown)
        ("K", "unknown", None),  # neither
    ],
)
def test_cyf_site_or_service_centre(value, features_2010, child, office, high):
    assert value(features_2010, child, "cp_office") == office
    assert value(features_2010, child, "high_deprivation") is high


def test_43_offices_plus_unknown():
    assert len(CP_OFFICE) == 44 and CP_OFFICE[0] == "O01" and CP_OFFICE[42] == "O43"
