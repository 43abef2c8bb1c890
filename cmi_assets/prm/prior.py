"""Prior correction for models fitted on an outcome-dependent (under-)sample.

The NZ base models were trained on samples keeping every child with a finding and only a
share of the others (NZ study, para 61), so the fitted intercept reflects the sample
prevalence, not the population's. King and Zeng (2001, "Logistic regression in rare events
data", eq. 7) show that when sampling depends only on the outcome, the slopes are consistent
and the intercept is corrected by subtracting

    log[ (1 - tau) / tau  *  ybar / (1 - ybar) ]

with tau the population prevalence and ybar the sample prevalence. The same shift applies
to the log-odds of any model of P(y | x) fitted on such a sample (the sampling changes the
odds by a constant factor), which is how `alternative.py` reuses it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class PriorCorrection:
    """The prevalences behind the correction and the intercept shift they imply."""

    population_prevalence: float
    sample_prevalence: float

    def __post_init__(self) -> None:
        for name in ("population_prevalence", "sample_prevalence"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie strictly between 0 and 1")

    @property
    def intercept_shift(self) -> float:
        """The amount added to the fitted intercept (negative when the sample over-represents
        positives, as under-sampling does)."""
        return prior_correction_offset(self.population_prevalence, self.sample_prevalence)

    def corrected_log_odds(self, sample_log_odds: np.ndarray) -> np.ndarray:
        return np.asarray(sample_log_odds, dtype=float) + self.intercept_shift

    def corrected_probability(self, sample_log_odds: np.ndarray) -> np.ndarray:
        return expit(self.corrected_log_odds(sample_log_odds))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "intercept_shift": self.intercept_shift}

    @classmethod
    def from_prevalences(cls, population_outcome: np.ndarray, sample_outcome: np.ndarray) -> PriorCorrection:
        return cls(float(np.mean(population_outcome)), float(np.mean(sample_outcome)))


def prior_correction_offset(population_prevalence: float, sample_prevalence: float) -> float:
    """King and Zeng (2001) eq. 7: the shift added to a sample-fitted intercept,
    -log[(1-tau)/tau * ybar/(1-ybar)]."""
    tau, ybar = population_prevalence, sample_prevalence
    if not (0.0 < tau < 1.0 and 0.0 < ybar < 1.0):
        raise ValueError("prevalences must lie strictly between 0 and 1")
    return -math.log((1.0 - tau) / tau * ybar / (1.0 - ybar))
