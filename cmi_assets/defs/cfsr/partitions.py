"""CFSR partitions: one key per federal fiscal year, "FY2016" up to the current FY
(FY t runs 1 October t-1 to 30 September t), built when the code location loads.

The same keys serve two assets: ncands_child_file FYt is the Child File of submission
year t; cfsr_recurrence FYt is the cohort period FYt-(t+1), which reads the files t
and t+1 (CFSR R4 rules, section 2.1 step 1). So file FYu feeds exactly the periods
FY(u-1) and FYu, and a new or corrected file reruns those two and no other.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

FIRST_FY_ENV = "CMI_CFSR_FIRST_FY"
DEFAULT_FIRST_FY = 2016


def fiscal_year_of(day: dt.date) -> int:
    """Federal FY containing `day`."""
    return day.year + 1 if day.month >= 10 else day.year


def fy_key(fy: int) -> str:
    return f"FY{fy}"


def fy_of_key(key: str) -> int:
    if not (key.startswith("FY") and key[2:].isdigit()):
        raise ValueError(f"not a fiscal-year partition key: {key!r}")
    return int(key[2:])


def first_fiscal_year() -> int:
    value = os.environ.get(FIRST_FY_ENV)
    return int(value) if value else DEFAULT_FIRST_FY


def fiscal_year_keys(first_fy: int, last_fy: int) -> list[str]:
    return [fy_key(fy) for fy in range(first_fy, last_fy + 1)]


def files_used_by_periods(keys: list[str]) -> dg.StaticPartitionMapping:
    """Upstream file FYu -> downstream periods FY(u-1) and FYu (those that exist)."""
    present = set(keys)
    return dg.StaticPartitionMapping(
        {key: [p for p in (fy_key(fy_of_key(key) - 1), key) if p in present] for key in keys}
    )


FISCAL_YEAR_KEYS = fiscal_year_keys(first_fiscal_year(), fiscal_year_of(dt.date.today()))
FISCAL_YEARS = dg.StaticPartitionsDefinition(FISCAL_YEAR_KEYS)
FILES_USED_BY_PERIODS = files_used_by_periods(FISCAL_YEAR_KEYS)
