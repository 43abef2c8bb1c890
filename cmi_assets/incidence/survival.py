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

    def _at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """S and its variance at each of `t` (a right-continuous step function; 1 and 0
        before the first event)."""
        index = np.searchsorted(self.times, np.asarray(t, dtype=float), side="right")
        return np.r_[1.0, self.survival][index], np.r_[0.0, self.variance][index]

    def cumulative_incidence_at(self, t: np.ndarray) -> np.ndarray:
        return 1.0 - self._at(t)[0]

    def interval_at(self, t: np.ndarray, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval of the cumulative incidence, through log(-log S)."""
        surv, var = self._at(t)
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
    greenwood = np.cumsum(terms)
    # S = 0 once everyone at risk had the event: no variance left
    variance = np.where(np.isfinite(greenwood), survival**2 * np.where(np.isfinite(greenwood), greenwood, 0.0), 0.0)
    return KaplanMeier(distinct, at_risk.astype(int), deaths.astype(int), survival, variance)
