"""CFSR partitions: one key per federal fiscal year, "FY2016" up to the newest FY whose
Child File is due (FY t runs 1 October t-1 to 30 September t), built when the code
location loads.

When a file is due: states submit the Child File of FY t in the months after it ends;
it is expected by 1 February t+1 (`FILE_DUE`, the date the annual schedule runs). So on
21 November 2026 the newest due file is FY2025's (FY2026 ended on 30 September 2026,
its file is due on 1 February 2027). Years whose file cannot have arrived yet are not
partitions, so they never show as missing.

Two partition sets with the same keys:
  FILE_YEARS  ncands_child_file FYt, the Child File of submission year t:
              CMI_CFSR_FIRST_FY (default 2016) .. CMI_CFSR_LAST_FY (default: newest due);
  PERIODS     cfsr_recurrence, cfsr_rsp, cfsr_drilldown FYt, the cohort period
              FYt-(t+1), which reads the files t and t+1 (CFSR R4 rules, section 2.1
              step 1): first .. last - 1, so every period's files are due.
File FYu feeds exactly the periods FY(u-1) and FYu, and a new or corrected file reruns
those two and no other. A world frozen in the past (the synthetic demo world ends with
FY2021) sets CMI_CFSR_LAST_FY to its newest file.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

FIRST_FY_ENV = "CMI_CFSR_FIRST_FY"
LAST_FY_ENV = "CMI_CFSR_LAST_FY"
DEFAULT_FIRST_FY = 2016
FILE_DUE = (2, 1)  # (month, day) in calendar year t+1 by which the Child File of FY t is expected


def fiscal_year_of(day: dt.date) -> int:
    """Federal FY containing `day`."""
    return day.year + 1 if day.month >= 10 else day.year


def newest_due_fiscal_year(day: dt.date) -> int:
    """The newest FY whose Child File is due on `day`: FY t's file is due on FILE_DUE of t+1."""
    return day.year - 1 if (day.month, day.day) >= FILE_DUE else day.year - 2


def fy_key(fy: int) -> str:
    return f"FY{fy}"


def fy_of_key(key: str) -> int:
    if not (key.startswith("FY") and key[2:].isdigit()):
        raise ValueError(f"not a fiscal-year partition key: {key!r}")
    return int(key[2:])


def _env_year(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    if not value.strip().isdigit():
        raise ValueError(f"{name} must be a year such as 2021, not {value!r}")
    return int(value)


def first_fiscal_year() -> int:
    return _env_year(FIRST_FY_ENV) or DEFAULT_FIRST_FY


def last_fiscal_year(today: dt.date | None = None) -> int:
    """CMI_CFSR_LAST_FY when set, else the newest FY whose file is due today."""
    return _env_year(LAST_FY_ENV) or newest_due_fiscal_year(today or dt.date.today())


def fiscal_year_keys(first_fy: int, last_fy: int) -> list[str]:
    return [fy_key(fy) for fy in range(first_fy, last_fy + 1)]


def files_used_by_periods(file_keys: list[str], period_keys: list[str] | None = None) -> dg.StaticPartitionMapping:
    """Upstream file FYu -> downstream periods FY(u-1) and FYu (those that exist)."""
    periods = set(file_keys if period_keys is None else period_keys)
    return dg.StaticPartitionMapping(
        {key: [p for p in (fy_key(fy_of_key(key) - 1), key) if p in periods] for key in file_keys}
    )


_FIRST, _LAST = first_fiscal_year(), last_fiscal_year()
if _LAST <= _FIRST:
    raise ValueError(f"CFSR fiscal years {_FIRST}..{_LAST}: a period needs two files ({FIRST_FY_ENV}, {LAST_FY_ENV})")
FILE_YEAR_KEYS = fiscal_year_keys(_FIRST, _LAST)
PERIOD_KEYS = fiscal_year_keys(_FIRST, _LAST - 1)
FILE_YEARS = dg.StaticPartitionsDefinition(FILE_YEAR_KEYS)
PERIODS = dg.StaticPartitionsDefinition(PERIOD_KEYS)
FILES_USED_BY_PERIODS = files_used_by_periods(FILE_YEAR_KEYS, PERIOD_KEYS)
