"""Predictive-accuracy measures of the NZ study (section 4): AUR with a DeLong interval
(Table 1), misclassification rate and cumulative lift at the top 3% (Table 1 notes 3-4), the
threshold table for the top 1%..20% (Table 2 and its notes), PPV and sensitivity by age
(Figure 1), and calibration.

Referral rule, used by every top-k% measure here (one place): the top k% of a population
of n children is exactly round(k x n) children (half rounds up; the NZ Table 2 counts match:
5% of 62,273 = 3,113.65 -> 3,114). Children are taken in descending score; children tied on
the score at the cut-off are taken in ascending `tie_key` order (pass the pseudonymous
person_key for reproducibility across runs; by default, row order). So the referred count
is always exact and the same input always refers the same children.

All rates are fractions in [0, 1]; reports multiply by 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm, rankdata

from cmi_assets.prm.design import as_array, outcome_array

TABLE2_SHARES = tuple(k / 100 for k in range(1, 21))
TABLE1_SHARE = 0.03  # NZ study, Table 1 notes 3-4
FIGURE1_SHARE = 0.05  # NZ study, Figure 1


# --- referral at the top k% -------------------------------------------------------------


def _scores(score: Any) -> np.ndarray:
    s = as_array(score, "score").astype(float)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"score has a non-finite value at row {int(np.argmax(~np.isfinite(s))) + 1} (1-based)")
    return s


def referral_order(score: Any, tie_key: Any = None) -> np.ndarray:
    """Row indices from highest to lowest score; ties in ascending tie_key (default: row)."""
    s = _scores(score)
    if tie_key is None:
        key = np.arange(len(s))
    else:
        key = np.unique(as_array(tie_key, "tie_key"), return_inverse=True)[1]
        if len(key) != len(s):
            raise ValueError("tie_key must have one value per score")
    return np.lexsort((key, -s))


def referred_count(n: int, share: float) -> int:
    """round(share x n), half up (NZ Table 2: 1% of 62,273 -> 623)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must lie in [0, 1]")
    return int(np.floor(share * n + 0.5))


def top_share_flags(score: Any, share: float, tie_key: Any = None) -> np.ndarray:
    """Boolean flags for the children referred at the top `share` of scores."""
    order = referral_order(score, tie_key)
    flags = np.zeros(len(order), dtype=bool)
    flags[order[: referred_count(len(order), share)]] = True
    return flags


def top_n_flags(score: Any, n_referred: int, tie_key: Any = None) -> np.ndarray:
    """Boolean flags for the `n_referred` highest scores (NZ Tables 7-9 use the top 3,000)."""
    order = referral_order(score, tie_key)
    flags = np.zeros(len(order), dtype=bool)
    flags[order[:n_referred]] = True
    return flags


@dataclass(frozen=True)
class ConfusionCounts:
    """The NZ contingency table (notes to Tables 2-3): a = referred with the outcome,
    b = referred without (false positives), c = not referred with (false negatives),
    d = not referred without."""

    a: int
    b: int
    c: int
    d: int

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    @property
    def referred(self) -> int:
        return self.a + self.b

    @property
    def prevalence(self) -> float:
        return _ratio(self.a + self.c, self.n)

    @property
    def ppv(self) -> float:
        return _ratio(self.a, self.a + self.b)

    @property
    def npv(self) -> float:
        return _ratio(self.d, self.c + self.d)

    @property
    def sensitivity(self) -> float:
        return _ratio(self.a, self.a + self.c)

    @property
    def specificity(self) -> float:
        return _ratio(self.d, self.b + self.d)

    @property
    def misclassification_rate(self) -> float:
        """(FP + FN) / n: errors among *all* cases (Table 1 note 3)."""
        return _ratio(self.b + self.c, self.n)

    @property
    def cumulative_lift(self) -> float:
        """Sensitivity over that of a random referral of the same share (Table 1 note 4):
        sensitivity / (referred / n), which equals PPV / prevalence."""
        return _ratio(self.sensitivity, _ratio(self.referred, self.n))

    def rates(self) -> dict[str, float]:
        return {
            "ppv": self.ppv,
            "npv": self.npv,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
        }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def confusion_counts(outcome: Any, referred: Any) -> ConfusionCounts:
    y = outcome_array(outcome).astype(bool)
    r = as_array(referred, "referred").astype(bool)
    if len(y) != len(r):
        raise ValueError("outcome and referred flags must have the same length")
    return ConfusionCounts(int(np.sum(r & y)), int(np.sum(r & ~y)), int(np.sum(~r & y)), int(np.sum(~r & ~y)))


def confusion_at_share(outcome: Any, score: Any, share: float, tie_key: Any = None) -> ConfusionCounts:
    return confusion_counts(outcome, top_share_flags(score, share, tie_key))


def misclassification_rate_at(outcome: Any, score: Any, share: float = TABLE1_SHARE, tie_key: Any = None) -> float:
    """Table 1 note 3: errors among all children when the top `share` is predicted positive.
    Compute it on the whole scored population, not the under-sampled validation set."""
    return confusion_at_share(outcome, score, share, tie_key).misclassification_rate


def cumulative_lift_at(outcome: Any, score: Any, share: float = TABLE1_SHARE, tie_key: Any = None) -> float:
    """Table 1 note 4: cumulative lift at the top `share` of the scored population."""
    return confusion_at_share(outcome, score, share, tie_key).cumulative_lift


def threshold_table(
    outcome: Any,
    score: Any,
    shares: Sequence[float] = TABLE2_SHARES,
    events: Any = None,
    tie_key: Any = None,
    group: Any = None,
) -> pl.DataFrame:
    """NZ Table 2 (and Table 3 with `group`, a boolean per child: the thresholds are set on
    the whole population, the counts and rates are those of the group's children): for each top-k% threshold the number referred, false positives, false
    negatives, PPV, NPV, sensitivity and specificity, then an "All" row (everyone referred:
    PPV = prevalence, NPV undefined). With `events` (findings per child), adds the share of
    all events that the referred children account for (NZ para 73: 36.0% of findings vs
    31.6% of children with findings)."""
    y = outcome_array(outcome)
    s = _scores(score)
    if len(y) != len(s):
        raise ValueError("outcome and score must have the same length")
    order = referral_order(s, tie_key)
    event_counts = None if events is None else as_array(events, "events").astype(float)
    if event_counts is not None and (len(event_counts) != len(y) or np.any(event_counts < 0)):
        raise ValueError("events must be one non-negative count per child")
    mask = np.ones(len(y), dtype=bool) if group is None else as_array(group, "group").astype(bool)
    if len(mask) != len(y):
        raise ValueError("group must be one flag per child")
    group_events = None if event_counts is None else event_counts[mask]
    rows = []
    for share in shares:
        k = referred_count(len(y), share)
        referred = np.zeros(len(y), dtype=bool)
        referred[order[:k]] = True
        rows.append(_threshold_row(f"Top {share * 100:g}%", share, y[mask], s, referred[mask], order, k, group_events))
    rows.append(
        _threshold_row("All", 1.0, y[mask], s, np.ones(int(mask.sum()), dtype=bool), order, len(y), group_events)
    )
    table = pl.DataFrame(rows)
    return table if event_counts is not None else table.drop("events_referred", "share_of_events")


def _threshold_row(
    label: str,
    share: float,
    y: np.ndarray,
    s: np.ndarray,
    referred: np.ndarray,
    order: np.ndarray,
    k: int,
    event_counts: np.ndarray | None,
) -> dict[str, Any]:
    counts = confusion_counts(y, referred)
    events_referred = None if event_counts is None else float(event_counts[referred].sum())
    row = {
        "threshold": label,
        "share": share,
        "referred": counts.referred,
        "cutoff_score": float(s[order[k - 1]]) if k else float("nan"),
        "true_positives": counts.a,
        "false_positives": counts.b,
        "false_negatives": counts.c,
        "true_negatives": counts.d,
        **counts.rates(),
        "events_referred": events_referred,
        "share_of_events": None if event_counts is None else _ratio(events_referred, event_counts.sum()),
    }
    return row


def outcomes_at_share_table(
    outcomes: Mapping[Any, Any], score: Any, share: float = FIGURE1_SHARE, tie_key: Any = None
) -> pl.DataFrame:
    """NZ Figure 1: PPV and sensitivity of one referral (the top `share` of scores) against
    several outcomes, e.g. {1: finding_by_age_1, ..., 5: finding_by_age_5}. The referred
    group is the same for every outcome; only the outcome changes."""
    referred = top_share_flags(score, share, tie_key)
    rows = []
    for label, outcome in outcomes.items():
        counts = confusion_counts(outcome, referred)
        rows.append(
            {
                "outcome": str(label),
                "referred": counts.referred,
                "positives": counts.a + counts.c,
                "ppv": counts.ppv,
                "sensitivity": counts.sensitivity,
            }
        )
    return pl.DataFrame(rows)


# --- AUC with DeLong's interval ------------------------------------------------------------


@dataclass(frozen=True)
class AucResult:
    auc: float
    std_error: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast DeLong (Sun and Xu 2014, IEEE SPL 21:1389): AUCs and the structural components
    of k score rows via midranks, O(k N log N). Returns (aucs, v10 per positive, v01 per
    negative)."""
    if scores.shape[1] != len(y):
        raise ValueError("outcome and score must have the same length")
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    x, z = scores[:, positive], scores[:, ~positive]
    combined = rankdata(np.hstack([x, z]), axis=1)  # midranks over all N
    rank_x = rankdata(x, axis=1)
    rank_z = rankdata(z, axis=1)
    aucs = (combined[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (combined[:, :m] - rank_x) / n  # share of negatives each positive outranks
    v01 = 1.0 - (combined[:, m:] - rank_z) / m  # share of positives outranking each negative
    return aucs, v10, v01


def _delong_covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((v10.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((v01.shape[0],) * 2)
    return s10 / m + s01 / n


def delong_auc(outcome: Any, score: Any, confidence: float = 0.95) -> AucResult:
    """ROC AUC (the NZ study's AUR) with DeLong et al. (1988) standard error and a normal
    interval, clipped to [0, 1]."""
    y = outcome_array(outcome)
    s = _scores(score)
    aucs, v10, v01 = _delong_components(y, s[None, :])
    se = float(np.sqrt(_delong_covariance(v10, v01)[0, 0]))
    z = norm.ppf(0.5 + confidence / 2.0)
    auc = float(aucs[0])
    low, high = max(0.0, float(auc - z * se)), min(1.0, float(auc + z * se))
    return AucResult(auc, se, low, high, v10.shape[1], v01.shape[1], confidence)


def delong_auc_difference(outcome: Any, score_a: Any, score_b: Any) -> dict[str, float]:
    """Paired DeLong test that two scores of the same children have equal AUC (e.g. the
    stepwise model against the second model family on one validation set)."""
    y = outcome_array(outcome)
    aucs, v10, v01 = _delong_components(y, np.vstack([_scores(score_a), _scores(score_b)]))
    cov = _delong_covariance(v10, v01)
    variance = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    difference = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(variance, 0.0)))
    z = difference / se if se > 0 else float("nan")
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "difference": difference,
        "std_error": se,
        "z": z,
        "p_value": float(2.0 * norm.sf(abs(z))) if se > 0 else float("nan"),
    }


def auc_table(outcome: Any, scores: Mapping[str, Any], confidence: float = 0.95) -> pl.DataFrame:
    """AUC and DeLong interval for several scores of the same children, e.g. the model beside
    an "oracle" score (the synthetic world's true risk) to show the attainable ceiling."""
    rows = [{"score": name, **delong_auc(outcome, s, confidence).to_dict()} for name, s in scores.items()]
    return pl.DataFrame(rows)


# --- calibration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationFit:
    """Logistic recalibration logit P(y=1) = intercept + slope x logit(p). A well calibrated
    score has slope 1 and intercept 0; `calibration_in_the_large` is the intercept with the
    slope fixed at 1 (0 when mean predicted = observed rate)."""

    slope: float
    intercept: float
    calibration_in_the_large: float
    mean_predicted: float
    observed_rate: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def calibration_fit(outcome: Any, probability: Any) -> CalibrationFit:
    import statsmodels.api as sm

    y = outcome_array(outcome)
    p = _scores(probability)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    p = np.clip(p, 1e-12, 1 - 1e-12)  # an exact 0 or 1 would give an infinite logit
    logit_p = np.log(p / (1 - p))
    joint = sm.Logit(y, np.column_stack([np.ones_like(logit_p), logit_p])).fit(method="newton", disp=0, tol=1e-10)
    in_the_large = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=logit_p).fit(tol=1e-12)
    return CalibrationFit(
        slope=float(joint.params[1]),
        intercept=float(joint.params[0]),
        calibration_in_the_large=float(in_the_large.params[0]),
        mean_predicted=float(p.mean()),
        observed_rate=float(y.mean()),
    )


def calibration_table(outcome: Any, probability: Any, n_bins: int = 10) -> pl.DataFrame:
    """Equal-count bins of predicted probability (lowest first) with the mean prediction and
    observed rate in each, for a calibration plot."""
    y = outcome_array(outcome)
    p = _scores(probability)
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=int)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    frame = pl.DataFrame({"bin": bins + 1, "p": p, "y": y})
    return (
        frame.group_by("bin")
        .agg(
            pl.len().alias("n"),
            pl.col("p").mean().alias("mean_predicted"),
            pl.col("y").mean().alias("observed_rate"),
            pl.col("y").sum().cast(pl.Int64).alias("events"),
            pl.col("p").min().alias("min_predicted"),
            pl.col("p").max().alias("max_predicted"),
        )
        .sort("bin")
    )


# --- Table 1 ---------------------------------------------------------------------------------


def base_model_summary(
    population_outcome: Any,
    population_score: Any,
    validation_outcome: Any,
    validation_score: Any,
    sample_size: int,
    share: float = TABLE1_SHARE,
    tie_key: Any = None,
) -> dict[str, float]:
    """One column of NZ Table 1: cohort size and prevalence, modelling sample size, AUR on
    the validation sample with its DeLong interval, and misclassification rate and cumulative
    lift at the top 3% of the scored study population."""
    y = outcome_array(population_outcome)
    counts = confusion_at_share(y, population_score, share, tie_key)
    auc = delong_auc(validation_outcome, validation_score)
    return {
        "number_in_cohort": len(y),
        "prevalence": float(y.mean()),
        "sample_size": int(sample_size),
        "auc_validation": auc.auc,
        "auc_ci_low": auc.ci_low,
        "auc_ci_high": auc.ci_high,
        "share_for_rates": share,
        "misclassification_rate": counts.misclassification_rate,
        "cumulative_lift": counts.cumulative_lift,
    }
