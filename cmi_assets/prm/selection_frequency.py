"""How stable is stepwise selection?

- `bootstrap_selection_frequencies`: refit the stepwise model on bootstrap resamples and
  report the share of resamples selecting each variable (Austin and Tu 2004, cited in NZ
  study para 143).
- `selection_across_models`: NZ Figure 3, across several fitted models (cohorts, sub-group
  models, alternative targets, linkage levels), how often each variable appears and its
  average entry rank among the models where it appears (rank 1 = entered first, para 144).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from cmi_assets.prm.design import CATEGORICAL, as_polars, infer_variable_specs
from cmi_assets.prm.stepwise import StepwiseFitError, StepwiseModel, stepwise_logistic
from cmi_assets.prm.threads import DEFAULT_NATIVE_THREADS, native_threads


def bootstrap_selection_frequencies(
    frame: Any,
    outcome: str,
    candidates: Sequence[str],
    rng: np.random.Generator,
    n_resamples: int = 100,
    *,
    entry: float = 1.0,
    stay: float = 0.02,
    references: Mapping[str, str] | None = None,
    categorical: Sequence[str] = (),
    n_threads: int | None = DEFAULT_NATIVE_THREADS,
) -> pl.DataFrame:
    """Per candidate: resamples selecting it, their share among the resamples that could be
    fitted, and its mean entry rank when selected. Categorical reference levels are fixed
    from the full data so every resample codes the groups alike (the group's multi-df test
    does not depend on the reference, but the coefficients would). Resamples whose fit fails
    (e.g. a rare level absent or quasi-separated throughout) are counted in
    `resamples_failed` and left out of the shares."""
    data = as_polars(frame)
    specs = infer_variable_specs(data, candidates, references, categorical)
    fixed_references = {s.name: s.reference for s in specs if s.kind == CATEGORICAL}
    selected = {name: 0 for name in candidates}
    rank_sums = {name: 0.0 for name in candidates}
    fitted = failed = 0
    with native_threads(n_threads):  # set once; each refit then leaves the limit alone
        for _ in range(n_resamples):
            resample = data[rng.integers(0, data.height, size=data.height)]
            try:
                model = stepwise_logistic(
                    resample, outcome, candidates, entry=entry, stay=stay, references=fixed_references, n_threads=None
                )
            except (StepwiseFitError, ValueError):
                failed += 1
                continue
            fitted += 1
            for name, rank in model.entry_ranks.items():
                selected[name] += 1
                rank_sums[name] += rank
    rows = [
        {
            "variable": name,
            "resamples_selected": selected[name],
            "share_selected": selected[name] / fitted if fitted else float("nan"),
            "mean_entry_rank": rank_sums[name] / selected[name] if selected[name] else None,
            "resamples_fitted": fitted,
            "resamples_failed": failed,
        }
        for name in candidates
    ]
    return pl.DataFrame(rows, schema_overrides={"mean_entry_rank": pl.Float64}).sort(
        ["share_selected", "mean_entry_rank"], descending=[True, False], nulls_last=True
    )


def selection_across_models(
    models: Mapping[str, StepwiseModel],
    split_variables: Mapping[str, str | Sequence[str]] | None = None,
) -> pl.DataFrame:
    """NZ Figure 3: for every variable selected in any model, the number and share of models
    it appears in and its mean entry rank over the models where it was selected. Per the
    Figure 3 note, a variable that defined a sub-group model (`split_variables[model]`,
    e.g. "maori" for the Maori / non-Maori models) counts as appearing in that model; it has
    no entry rank there, so it does not enter the average."""
    split_variables = dict(split_variables or {})
    appears: dict[str, int] = {}
    ranks: dict[str, list[int]] = {}
    for model_name, model in models.items():
        splits = split_variables.get(model_name, ())
        splits = (splits,) if isinstance(splits, str) else tuple(splits)
        present = dict(model.entry_ranks)
        for name in {*present, *splits}:
            appears[name] = appears.get(name, 0) + 1
        for name, rank in present.items():
            ranks.setdefault(name, []).append(rank)
    rows = [
        {
            "variable": name,
            "models_appearing": count,
            "share_of_models": count / len(models),
            "mean_entry_rank": float(np.mean(ranks[name])) if ranks.get(name) else None,
            "models_ranked": len(ranks.get(name, [])),
        }
        for name, count in appears.items()
    ]
    schema = {
        "variable": pl.String,
        "models_appearing": pl.Int64,
        "share_of_models": pl.Float64,
        "mean_entry_rank": pl.Float64,
        "models_ranked": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).sort(
        ["models_appearing", "mean_entry_rank", "variable"], descending=[True, False, False], nulls_last=True
    )
