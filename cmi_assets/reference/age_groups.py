"""The CFSR Round 4 risk-adjustment age groups (CFSR R4 rules, section 2.2), as data: the
indicator (cmi_assets/cfsr/ages.py) groups children by them and the synthetic generator
draws NCANDS histories over them, so they live here, below both."""

from __future__ import annotations

from typing import NamedTuple


class AgeGroup(NamedTuple):
    label: str
    lo_months: int  # inclusive
    hi_months: int  # exclusive


# The six risk-adjustment groups of CFSR R4 rules, section 2.2 (also the groups of the
# National Supplemental Context Data, section 2.3).
AGE_GROUPS: tuple[AgeGroup, ...] = (
    AgeGroup("0-3 mo", 0, 4),
    AgeGroup("4-11 mo", 4, 12),
    AgeGroup("1-5 y", 12, 72),
    AgeGroup("6-10 y", 72, 132),
    AgeGroup("11-16 y", 132, 204),
    AgeGroup("17 y", 204, 216),
)

# Round 3's single-year ages (`AgeMosyrs`: 0 = 0-3 mo, 1 = 4-11 mo, then ChAge + 1),
# the alternative grouping of section 2.2 (unconfirmed which one Round 4 uses).
SINGLE_YEAR_AGE_GROUPS: tuple[AgeGroup, ...] = (
    AgeGroup("0-3 mo", 0, 4),
    AgeGroup("4-11 mo", 4, 12),
    *(AgeGroup(f"{years} y", 12 * years, 12 * (years + 1)) for years in range(1, 18)),
)

AGE_GROUPINGS: dict[str, tuple[AgeGroup, ...]] = {
    "six_groups": AGE_GROUPS,
    "single_years": SINGLE_YEAR_AGE_GROUPS,
}
