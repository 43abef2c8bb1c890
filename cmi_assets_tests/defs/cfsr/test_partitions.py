"""CFSR partitions: files up to the newest FY whose Child File is due, periods up to
the one before it, both overridable by environment variables; file FYu feeds exactly
the periods FY(u-1) and FYu."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from cmi_assets.defs.cfsr import partitions
from cmi_assets.defs.cfsr.partitions import (
    FIRST_FY_ENV,
    LAST_FY_ENV,
    files_used_by_periods,
    fiscal_year_keys,
    last_fiscal_year,
    newest_due_fiscal_year,
)


def test_a_file_is_due_on_1_february_after_its_fy_ends():
    # The review date: FY2026 ended on 30 September 2026, its file is due 1 February 2027.
    assert newest_due_fiscal_year(dt.date(2026, 11, 21)) == 2025
    assert newest_due_fiscal_year(dt.date(2026, 2, 1)) == 2025
    assert newest_due_fiscal_year(dt.date(2026, 1, 31)) == 2024
    assert newest_due_fiscal_year(dt.date(2025, 10, 1)) == 2024  # FY2025 just ended, not due yet
    assert newest_due_fiscal_year(dt.date(2027, 2, 1)) == 2026


def test_last_fy_defaults_to_the_newest_due_file_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv(LAST_FY_ENV, raising=False)
    assert last_fiscal_year(dt.date(2026, 11, 21)) == 2025
    monkeypatch.setenv(LAST_FY_ENV, "2021")
    assert last_fiscal_year(dt.date(2026, 11, 21)) == 2021
    monkeypatch.setenv(LAST_FY_ENV, "FY2021")
    with pytest.raises(ValueError, match=LAST_FY_ENV):
        last_fiscal_year()


def test_loaded_partitions_end_with_the_newest_due_file_and_the_period_before_it():
    files, periods = partitions.FILE_YEARS.get_partition_keys(), partitions.PERIODS.get_partition_keys()
    if not os.environ.get(LAST_FY_ENV):
        assert files[-1] == f"FY{newest_due_fiscal_year(dt.date.today())}"
    assert periods == files[:-1]  # every period's two files are due


def test_the_code_location_reads_both_variables():
    code = (
        "from cmi_assets.defs.cfsr.partitions import FILE_YEARS, PERIODS;"
        "print(FILE_YEARS.get_partition_keys(), PERIODS.get_partition_keys())"
    )
    env = {**os.environ, FIRST_FY_ENV: "2019", LAST_FY_ENV: "2021"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['FY2019', 'FY2020', 'FY2021'] ['FY2019', 'FY2020']"
    env[LAST_FY_ENV] = "2019"  # one file allows no period
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "a period needs two files" in failed.stderr


def test_each_file_feeds_the_two_periods_that_read_it():
    files, periods = fiscal_year_keys(2016, 2025), fiscal_year_keys(2016, 2024)
    table = files_used_by_periods(files, periods).downstream_partition_keys_by_upstream_partition_key
    assert set(table["FY2020"]) == {"FY2019", "FY2020"}
    assert set(table["FY2016"]) == {"FY2016"}  # no period before the first file
    assert set(table["FY2025"]) == {"FY2024"}  # the newest file completes one period
