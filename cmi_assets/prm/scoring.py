"""Scoring with a fitted logistic model: the one place that turns predictors into risk
scores, used both by a freshly fitted stepwise model and by a model loaded from its JSON
artefact, so the two score identically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from cmi_assets.prm.design import VariableSpec, design_matrix
from cmi_assets.prm.prior import PriorCorrection


@dataclass(frozen=True)
class LogisticScorer:
    """Intercept plus one coefficient per design column; `prior_correction` (if any) shifts
    the intercept to the population prevalence (King and Zeng 2001)."""

    variables: tuple[VariableSpec, ...]
    column_names: tuple[str, ...]
    coefficients: tuple[float, ...]
    prior_correction: PriorCorrection | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = ("intercept", *(c for v in self.variables for c in v.columns))
        if tuple(self.column_names) != expected:
            raise ValueError("column names do not match the variables' design columns")
        if len(self.coefficients) != len(self.column_names):
            raise ValueError("one coefficient per design column is required")

    def sample_log_odds(self, frame: Any) -> np.ndarray:
        """Log-odds on the scale of the training sample (no prior correction)."""
        X, _ = design_matrix(frame, self.variables)
        return X @ np.asarray(self.coefficients, dtype=float)

    def log_odds(self, frame: Any) -> np.ndarray:
        """Log-odds on the population scale when a prior correction is attached."""
        eta = self.sample_log_odds(frame)
        return self.prior_correction.corrected_log_odds(eta) if self.prior_correction else eta

    def predict_proba(self, frame: Any) -> np.ndarray:
        return expit(self.log_odds(frame))

    def with_prior_correction(self, prior_correction: PriorCorrection | None) -> LogisticScorer:
        return LogisticScorer(self.variables, self.column_names, self.coefficients, prior_correction, self.extra)

    @property
    def coefficient_by_column(self) -> dict[str, float]:
        return dict(zip(self.column_names, self.coefficients))


def scorer_from_fit(
    variables: Sequence[VariableSpec], column_names: Sequence[str], params: np.ndarray
) -> LogisticScorer:
    return LogisticScorer(tuple(variables), tuple(column_names), tuple(float(b) for b in params))
