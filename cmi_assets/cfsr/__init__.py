"""CFSR Round 4 safety indicators: recurrence of maltreatment rules, NCANDS
data-quality checks and age groups (CFSR R4 rules, sections 2-3), and risk-standardized
performance in `cfsr.rsp` (section 4). Plain Python over polars frames; the Dagster
assets in defs/ call these functions."""

from cmi_assets.cfsr.ages import AGE_GROUPS, age_group, age_in_months
from cmi_assets.cfsr.dq import dq_checks, dq_flagged_records, dq_status_by_state
from cmi_assets.cfsr.recurrence import RecurrenceOptions, RecurrenceResult, observed_recurrence, period_label

__all__ = [
    "AGE_GROUPS",
    "RecurrenceOptions",
    "RecurrenceResult",
    "age_group",
    "age_in_months",
    "dq_checks",
    "dq_flagged_records",
    "dq_status_by_state",
    "observed_recurrence",
    "period_label",
]
