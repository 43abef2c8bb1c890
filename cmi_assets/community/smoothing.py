"""Empirical-Bayes smoothing of small-area rates (Poisson-gamma, Marshall's global
method-of-moments estimator).

Marshall, R. J. (1991), "Mapping disease and mortality rates using empirical Bayes
estimators", Applied Statistics 40(2), 283-294, section 3 (the global estimator): with
counts x_i in populations n_i, raw rates r_i = x_i / n_i,

    m   = sum(x) / sum(n)                        the overall rate (prior mean)
    s2  = sum(n_i (r_i - m)^2) / sum(n)          the population-weighted variance of the rates
    A   = max(s2 - m / n_bar, 0)                 the between-area variance (n_bar the mean population)
    C_i = A / (A + m / n_i)                      how much an area keeps of its own rate
    smoothed_i = m + C_i (r_i - m)

An area of few children (large m / n_i) is pulled towards m; a large one keeps nearly its
own rate. When the rates vary no more than sampling alone would make them (A = 0) every
area gets m.
"""

from __future__ import annotations

import numpy as np


def marshall_global(count, population) -> np.ndarray:
    """The smoothed rates (per person, not per 1,000) of areas with `count` events in
    `population` people; NaN where the population is 0. A single area keeps its rate."""
    x = np.asarray(count, dtype=float)
    n = np.asarray(population, dtype=float)
    out = np.full(x.shape, np.nan)
    has = n > 0
    if not has.any():
        return out
    x, n = x[has], n[has]
    rate = x / n
    m = x.sum() / n.sum()
    s2 = (n * (rate - m) ** 2).sum() / n.sum()
    between = max(s2 - m / n.mean(), 0.0)
    # m = 0 (no events anywhere): every rate is 0 and stays so
    keep = np.divide(between, between + m / n, out=np.zeros_like(n), where=(between + m / n) > 0)
    out[has] = m + keep * (rate - m)
    return out
