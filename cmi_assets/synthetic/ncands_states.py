"""The states of the synthetic NCANDS world: their size, their true effect on recurrence
and their data-quality scenario (CFSR R4 rules, sections 2.3 and 3).

Sizes and state effects are not drawn freely: the listed states take the quantiles of
the published spread (section 2.3), so that a world of 14 states and one of 52 both show
the published minimum, median and maximum. Only which state gets which effect is random
through a Gaussian copula with state size: large states recur more (the pooled rate 9.4%
is above the median state's 7.8%), and the copula's correlation is the one that brings
the expected pooled rate to national performance (9.7%, FY19-20) while the median state
keeps the published median. A last small intercept shift makes the pooled rate exact.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm

# 50 states, DC and Puerto Rico: the order fixes each state's number in true person IDs.
STATE_CODES: tuple[str, ...] = (
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "PR",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
)


def state_sizes(n_states: int, smallest: float, median: float, largest: float) -> np.ndarray:
    """Denominators of n states, largest first, from a split-lognormal whose extremes and
    median are the published ones (section 2.3: 635, 6,015, 51,319): normal scores of the
    plotting positions, scaled so that the outermost states sit exactly at the extremes."""
    if n_states == 1:
        return np.array([float(median)])
    positions = (np.arange(n_states)[::-1] + 0.5) / n_states
    z = norm.ppf(positions) / norm.ppf((n_states - 0.5) / n_states)
    log_spread = np.where(z > 0, np.log(largest / median), np.log(median / smallest))
    return median * np.exp(z * log_spread)


def state_rate_quantiles(n_states: int, five_numbers: dict) -> np.ndarray:
    """n state recurrence rates, lowest first, with the published min / Q1 / median / Q3 /
    max (section 2.3) as their sample quantiles: R's type-7 positions k/(n-1) interpolated
    linearly on the logit scale between the five numbers."""
    anchors = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    values = logit([five_numbers[k] for k in ("min", "q1", "median", "q3", "max")])
    positions = np.arange(n_states) / max(n_states - 1, 1) if n_states > 1 else np.array([0.5])
    return expit(np.interp(positions, anchors, values))


def assign_effects_by_size(sizes: np.ndarray, effects: np.ndarray, correlation: float, noise: np.ndarray) -> np.ndarray:
    """Give each state one of the effects (a permutation), correlated with its size
    through a Gaussian copula: score = r * z(size rank) + sqrt(1 - r^2) * noise."""
    n = len(sizes)
    size_rank = np.argsort(np.argsort(sizes, kind="stable"), kind="stable")
    size_score = norm.ppf((size_rank + 0.5) / n)
    score = correlation * size_score + np.sqrt(1 - correlation**2) * noise
    return np.sort(effects)[np.argsort(np.argsort(score, kind="stable"), kind="stable")]


def pooled_rate(sizes: np.ndarray, state_logits: np.ndarray, cell_logits: np.ndarray, cell_shares: np.ndarray) -> float:
    """Expected pooled rate: sum_s size_s * sum_c share_c * expit(cell_c + u_s) / sum size."""
    per_state = expit(cell_logits[None, :] + state_logits[:, None]) @ cell_shares
    return float(per_state @ (sizes / sizes.sum()))


def effects_for_pooled_rate(
    sizes: np.ndarray, effects: np.ndarray, cell_logits: np.ndarray, cell_shares: np.ndarray, target: float, noise
) -> np.ndarray:
    """The copula assignment (correlation searched on a grid over [-1, 1]) whose expected
    pooled rate is closest to the target."""
    best, best_gap = effects, np.inf
    for correlation in np.linspace(-1.0, 1.0, 201):
        assigned = assign_effects_by_size(sizes, effects, correlation, noise)
        gap = abs(pooled_rate(sizes, assigned, cell_logits, cell_shares) - target)
        if gap < best_gap - 1e-12:
            best, best_gap = assigned, gap
    return best


def intercept_for_pooled_rate(
    sizes: np.ndarray, state_logits: np.ndarray, cell_logits: np.ndarray, cell_shares: np.ndarray, target: float
) -> float:
    """The shift d with sum_s size_s * sum_c share_c * expit(cell_c + u_s + d) / sum size
    = target: the expected pooled rate over states of the given sizes."""
    return brentq(
        lambda shift: pooled_rate(sizes, state_logits + shift, cell_logits, cell_shares) - target, -10.0, 10.0
    )


def median_state_shift(cell_logits: np.ndarray, cell_shares: np.ndarray, median_rate: float) -> float:
    """The logit shift at which a state with no effect of its own has the published
    median state rate at the national age and race mix."""
    return brentq(lambda shift: float(expit(cell_logits + shift) @ cell_shares) - median_rate, -10.0, 10.0)


def risk_cells(recurrence: dict) -> tuple[np.ndarray, np.ndarray]:
    """Logit and share of each (age group, race/ethnicity) cell: logit of the age-group
    rate plus the race/ethnicity log odds ratio against the reference rate (section 2.3)."""
    ages = recurrence["age_groups"]
    races = recurrence["race_ethnicity"]
    age_logit = logit([a["rate"] for a in ages])
    race_log_or = logit([r["rate"] for r in races]) - logit(recurrence["reference_rate"])
    age_share = np.array([a["share"] for a in ages]) / sum(a["share"] for a in ages)
    race_share = np.array([r["share"] for r in races]) / sum(r["share"] for r in races)
    cell_logits = (age_logit[:, None] + race_log_or[None, :]).ravel()
    cell_shares = (age_share[:, None] * race_share[None, :]).ravel()
    return cell_logits, cell_shares


def build_state_table(cfg: dict, scale: float, rng: np.random.Generator) -> pl.DataFrame:
    """One row per listed state: size at real volume and at this world's volume x scale,
    the true state effect (logit shift, intercept included), the state's expected rate at
    the national age and race mix, and its DQ scenario."""
    entries = cfg["states"]
    codes = [e["state"] for e in entries]
    unknown = sorted(set(codes) - set(STATE_CODES))
    if unknown or len(set(codes)) != len(codes):
        raise ValueError(f"ncands profile: unknown or repeated state codes {unknown or codes}")
    sizes_cfg = cfg["sizes"]
    sizes = state_sizes(len(codes), sizes_cfg["min"], sizes_cfg["median"], sizes_cfg["max"])
    sizes = np.array([float(e.get("size", s)) for e, s in zip(entries, sizes)])
    recurrence = cfg["recurrence"]
    target = recurrence["national_performance"] / (1 - recurrence["rules_attrition"])
    cell_logits, cell_shares = risk_cells(recurrence)
    rates = state_rate_quantiles(len(codes), recurrence["state_rates"])
    u = logit(rates) - logit(recurrence["state_rates"]["median"])
    u = u + median_state_shift(cell_logits, cell_shares, recurrence["state_rates"]["median"])
    u = effects_for_pooled_rate(sizes, u, cell_logits, cell_shares, target, rng.standard_normal(len(codes)))
    effect = u + intercept_for_pooled_rate(sizes, u, cell_logits, cell_shares, target)
    expected_rate = expit(cell_logits[None, :] + effect[:, None]) @ cell_shares
    volume = float(cfg["volume"]) * float(scale)
    return pl.DataFrame(
        {
            "state": codes,
            "state_number": [STATE_CODES.index(c) for c in codes],
            "size_real": sizes,
            "size": sizes * volume,
            "state_effect": effect,
            "expected_rate": expected_rate,
            "dq_scenario": [e.get("dq_scenario", "clean") for e in entries],
        }
    )
