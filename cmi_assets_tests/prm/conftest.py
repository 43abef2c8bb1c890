"""A small simulated birth cohort where the logistic model is true, so tests can check the
prm library against the ground truth: which markers matter and each child's true risk.

Markers loosely follow NZ study Box 1; three are pure noise (child's sex, low birth weight,
a continuous nuisance score), matching para 149's finding that sex and birth weight carry
least predictive value.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit

MOTHER_AGE_BANDS = ("<20", "20-24", "25-29", "30-34", "35-39", "40+")
MOTHER_AGE_SHARES = (0.08, 0.18, 0.26, 0.27, 0.16, 0.05)
MOTHER_AGE_EFFECT = {"<20": 0.9, "20-24": 0.5, "25-29": 0.0, "30-34": -0.1, "35-39": 0.0, "40+": 0.2}
BENEFIT_BANDS = ("none", "0-20%", "20-80%", "80-100%")
BENEFIT_SHARES = (0.65, 0.12, 0.12, 0.11)
BENEFIT_EFFECT = {"none": 0.0, "0-20%": 0.4, "20-80%": 0.9, "80-100%": 1.4}
SLOPES = {"sibling_cp_history": 1.6, "parent_cp_history": 1.0, "single_parent": 0.7}
TRUE_VARIABLES = {"mother_age_band", "benefit_time", *SLOPES}
NOISE_VARIABLES = {"male", "low_birth_weight", "nuisance_score"}
CANDIDATES = sorted(TRUE_VARIABLES | NOISE_VARIABLES)


def simulate_cohort(n: int, seed: int, prevalence: float = 0.03) -> pl.DataFrame:
    """n children with markers, true probability `true_risk` and outcome `finding`; the
    intercept is solved so that the mean true risk equals `prevalence`."""
    rng = np.random.default_rng(seed)
    age = rng.choice(MOTHER_AGE_BANDS, size=n, p=MOTHER_AGE_SHARES)
    benefit = rng.choice(BENEFIT_BANDS, size=n, p=BENEFIT_SHARES)
    flag_shares = {"sibling_cp_history": 0.06, "parent_cp_history": 0.10, "single_parent": 0.25}
    flags = {name: rng.random(n) < share for name, share in flag_shares.items()}
    noise = {
        "male": rng.random(n) < 0.515,
        "low_birth_weight": rng.random(n) < 0.08,
        "nuisance_score": rng.normal(size=n),
    }
    eta = (
        np.vectorize(MOTHER_AGE_EFFECT.get)(age)
        + np.vectorize(BENEFIT_EFFECT.get)(benefit)
        + sum(SLOPES[name] * flags[name] for name in SLOPES)
    )
    intercept = _intercept_for_prevalence(eta, prevalence)
    risk = expit(intercept + eta)
    finding = (rng.random(n) < risk).astype(np.int8)
    return pl.DataFrame(
        {
            "person_key": [f"p{i:07d}" for i in range(n)],
            "mother_age_band": age,
            "benefit_time": benefit,
            **flags,
            **noise,
            "true_risk": risk,
            "finding": finding,
        }
    )


def _intercept_for_prevalence(eta: np.ndarray, prevalence: float) -> float:
    low, high = logit(prevalence) - 10, logit(prevalence) + 10
    for _ in range(100):  # bisection: mean risk is increasing in the intercept
        mid = (low + high) / 2
        low, high = (mid, high) if expit(mid + eta).mean() < prevalence else (low, mid)
    return (low + high) / 2


@pytest.fixture(scope="session")
def cohort() -> pl.DataFrame:
    """A 40,000-child population, ~3% positive (NZ Table 1 cohorts are ~62,000 at 2.3-2.8%)."""
    return simulate_cohort(40_000, seed=20140101)


@pytest.fixture(scope="session")
def simulate():
    return simulate_cohort


@pytest.fixture(scope="session")
def candidates() -> list[str]:
    return list(CANDIDATES)


@pytest.fixture(scope="session")
def true_variables() -> set[str]:
    return set(TRUE_VARIABLES)
