"""Day arithmetic for the simulator: dates are held as int days since 1970-01-01 (the
representation of `pl.Date`), so numpy can draw and compare them vectorised."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

EPOCH = dt.date(1970, 1, 1)
DAYS_PER_YEAR = 365.25


def day_number(value: str | dt.date) -> int:
    """'YYYY-MM-DD' or a date -> days since 1970-01-01."""
    date = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return (date - EPOCH).days


def year_start(year: np.ndarray | int) -> np.ndarray:
    """Day number of 1 January of each year (vectorised)."""
    years = np.asarray(year, dtype="int64")
    return (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype("int64")


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each day number."""
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[Y]").astype("int64") + 1970


def years_to_days(years: np.ndarray | float) -> np.ndarray:
    return np.rint(np.asarray(years, dtype="float64") * DAYS_PER_YEAR).astype("int64")


def as_date(days: np.ndarray, name: str) -> pl.Series:
    """Day numbers -> a pl.Date series; the sentinel `MISSING_DAY` becomes null."""
    arr = np.asarray(days, dtype="int64")
    series = pl.Series(name, arr, dtype=pl.Int64)
    return series.set(series == MISSING_DAY, None).cast(pl.Int32).cast(pl.Date)


# Sentinel for "no date" inside numpy arrays (far outside any plausible date).
MISSING_DAY = -(10**9)
