"""A second model family beside stepwise logistic regression.

The NZ study found "a range of alternative modelling approaches ... to have as good
predictive performance" (para 59). Two are offered, fitted on the same training set and
the same design columns as the stepwise model:

- "elastic_net": logistic regression with an elastic-net penalty, strength and mixing
  chosen by stratified 5-fold cross-validation on log-loss (scikit-learn LogisticRegressionCV,
  saga solver, standardised columns);
- "gradient_boosting": scikit-learn HistGradientBoostingClassifier with early stopping.

Both are fitted on the under-sampled training set, so their log-odds carry the same
sampling shift as the stepwise model; the King-Zeng prior correction (prior.py) removes it,
which keeps the validation-set comparison like for like without spending validation data
on calibration.

Small samples (few children with the outcome) are handled, not failed silently: the
elastic net uses as many CV folds as the smaller class allows (at most 5, each fold then
holds at least one child of each class) and refuses, saying why, with fewer than two
children in either class; the boosting drops early stopping unless its 20% hold-out would
keep at least two children of each class. `settings` records what was used.

Fitting and scoring run with `n_threads` native threads (default 1; see threads.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from cmi_assets.prm.design import VariableSpec, as_polars, design_matrix, infer_variable_specs, outcome_array
from cmi_assets.prm.evaluation import auc_table, delong_auc_difference
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.threads import DEFAULT_NATIVE_THREADS, native_threads

FAMILIES = ("elastic_net", "gradient_boosting")
CV_FOLDS = 5
MIN_CLASS_FOR_CV = 2  # two folds, each with a child of each class
EARLY_STOPPING_VALIDATION_FRACTION = 0.2
MIN_CLASS_FOR_EARLY_STOPPING = 10  # 20% of 10 = 2 of the smaller class in the hold-out


class AlternativeFitError(ValueError):
    """The sample is too small for the chosen family; the message says why."""


@dataclass(frozen=True)
class AlternativeModel:
    family: str
    variables: tuple[VariableSpec, ...]
    estimator: Any = field(repr=False)
    prior_correction: PriorCorrection | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    n_threads: int | None = DEFAULT_NATIVE_THREADS

    def sample_log_odds(self, frame: Any) -> np.ndarray:
        X, _ = design_matrix(frame, self.variables, intercept=False)
        with native_threads(self.n_threads):
            return np.asarray(self.estimator.decision_function(X), dtype=float)

    def predict_proba(self, frame: Any) -> np.ndarray:
        eta = self.sample_log_odds(frame)
        return expit(self.prior_correction.corrected_log_odds(eta) if self.prior_correction else eta)


def fit_alternative_model(
    train: Any,
    outcome: str,
    candidates: Sequence[str],
    rng: np.random.Generator,
    family: str = "elastic_net",
    prior_correction: PriorCorrection | None = None,
    references: Mapping[str, str] | None = None,
    categorical: Sequence[str] = (),
    l1_ratios: Sequence[float] = (0.5, 1.0),
    n_threads: int | None = DEFAULT_NATIVE_THREADS,
) -> AlternativeModel:
    """Fit the chosen family on all `candidates` (no stepwise selection: the penalty or the
    trees do the selecting). `rng` seeds the CV folds and the boosting's internal split."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    data = as_polars(train)
    y = outcome_array(data[outcome], outcome).astype(int)
    smaller_class = int(min(y.sum(), len(y) - y.sum()))
    if smaller_class == 0:
        raise AlternativeFitError(f"{family}: {outcome} takes one value only in the training set; nothing to fit")
    if family == "elastic_net" and smaller_class < MIN_CLASS_FOR_CV:
        raise AlternativeFitError(
            f"elastic_net: cross-validation needs at least {MIN_CLASS_FOR_CV} training children in each outcome "
            f"class; the smaller class has {smaller_class}"
        )
    specs = infer_variable_specs(data, candidates, references, categorical)
    X, _ = design_matrix(data, specs, intercept=False)
    seed = int(rng.integers(0, 2**31 - 1))
    with native_threads(n_threads):
        if family == "elastic_net":
            estimator, settings = _fit_elastic_net(X, y, seed, l1_ratios, folds=min(CV_FOLDS, smaller_class))
        else:
            estimator, settings = _fit_gradient_boosting(X, y, seed, smaller_class >= MIN_CLASS_FOR_EARLY_STOPPING)
    return AlternativeModel(family, tuple(specs), estimator, prior_correction, settings, n_threads)


def _fit_elastic_net(X: np.ndarray, y: np.ndarray, seed: int, l1_ratios: Sequence[float], folds: int = CV_FOLDS):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegressionCV(
        Cs=10,
        l1_ratios=tuple(l1_ratios),
        solver="saga",
        scoring="neg_log_loss",
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        max_iter=5000,
        use_legacy_attributes=False,
        random_state=seed,
    )
    pipeline = make_pipeline(StandardScaler(), model).fit(X, y)
    fitted = pipeline[-1]
    n_nonzero = int(np.count_nonzero(fitted.coef_))
    settings = {"C": float(fitted.C_), "l1_ratio": float(fitted.l1_ratio_), "nonzero_coefficients": n_nonzero}
    return pipeline, {**settings, "cv_folds": folds}


def _fit_gradient_boosting(X: np.ndarray, y: np.ndarray, seed: int, early_stopping: bool = True):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        early_stopping=early_stopping,
        validation_fraction=EARLY_STOPPING_VALIDATION_FRACTION,
        n_iter_no_change=20,
        random_state=seed,
    ).fit(X, y)
    return model, {"n_iterations": int(model.n_iter_), "early_stopping": early_stopping}


def compare_on_validation(validation: Any, outcome: str, models: Mapping[str, Any]) -> pl.DataFrame:
    """AUC with DeLong interval of each model (anything with `predict_proba(frame)`) on one
    validation set, and the paired DeLong test of each against the first model listed."""
    data = as_polars(validation)
    y = outcome_array(data[outcome], outcome)
    scores = {name: model.predict_proba(data) for name, model in models.items()}
    table = auc_table(y, scores)
    first = next(iter(scores))
    p_values = [
        None if name == first else delong_auc_difference(y, scores[name], scores[first])["p_value"] for name in scores
    ]
    return table.with_columns(pl.Series(f"p_value_vs_{first}", p_values, dtype=pl.Float64))
