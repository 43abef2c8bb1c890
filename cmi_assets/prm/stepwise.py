"""SAS-style stepwise logistic regression (PROC LOGISTIC SELECTION=STEPWISE), the method the
NZ base models were built with (NZ study, paras 58 and 143; Figure 3 note 1: significance
entry level 1, stay level 0.02).

Algorithm, as SAS documents it:
1. start from the intercept-only model;
2. forward step: for every candidate not in the model compute the Rao score chi-square
   against the current model (multi-degree-of-freedom for a categorical group); the
   candidate with the smallest p-value enters if p < `entry` (ties: the larger statistic);
3. backward steps: refit, and while the variable with the largest Wald p-value has
   p > `stay`, remove it and refit;
4. stop when no candidate meets the entry level or when the model is identical to one
   visited before (cycling), or after `max_steps` entry/removal steps.

Each entry and each removal is one step. A variable's *entry rank* is the position of its
(last) entry among the variables in the final model: rank 1 entered first, i.e. had the
strongest association given the model so far (NZ study, para 144).

Quasi-separation (a level where every child has the same outcome) makes the likelihood
maximum lie at infinity: Newton's method does not converge and the standard error explodes.
A candidate whose entry causes that is skipped, excluded from later steps and noted in the
history; no ridge penalty is added, so every reported coefficient is a plain maximum-
likelihood estimate. A fit that fails without a candidate to blame raises
`StepwiseFitError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import chi2

from cmi_assets.prm.design import VariableSpec, as_polars, infer_variable_specs, outcome_array, variable_block
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.scoring import LogisticScorer, scorer_from_fit
from cmi_assets.prm.threads import DEFAULT_NATIVE_THREADS, native_threads

ENTER = "enter"
REMOVE = "remove"
SKIP = "skip"

# A log-odds standard error above this means the coefficient is not identified (quasi-
# separation); genuine estimates in cohort data are well below 10.
MAX_IDENTIFIED_STD_ERROR = 1_000.0


class StepwiseFitError(RuntimeError):
    """A logistic fit that could not be estimated (separation or a singular information matrix)."""


@dataclass(frozen=True)
class StepRecord:
    """One line of the step history. `step` is None for skips (they change nothing)."""

    step: int | None
    action: str
    variable: str
    test: str
    chi_square: float
    df: int
    p_value: float
    variables_in_model: int
    note: str = ""


@dataclass(frozen=True)
class VariableSelection:
    """What happened to one candidate over the whole selection."""

    variable: str
    first_entry_step: int | None
    last_entry_step: int | None
    removed_step: int | None
    selected: bool
    entry_rank: int | None
    note: str = ""


@dataclass(frozen=True)
class LogitFit:
    params: np.ndarray
    standard_errors: np.ndarray
    covariance: np.ndarray
    fitted: np.ndarray
    log_likelihood: float
    result: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class StepwiseModel:
    """A fitted stepwise logistic model: the selected variables (in entry order), their
    maximum-likelihood coefficients on the training sample, and the full step history."""

    outcome: str
    candidates: tuple[VariableSpec, ...]
    selected: tuple[VariableSpec, ...]
    column_names: tuple[str, ...]
    coefficients: np.ndarray
    standard_errors: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    history: tuple[StepRecord, ...]
    selections: tuple[VariableSelection, ...]
    entry: float
    stay: float
    n_obs: int
    n_events: int
    stop_reason: str
    fit_result: Any = field(default=None, repr=False, compare=False)

    @property
    def selected_names(self) -> list[str]:
        return [spec.name for spec in self.selected]

    @property
    def entry_ranks(self) -> dict[str, int]:
        """Variable -> entry rank (1 = entered first) for the variables in the final model."""
        return {s.variable: s.entry_rank for s in self.selections if s.selected}

    @property
    def coefficient_by_column(self) -> dict[str, float]:
        return dict(zip(self.column_names, (float(b) for b in self.coefficients)))

    def scorer(self, prior_correction: PriorCorrection | None = None) -> LogisticScorer:
        return scorer_from_fit(self.selected, self.column_names, self.coefficients).with_prior_correction(
            prior_correction
        )

    def predict_proba(self, frame: Any, prior_correction: PriorCorrection | None = None) -> np.ndarray:
        return self.scorer(prior_correction).predict_proba(frame)

    def coefficient_table(self) -> pl.DataFrame:
        """Coefficient, standard error, Wald z and p, and odds ratio per design column."""
        owner = {"intercept": "intercept"} | {c: spec.name for spec in self.selected for c in spec.columns}
        z = self.coefficients / self.standard_errors
        return pl.DataFrame(
            {
                "column": list(self.column_names),
                "variable": [owner[c] for c in self.column_names],
                "coefficient": self.coefficients,
                "std_error": self.standard_errors,
                "z": z,
                "p_value": chi2.sf(z**2, 1),
                "odds_ratio": np.exp(self.coefficients),
            }
        )

    def history_table(self) -> pl.DataFrame:
        return pl.DataFrame([vars(r) for r in self.history], schema=_HISTORY_SCHEMA, orient="row")

    def selection_table(self) -> pl.DataFrame:
        return pl.DataFrame([vars(s) for s in self.selections], schema=_SELECTION_SCHEMA, orient="row")


_HISTORY_SCHEMA = {
    "step": pl.Int64,
    "action": pl.String,
    "variable": pl.String,
    "test": pl.String,
    "chi_square": pl.Float64,
    "df": pl.Int64,
    "p_value": pl.Float64,
    "variables_in_model": pl.Int64,
    "note": pl.String,
}
_SELECTION_SCHEMA = {
    "variable": pl.String,
    "first_entry_step": pl.Int64,
    "last_entry_step": pl.Int64,
    "removed_step": pl.Int64,
    "selected": pl.Boolean,
    "entry_rank": pl.Int64,
    "note": pl.String,
}


def fit_logit(y: np.ndarray, X: np.ndarray, max_iterations: int = 100) -> LogitFit:
    """Maximum-likelihood logistic fit (statsmodels Logit, Newton-Raphson). Raises
    `StepwiseFitError` when the estimates are not identified (separation, singular
    information): non-convergence, non-finite values or a standard error above
    MAX_IDENTIFIED_STD_ERROR."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    # Rank is checked by the score tests and by the identification checks below.
    model = sm.Logit(y, X, check_rank=False)
    with warnings.catch_warnings():
        # Non-convergence and separation warnings are turned into StepwiseFitError below.
        warnings.simplefilter("ignore")
        try:
            result = model.fit(method="newton", maxiter=max_iterations, tol=1e-10, disp=0)
            covariance = np.asarray(result.cov_params())
        except PerfectSeparationError as error:
            raise StepwiseFitError("logistic fit failed: perfect separation") from error
        except (np.linalg.LinAlgError, ValueError) as error:
            raise StepwiseFitError(f"logistic fit failed: {type(error).__name__}") from error
    params = np.asarray(result.params, dtype=float)
    variances = np.diag(covariance)
    standard_errors = np.sqrt(variances) if np.all(variances >= 0) else np.full(len(params), np.nan)
    if not result.mle_retvals.get("converged", False):
        raise StepwiseFitError("logistic fit did not converge (quasi-separation suspected)")
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(standard_errors))):
        raise StepwiseFitError("logistic fit gave non-finite estimates (singular information matrix)")
    if np.max(standard_errors) > MAX_IDENTIFIED_STD_ERROR:
        raise StepwiseFitError("logistic fit has an unidentified coefficient (quasi-separation)")
    return LogitFit(params, standard_errors, covariance, np.asarray(result.predict(X)), float(result.llf), result)


def score_tests(
    y: np.ndarray, X: np.ndarray, fitted: np.ndarray, candidates: Mapping[str, np.ndarray]
) -> dict[str, tuple[float, int]]:
    """Rao score chi-square, with its df, for adding each candidate block Z to a logistic
    model with design X and fitted probabilities `fitted`:
    U' (Z'WZ - Z'WX (X'WX)^-1 X'WZ)^-1 U with U = Z'(y - fitted), W = diag(p(1-p)).
    A block collinear with X (singular efficient information) gets a nan statistic."""
    root_w = np.sqrt(fitted * (1.0 - fitted))[:, None]
    q, _ = np.linalg.qr(X * root_w)  # one factorisation per step, shared by all candidates
    residual_y = y - fitted
    out = {}
    for name, Z in candidates.items():
        zw = Z * root_w
        residual = zw - q @ (q.T @ zw)
        information = residual.T @ residual
        score = Z.T @ residual_y
        scale = max(float(np.max(np.einsum("ij,ij->j", zw, zw))), 1e-300)
        if np.linalg.eigvalsh(information).min() <= 1e-10 * scale:
            out[name] = (float("nan"), Z.shape[1])
        else:
            out[name] = (float(score @ np.linalg.solve(information, score)), Z.shape[1])
    return out


def wald_test(params: np.ndarray, covariance: np.ndarray, positions: Sequence[int]) -> tuple[float, int]:
    """Wald chi-square that the coefficients at `positions` are all zero."""
    index = np.asarray(positions)
    b = params[index]
    return float(b @ np.linalg.solve(covariance[np.ix_(index, index)], b)), len(index)


def stepwise_logistic(
    frame: Any,
    outcome: str,
    candidates: Sequence[str],
    *,
    entry: float = 1.0,
    stay: float = 0.02,
    references: Mapping[str, str] | None = None,
    categorical: Sequence[str] = (),
    max_steps: int | None = None,
    n_threads: int | None = DEFAULT_NATIVE_THREADS,
) -> StepwiseModel:
    """Select and fit a logistic model of `outcome` (0/1) on `candidates` by SAS-style
    stepwise selection. Defaults are the NZ study's levels (Figure 3 note 1). `references`
    sets the reference level of categorical variables (default: the most frequent level).
    `max_steps` defaults to SAS's MAXSTEP, twice the number of candidates. `n_threads`
    limits native BLAS threads (threads.py)."""
    if not (0.0 < entry <= 1.0 and 0.0 < stay <= 1.0):
        raise ValueError("entry and stay levels must lie in (0, 1]")
    with native_threads(n_threads):
        return _stepwise(frame, outcome, candidates, entry, stay, references, categorical, max_steps)


def _stepwise(
    frame: Any,
    outcome: str,
    candidates: Sequence[str],
    entry: float,
    stay: float,
    references: Mapping[str, str] | None,
    categorical: Sequence[str],
    max_steps: int | None,
) -> StepwiseModel:
    data = as_polars(frame)
    y = outcome_array(data[outcome], outcome)
    if y.min() == y.max():
        raise ValueError(f"outcome {outcome!r} has only one value; nothing to model")
    specs = infer_variable_specs(data, candidates, references, categorical)
    by_name = {spec.name: spec for spec in specs}
    blocks = {spec.name: variable_block(data, spec) for spec in specs}
    max_steps = 2 * len(specs) if max_steps is None else max_steps

    def design(names: Sequence[str]) -> np.ndarray:
        return np.hstack([np.ones((len(y), 1)), *(blocks[n] for n in names)])

    def positions(names: Sequence[str]) -> dict[str, list[int]]:
        out, start = {}, 1
        for n in names:
            width = by_name[n].degrees_of_freedom
            out[n] = list(range(start, start + width))
            start += width
        return out

    in_model: list[str] = []
    current = fit_logit(y, design(in_model))
    history: list[StepRecord] = []
    excluded: dict[str, str] = {}
    entries: dict[str, list[int]] = {n: [] for n in by_name}
    removals: dict[str, list[int]] = {n: [] for n in by_name}
    visited = {frozenset()}
    step = 0
    stop_reason = ""

    while True:
        if step >= max_steps:
            stop_reason = f"reached the maximum of {max_steps} steps"
            break
        X = design(in_model)
        outside = {n: blocks[n] for n in by_name if n not in in_model and n not in excluded}
        # Rank on log p-values: strong markers' p-values underflow to 0 and would tie.
        ranked = sorted(
            (float(chi2.logsf(statistic, df)), -statistic, name, df)
            for name, (statistic, df) in score_tests(y, X, current.fitted, outside).items()
            if np.isfinite(statistic)
        )
        entered = None
        for log_p, negative_statistic, name, df in ranked:
            if not log_p < np.log(entry):
                break
            trial = in_model + [name]
            record = partial(
                StepRecord, variable=name, test="score", chi_square=-negative_statistic, df=df, p_value=np.exp(log_p)
            )
            try:
                fit = fit_logit(y, design(trial))
            except StepwiseFitError as error:
                excluded[name] = str(error)
                history.append(record(step=None, action=SKIP, variables_in_model=len(in_model), note=str(error)))
                continue
            step += 1
            in_model, current, entered = trial, fit, name
            entries[name].append(step)
            history.append(record(step=step, action=ENTER, variables_in_model=len(in_model)))
            break
        if entered is None:
            if not ranked:
                stop_reason = "no candidate left to enter"
            elif ranked[0][0] < np.log(entry):
                stop_reason = "no candidate meets the entry level once quasi-separated ones are skipped"
            else:
                stop_reason = "no candidate meets the entry level"
            break
        while in_model and step < max_steps:
            tests = [
                (*wald_test(current.params, current.covariance, cols), name)
                for name, cols in positions(in_model).items()
            ]
            statistic, df, name = max(tests, key=lambda t: (chi2.logsf(t[0], t[1]), -t[0]))
            p_value = float(chi2.sf(statistic, df))
            if not p_value > stay:
                break
            step += 1
            in_model = [n for n in in_model if n != name]
            removals[name].append(step)
            current = fit_logit(y, design(in_model))
            history.append(StepRecord(step, REMOVE, name, "wald", statistic, df, p_value, len(in_model)))
        state = frozenset(in_model)
        if state in visited:
            stop_reason = "model identical to one visited before (cycling)"
            break
        visited.add(state)

    selections = _variable_selections(by_name, in_model, entries, removals, excluded)
    column_names = ("intercept", *(c for n in in_model for c in by_name[n].columns))
    return StepwiseModel(
        outcome=outcome,
        candidates=tuple(specs),
        selected=tuple(by_name[n] for n in in_model),
        column_names=column_names,
        coefficients=current.params,
        standard_errors=current.standard_errors,
        covariance=current.covariance,
        log_likelihood=current.log_likelihood,
        history=tuple(history),
        selections=selections,
        entry=entry,
        stay=stay,
        n_obs=len(y),
        n_events=int(y.sum()),
        stop_reason=stop_reason,
        fit_result=current.result,
    )


def _variable_selections(
    by_name: Mapping[str, VariableSpec],
    in_model: Sequence[str],
    entries: Mapping[str, list[int]],
    removals: Mapping[str, list[int]],
    excluded: Mapping[str, str],
) -> tuple[VariableSelection, ...]:
    order = sorted(in_model, key=lambda n: entries[n][-1])
    rank = {name: i + 1 for i, name in enumerate(order)}
    out = []
    for name in by_name:
        out.append(
            VariableSelection(
                variable=name,
                first_entry_step=entries[name][0] if entries[name] else None,
                last_entry_step=entries[name][-1] if entries[name] else None,
                removed_step=removals[name][-1] if removals[name] and name not in in_model else None,
                selected=name in in_model,
                entry_rank=rank.get(name),
                note=excluded.get(name, ""),
            )
        )
    return tuple(out)
