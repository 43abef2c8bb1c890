"""The 2^k inclusion table: how many children of a cohort each combination of lists
recorded by age 5 (the input of multiple-systems estimation). One row per pattern, the
first list the most significant bit (loglinear.inclusion_patterns); the all-zero row is
the children no list recorded, unknown (null) by construction. The observed cells sum to
the union: children recorded by at least one list.

Only children followed up to age 5 are counted (a cohort whose youngest children have not
reached 5 at the data's extent uses its older children)."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.incidence.loglinear import inclusion_patterns
from cmi_assets.incidence.sources import LISTS, MAX_AGE_YEARS, observed_to_age, recorded_by_age


def list_flags(children: pl.DataFrame, lists=tuple(LISTS), years: float = MAX_AGE_YEARS) -> pl.DataFrame:
    """person_key and one boolean per list, for the children followed up to `years`."""
    observed = children.filter(observed_to_age(years))
    return observed.select("person_key", *[recorded_by_age(observed, name, years).alias(name) for name in lists])


def overlap_table(flags: pl.DataFrame, lists=tuple(LISTS)) -> pl.DataFrame:
    """Every pattern of the lists with its count of children (null for the all-zero cell)."""
    k = len(lists)
    code = sum(flags[name].cast(pl.Int64) * (2 ** (k - 1 - j)) for j, name in enumerate(lists)) if k else None
    counts = np.bincount(code.to_numpy(), minlength=2**k) if flags.height else np.zeros(2**k, dtype=int)
    patterns = np.vstack([np.zeros(k), inclusion_patterns(k)]).astype(bool)
    table = pl.DataFrame({name: patterns[:, j] for j, name in enumerate(lists)})
    return table.with_columns(
        pl.Series("lists", patterns.sum(axis=1).astype("int64")),
        pl.Series("children", [None, *counts[1:].astype("int64").tolist()], dtype=pl.Int64),
    )


def observed_counts(overlap: pl.DataFrame) -> np.ndarray:
    """The observed cells in inclusion_patterns order (the all-zero row dropped)."""
    return overlap["children"].to_numpy()[1:].astype(float)


def union_count(flags: pl.DataFrame, lists=tuple(LISTS)) -> int:
    return int(flags.select(pl.any_horizontal(list(lists)).sum()).item()) if flags.height else 0
