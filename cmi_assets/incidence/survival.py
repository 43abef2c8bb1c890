"""Kaplan-Meier cumulative incidence of a first record, 1 - S(t), with Greenwood's
variance and a log(-log) interval (Kalbfleisch and Prentice 2002, 1.3), in plain numpy.

Time is age in days; a child is censored at the end of follow-up (the data's extent, or
death or emigration where a world records them). An event on the day of censoring counts
as an event (events before censorings at tied times)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_95 = 1.959963984540054  # standard normal 97.5% quantile


@dataclass(frozen=True)
class KaplanMeier:
    """The estimate at each distinct event time."""

    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    survival: np.ndarray
    variance: np.ndarray  # Greenwood's, of S(t)

    def cumulative_incidence_at(self, t: np.ndarray) -> np.ndarray:
        """1 - S at each of `t` (a step function, right-continuous)."""
        index = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
        surv = np.where(index >= 0, self.survival[np.maximum(index, 0)], 1.0)
        return 1.0 - surv

    def interval_at(self, t: np.ndarray, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval of the cumulative incidence, through log(-log S)."""
        index = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right") - 1
        surv = np.where(index >= 0, self.survival[np.maximum(index, 0)], 1.0)
        var = np.where(index >= 0, self.variance[np.maximum(index, 0)], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s = np.log(surv)
            se = np.sqrt(var) / (surv * np.abs(log_s))
            lo_s = surv ** np.exp(z * se)  # the lower survival bound gives the upper incidence
            hi_s = surv ** np.exp(-z * se)
        inside = (surv > 0) & (surv < 1) & np.isfinite(se)
        lower = np.where(inside, 1 - hi_s, 1 - surv)
        upper = np.where(inside, 1 - lo_s, 1 - surv)
        return lower, upper


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> KaplanMeier:
    """`time` (days) and `event` (1: recorded, 0: censored) per child."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    order = np.lexsort((~event, time))
    time, event = time[order], event[order]
    distinct = np.unique(time[event])
    n = time.size
    # at risk at t: children whose time is >= t
    at_risk = n - np.searchsorted(time, distinct, side="left")
    deaths = np.searchsorted(time[event], distinct, side="right") - np.searchsorted(time[event], distinct, side="left")
    factor = 1.0 - deaths / at_risk
    survival = np.cumprod(factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), np.inf)
    variance = survival**2 * np.cumsum(terms)
    variance = np.where(np.isfinite(variance), variance, 0.0)
    return KaplanMeier(distinct, at_risk.astype(int), deaths.astype(int), survival, variance)
