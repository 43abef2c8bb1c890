"""The cfsr tables: their names and the column contract of each published one as (name, type,
description with its unit) tuples, so the assets that write them declare the same contract.

Child-level tables (the Child File, the per-child audit) hold agency IDs and dates of birth and
stay in the identified zone; the others are the analysis zone's counts and rates per state,
period and group (light: no model libraries)."""

from __future__ import annotations

from cmi_assets.cfsr.recurrence import BY_STATE_EXCLUSIONS
from cmi_assets.cfsr.suppression import SUPPRESS_BELOW

AUDIT_TABLE = "cfsr.recurrence_audit"  # identified zone
BY_STATE_TABLE = "cfsr.recurrence_by_state"
NATIONAL_TABLE = "cfsr.recurrence_national"
DQ_TABLE = "cfsr.dq_checks"
RSP_TABLE = "cfsr.rsp"
RSP_MODEL_TABLE = "cfsr.rsp_model"
DRILLDOWN_TABLE = "cfsr.drilldown"
TREND_TABLE = "cfsr.trend"
NATIONAL_TREND_TABLE = "cfsr.national_trend"
REPORT_SUBDIR = ("reports", "cfsr")

# Column descriptions shared by the published tables; the unit closes each description.
# Rates are proportions (0-1); the UI and report show them as percent.
SUPPRESSED_NOTE = f"null when DQ or when the denominator is under {SUPPRESS_BELOW} (suppressed)"
PERIOD_COLUMNS = (
    ("period_fy", "int", "cohort FY t: the period reads Child Files t and t+1 (fiscal year)"),
    ("period", "string", "data used, e.g. FY19-20 (label)"),
)
STATE_COLUMN = ("state", "string", "two-letter state code, STATERR (code)")
COUNT_COLUMNS = (
    ("denominator", "int", "children with a substantiated or indicated report in the 12-month period (children)"),
    (
        "numerator",
        "int",
        f"of them, children with another within 12 months of the initial report; {SUPPRESSED_NOTE} (children)",
    ),
    (
        "observed",
        "float",
        f"observed recurrence, numerator / denominator; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)",
    ),
    (
        "dq_status",
        "string",
        "pass, or DQ when the state failed an NCANDS data-quality check for the files used (status)",
    ),
)
SUPPRESSED_COLUMN = ("suppressed", "bool", f"true when the denominator is under {SUPPRESS_BELOW} children (flag)")
RSP_COLUMNS = (
    ("rsp", "float", f"risk-standardized performance, O/E x 9.7%; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)"),
    (
        "rsp_lower",
        "float",
        f"lower bound of the 95% RSP interval, log-scale binomial; {SUPPRESSED_NOTE} (proportion 0-1)",
    ),
    ("rsp_upper", "float", f"upper bound of the 95% RSP interval; {SUPPRESSED_NOTE} (proportion 0-1)"),
    (
        "status",
        "string",
        "better / no different / worse than national performance 9.7% by the whole interval; DQ; suppressed (status)",
    ),
)

CHILD_FILE_COLUMNS = (
    ("subyr", "int", "submission FY, #1 (fiscal year)"),
    ("staterr", "string", "state, #2 (code)"),
    ("rptid", "string", "report ID, #3; identifying (ID)"),
    ("chid", "string", "child ID, #4; identifying (ID)"),
    ("rptdt", "date", "report date, #6 (date)"),
    ("chage", "int", "age at report, #12; 77 unborn, 99 unknown (years)"),
    ("chbdate", "date", "date of birth, #13; identifying (date)"),
    ("chsex", "string", "sex, #14: 1 male, 2 female, 9 unknown (code)"),
    ("mal1lev..mal4lev", "string", "maltreatment disposition levels, #27-33: 1 substantiated, 2 indicated, ... (code)"),
    ("maldeath", "string", "died of maltreatment, #34: 1 yes (code)"),
    ("inciddt", "date", "incident date, #146 (date)"),
    ("...", "", "county, race, maltreatment types, AFCARSID, provenance (see the Child File layout)"),
)
DQ_REASON_COLUMN = (
    "dq_reason",
    "string",
    "why the state-period is DQ: the checks it fails and the period's files "
    "holding none of its records; blank on a pass (reason)",
)
BY_STATE_COLUMNS = (
    PERIOD_COLUMNS[0],
    STATE_COLUMN,
    PERIOD_COLUMNS[1],
    *COUNT_COLUMNS,
    DQ_REASON_COLUMN,
    *[(e.column, "int", f"{e.rule} ({e.unit})") for e in BY_STATE_EXCLUSIONS],
    SUPPRESSED_COLUMN,
)
RSP_TABLE_COLUMNS = (
    PERIOD_COLUMNS[0],
    STATE_COLUMN,
    PERIOD_COLUMNS[1],
    *COUNT_COLUMNS,
    (
        "E",
        "float",
        "expected recurrences: model probabilities with the state effect at 0, summed over the state's "
        "children (children)",
    ),
    ("P", "float", f"predicted recurrences with the state's own effect; {SUPPRESSED_NOTE} (children)"),
    ("u_mode", "float", f"the state's random intercept, conditional mode; {SUPPRESSED_NOTE} (log-odds)"),
    *RSP_COLUMNS,
    SUPPRESSED_COLUMN,
)
DRILLDOWN_COLUMNS = (
    *PERIOD_COLUMNS,
    ("state", "string", "two-letter state code, or 'national' for DQ-passing states pooled (code)"),
    ("dimension", "string", "age_group, race_ethnicity, sex, county or maltreatment_type of the initial report (name)"),
    ("group", "string", "the group within the dimension, e.g. 1-5 y, hispanic, out of state (label)"),
    ("denominator", "int", "children in the denominator in this group (children)"),
    ("numerator", "int", f"of them, children with a recurrence; {SUPPRESSED_NOTE} (children)"),
    ("observed", "float", f"numerator / denominator; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)"),
    ("suppressed", "bool", f"true when the group has fewer than {SUPPRESS_BELOW} children (flag)"),
    COUNT_COLUMNS[3],
)
TREND_TABLE_COLUMNS = (
    STATE_COLUMN,
    *PERIOD_COLUMNS,
    *COUNT_COLUMNS,
    *RSP_COLUMNS,
    (
        "previous_period",
        "string",
        "the state's previous period with a published RSP, DQ and suppressed periods skipped (label)",
    ),
    ("rsp_change", "float", "RSP minus the previous published period's (proportion points)"),
    ("observed_change", "float", "observed minus the previous published period's (proportion points)"),
    ("status_change", "string", "previous status -> this status (status)"),
)
