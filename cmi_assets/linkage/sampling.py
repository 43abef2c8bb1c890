"""How many units a stratified sample draws per stratum: the clerical sample
(clerical.stratified_sample) and the linkage report's pair sample
(guild_report.sample_allocation) share it."""

from __future__ import annotations

import numpy as np


def stratum_allocation(sizes, n_total: int, shares=None) -> np.ndarray:
    """n_total shared in proportion to `shares` (default sqrt(stratum size): small strata
    are over-sampled, as in NZ Table 4), at least 2 and at most the stratum, per stratum."""
    sizes = np.asarray(sizes, dtype=int)
    weights = np.sqrt(sizes.astype(float)) if shares is None else np.asarray(shares, dtype=float)
    weights = weights / weights.sum()
    return np.minimum(np.maximum(np.round(weights * n_total).astype(int), 2), sizes)
