"""Proportionality of referrals (NZ study, sections 6-7 and Figure 4).

- `composition_table`: Tables 7 and 8, the share of each group among all children, among
  children with the outcome ("known maltreatment") and among the referred children.
- `separate_models_referral` / `separate_models_accuracy_table`: Table 9, separate models
  per group with referrals drawn from each group's own scores in proportion to the group's
  share of known positives (paras 119-122).
- `marker_count_by_score_band`: Figure 4, the share of children with at least 5 of the 11
  risk markers among the top 2%, the top 5% and everyone (para 150).

Every top-N selection uses the referral rule in `evaluation.py` (exact counts, deterministic
ties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from cmi_assets.prm.design import as_array, as_polars, outcome_array
from cmi_assets.prm.evaluation import confusion_counts, referral_order, top_n_flags, top_share_flags

FIGURE4_BANDS = (("Top 2%", 0.02), ("Top 5%", 0.05), ("All", 1.0))
FIGURE4_MIN_MARKERS = 5


def _flags(frame: pl.DataFrame, values: Any, name: str) -> np.ndarray:
    """A boolean array from a column name or an array-like of one value per row."""
    array = frame[values].to_numpy() if isinstance(values, str) else as_array(values, name)
    if len(array) != frame.height:
        raise ValueError(f"{name} must have one value per row")
    return array.astype(bool)


def composition_table(frame: Any, group_columns: Sequence[str], outcome: str, referred: Any) -> pl.DataFrame:
    """For each boolean group column: its share among all children, among children with the
    outcome, and among the referred children (a column name or flags, e.g.
    `top_n_flags(score, 3000)`). Shares are among children whose group value is known; the
    share with the value missing is reported beside them (NZ Table 7, last row).
    `referred_to_outcome_ratio` > 1 means the group is over-represented among referrals
    relative to its share of known positives (NZ para 116)."""
    data = as_polars(frame)
    y = outcome_array(data[outcome], outcome).astype(bool)
    chosen = _flags(data, referred, "referred")
    populations = {"all": np.ones(data.height, dtype=bool), "outcome": y, "referred": chosen}
    rows = []
    for column in group_columns:
        series = data[column]
        known = ~series.is_null().to_numpy()
        member = series.fill_null(False).cast(pl.Boolean).to_numpy()
        row: dict[str, Any] = {"group": column}
        for label, in_population in populations.items():
            denominator = int((in_population & known).sum())
            row[f"n_{label}"] = int((in_population & member).sum())
            row[f"share_{label}"] = row[f"n_{label}"] / denominator if denominator else float("nan")
            total = int(in_population.sum())
            row[f"missing_{label}"] = int((in_population & ~known).sum()) / total if total else float("nan")
        row["referred_to_outcome_ratio"] = (
            row["share_referred"] / row["share_outcome"] if row["share_outcome"] else float("nan")
        )
        rows.append(row)
    return pl.DataFrame(rows)


def allocate_referrals(
    positives_by_group: Mapping[Any, float], group_sizes: Mapping[Any, int], n_referred: int
) -> dict[Any, int]:
    """Split `n_referred` across groups in proportion to their known positives (largest-
    remainder rounding, so the parts add up exactly; remainder ties go to the group listed
    first). A group never receives more than its size; any excess is re-shared among the
    others in the same proportion."""
    if n_referred > sum(group_sizes.values()):
        raise ValueError("cannot refer more children than there are")
    quotas = {g: 0 for g in positives_by_group}
    open_groups = [g for g in positives_by_group if group_sizes.get(g, 0) > 0]
    remaining = n_referred
    while remaining > 0 and open_groups:
        weights = np.array([positives_by_group[g] for g in open_groups], dtype=float)
        if weights.sum() <= 0:
            weights = np.array([group_sizes[g] - quotas[g] for g in open_groups], dtype=float)
        exact = remaining * weights / weights.sum()
        parts = np.floor(exact).astype(int)
        leftover = remaining - int(parts.sum())
        for i in sorted(range(len(open_groups)), key=lambda i: (-(exact[i] - parts[i]), i))[:leftover]:
            parts[i] += 1
        for group, part in zip(open_groups, parts):
            quotas[group] += int(part)
        overflow = 0
        for group in open_groups:
            excess = quotas[group] - group_sizes[group]
            if excess > 0:
                quotas[group] -= excess
                overflow += excess
        open_groups = [g for g in open_groups if quotas[g] < group_sizes[g]]
        remaining = overflow
    return quotas


def separate_models_referral(
    group: Any,
    score: Any,
    n_referred: int,
    allocation_outcome: Any,
    tie_key: Any = None,
) -> np.ndarray:
    """NZ Table 9 selection: each child carries the score of *its own group's* model; group g
    gets a quota proportional to its share of known positives (`allocation_outcome`), and its
    highest-scored children fill it. Returns referral flags."""
    groups = as_array(group, "group")
    y = outcome_array(allocation_outcome, "allocation_outcome")
    scores = as_array(score, "score").astype(float)
    keys = np.arange(len(scores))
    if tie_key is not None:
        keys = np.unique(as_array(tie_key, "tie_key"), return_inverse=True)[1]
    labels = list(dict.fromkeys(groups.tolist()))
    positives = {g: float(y[groups == g].sum()) for g in labels}
    sizes = {g: int((groups == g).sum()) for g in labels}
    quotas = allocate_referrals(positives, sizes, n_referred)
    referred = np.zeros(len(scores), dtype=bool)
    for g in labels:
        rows = np.flatnonzero(groups == g)
        order = referral_order(scores[rows], keys[rows])
        referred[rows[order[: quotas[g]]]] = True
    return referred


def separate_models_accuracy_table(
    outcome: Any,
    base_score: Any,
    splits: Mapping[str, tuple[Any, Any]],
    n_referred: int,
    allocation_outcome: Any = None,
    tie_key: Any = None,
) -> pl.DataFrame:
    """NZ Table 9: PPV, NPV, sensitivity and specificity of referring the top `n_referred`
    by the base model, then of each combination of separate models. `splits` maps a label to
    (group per child, score per child from that child's group model). Quotas follow
    `allocation_outcome` (default: `outcome`; the NZ study allocated by known findings by
    age two and evaluated against findings by age five)."""
    allocation = outcome if allocation_outcome is None else allocation_outcome
    rows = [{"model": "Base model", **_referral_row(outcome, top_n_flags(base_score, n_referred, tie_key))}]
    for label, (group, score) in splits.items():
        referred = separate_models_referral(group, score, n_referred, allocation, tie_key)
        rows.append({"model": label, **_referral_row(outcome, referred)})
    return pl.DataFrame(rows)


def _referral_row(outcome: Any, referred: np.ndarray) -> dict[str, Any]:
    counts = confusion_counts(outcome, referred)
    return {"referred": counts.referred, "true_positives": counts.a, **counts.rates()}


def marker_count_by_score_band(
    frame: Any,
    marker_columns: Sequence[str],
    score: Any,
    min_markers: int = FIGURE4_MIN_MARKERS,
    bands: Sequence[tuple[str, float]] = FIGURE4_BANDS,
    tie_key: Any = None,
) -> pl.DataFrame:
    """NZ Figure 4: among the children in each top-k% score band, the share carrying at
    least `min_markers` of the boolean `marker_columns` (the NZ study used 5 of 11)."""
    data = as_polars(frame)
    missing = [c for c in marker_columns if data[c].null_count()]
    if missing:
        raise ValueError(f"marker columns have missing values: {', '.join(missing)}")
    counts = data.select(pl.sum_horizontal(pl.col(list(marker_columns)).cast(pl.Int32))).to_series().to_numpy()
    rows = []
    for label, share in bands:
        in_band = top_share_flags(score, share, tie_key)
        n = int(in_band.sum())
        with_min = int((in_band & (counts >= min_markers)).sum())
        rows.append(
            {
                "band": label,
                "share": share,
                "n": n,
                "n_with_min_markers": with_min,
                "share_with_min_markers": with_min / n if n else float("nan"),
            }
        )
    return pl.DataFrame(rows)
