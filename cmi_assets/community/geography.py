"""Areas of the indicator table: the home state (where the linked data come from), its
counties as 5-digit FIPS codes (2 digits of state, 3 of county, as the Census files key
them) and postcodes inside counties.

The analysis zone carries a child's county FIPS (3 digits) and deprivation decile from
the birth registration's postcode (linkage.events, stg_reference_areas); it carries no
postcode, so the postcode level is built only where a child table brings a `postcode`
column."""

from __future__ import annotations

import os

HOME_STATE_ENV = "CMI_HOME_STATE"
DEFAULT_HOME_STATE = "CT"  # the synthetic world's jurisdiction (profiles/default/world.yaml)

# Census Bureau state FIPS codes (ANSI INCITS 38)
STATE_FIPS = {
    "AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09", "DE": "10",
    "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17", "IN": "18", "IA": "19",
    "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24", "MA": "25", "MI": "26", "MN": "27",
    "MS": "28", "MO": "29", "MT": "30", "NE": "31", "NV": "32", "NH": "33", "NJ": "34", "NM": "35",
    "NY": "36", "NC": "37", "ND": "38", "OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44",
    "SC": "45", "SD": "46", "TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53",
    "WV": "54", "WI": "55", "WY": "56", "PR": "72",
}  # fmt: skip


def home_state() -> str:
    """The state the linked data describe: `CMI_HOME_STATE` (a two-letter code), default CT."""
    code = os.environ.get(HOME_STATE_ENV, DEFAULT_HOME_STATE).strip().upper()
    if code not in STATE_FIPS:
        raise ValueError(f"{HOME_STATE_ENV}={code!r} is not a two-letter US state code")
    return code


def county_code(state: str, county_fips: str) -> str:
    """The 5-digit county FIPS of a state's 3-digit county code ("CT", "001" -> "09001")."""
    return f"{STATE_FIPS[state]}{int(county_fips):03d}"
