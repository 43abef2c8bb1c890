"""Predictor specifications and design matrices shared by every model family.

A predictor is either numeric (one column; booleans become 0/1) or categorical (one dummy
per non-reference level). Categorical variables enter and leave a stepwise model as one
group, the way SAS CLASS variables do (NZ study, Box 1 lists most markers as banded
categories, e.g. mother's age <20 / 20-24 / ... / 40+).

Privacy: error messages name the column and row number, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class VariableSpec:
    """One candidate predictor. `levels` lists every level seen in training (categorical
    only); `reference` is the level without a dummy."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    reference: str | None = None

    @property
    def dummy_levels(self) -> tuple[str, ...]:
        return tuple(level for level in self.levels if level != self.reference)

    @property
    def columns(self) -> tuple[str, ...]:
        """Design-matrix column names this variable contributes."""
        if self.kind == NUMERIC:
            return (self.name,)
        return tuple(f"{self.name}[{level}]" for level in self.dummy_levels)

    @property
    def degrees_of_freedom(self) -> int:
        return len(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "levels": list(self.levels), "reference": self.reference}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariableSpec:
        return cls(
            name=data["name"], kind=data["kind"], levels=tuple(data.get("levels", ())), reference=data.get("reference")
        )


def as_polars(frame: Any) -> pl.DataFrame:
    """Accept a polars or pandas frame; everything below works on polars."""
    if isinstance(frame, pl.DataFrame):
        return frame
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a project dependency
        pd = None
    if pd is not None and isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise TypeError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")


def as_array(values: Any, name: str = "values") -> np.ndarray:
    """A 1-D numpy array from a list, numpy array, polars or pandas Series."""
    if isinstance(values, pl.Series):
        if values.null_count():
            raise ValueError(f"{name} has missing values at row {_first_null_row(values)} (1-based)")
        return values.to_numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return array


def outcome_array(values: Any, name: str = "outcome") -> np.ndarray:
    """A 0/1 float outcome vector; anything other than 0/1/True/False is an error."""
    y = as_array(values, name).astype(float)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{name} must be 0/1; row {int(np.argmax(bad)) + 1} (1-based) is not")
    return y


def _first_null_row(series: pl.Series) -> int:
    return int(series.is_null().arg_max()) + 1


def _is_categorical_dtype(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def infer_variable_specs(
    frame: Any,
    variables: Sequence[str],
    references: Mapping[str, str] | None = None,
    categorical: Sequence[str] = (),
) -> list[VariableSpec]:
    """Specs for `variables`: string/categorical columns (or those named in `categorical`)
    become dummy groups; the reference level is `references[name]` or, by default, the most
    frequent level (ties broken by sort order), which keeps standard errors small and is
    stable across bootstrap resamples."""
    data = as_polars(frame)
    references = dict(references or {})
    specs = []
    for name in variables:
        if name not in data.columns:
            raise KeyError(f"predictor column {name!r} is not in the frame")
        series = data[name]
        if series.null_count():
            raise ValueError(f"predictor column {name!r} has missing values at row {_first_null_row(series)} (1-based)")
        if _is_categorical_dtype(series.dtype) or name in categorical or name in references:
            specs.append(_categorical_spec(name, series.cast(pl.String), references.get(name)))
        elif series.dtype == pl.Boolean or series.dtype.is_numeric():
            specs.append(VariableSpec(name=name, kind=NUMERIC))
        else:
            raise TypeError(f"predictor column {name!r} has unsupported type {series.dtype}")
    return specs


def _categorical_spec(name: str, series: pl.Series, reference: str | None) -> VariableSpec:
    counts = series.value_counts(sort=False)
    levels = tuple(sorted(counts[name].to_list()))
    if len(levels) < 2:
        raise ValueError(f"categorical predictor {name!r} has fewer than two levels")
    if reference is None:
        by_frequency = sorted(zip(counts[name].to_list(), counts["count"].to_list()), key=lambda lc: (-lc[1], lc[0]))
        reference = by_frequency[0][0]
    elif reference not in levels:
        raise ValueError(f"reference level given for {name!r} does not occur in the data")
    return VariableSpec(name=name, kind=CATEGORICAL, levels=levels, reference=reference)


def variable_block(frame: pl.DataFrame, spec: VariableSpec) -> np.ndarray:
    """The (n, df) design block of one variable."""
    if spec.name not in frame.columns:
        raise KeyError(f"predictor column {spec.name!r} is not in the frame")
    series = frame[spec.name]
    if series.null_count():
        row = _first_null_row(series)
        raise ValueError(f"predictor column {spec.name!r} has missing values at row {row} (1-based)")
    if spec.kind == NUMERIC:
        if series.dtype == pl.Boolean:
            series = series.cast(pl.Int8)
        if not series.dtype.is_numeric():
            raise TypeError(f"predictor column {spec.name!r} must be numeric or boolean")
        return series.cast(pl.Float64).to_numpy().reshape(-1, 1)
    values = series.cast(pl.String).to_numpy()
    unknown = ~np.isin(values, np.asarray(spec.levels, dtype=object))
    if unknown.any():
        raise ValueError(
            f"predictor column {spec.name!r} row {int(np.argmax(unknown)) + 1} (1-based) "
            "has a level not seen in training"
        )
    return np.column_stack([(values == level).astype(float) for level in spec.dummy_levels])


def design_matrix(frame: Any, specs: Sequence[VariableSpec], intercept: bool = True) -> tuple[np.ndarray, list[str]]:
    """The design matrix (intercept first when asked) and its column names."""
    data = as_polars(frame)
    blocks = [np.ones((data.height, 1))] if intercept else []
    names = ["intercept"] if intercept else []
    for spec in specs:
        blocks.append(variable_block(data, spec))
        names.extend(spec.columns)
    if not blocks:
        return np.empty((data.height, 0)), names
    return np.hstack(blocks), names
