"""Risk-standardized performance (RSP) for CFSR Round 4 recurrence of maltreatment
(CFSR R4 rules, section 4).

Model (section 4.1): over the children in the denominator of all model states,
    logit P(recur_ij = 1) = alpha + beta[agegrp_ij] + u_j,   u_j ~ N(0, sigma^2),
fitted by maximum likelihood. Children of one state and age group share a linear
predictor, so the likelihood is computed on state x age-group cells (n, o), and each
state's integral over u_j uses adaptive Gauss-Hermite quadrature (nodes centred at the
conditional mode of u_j and scaled by its curvature, as lme4/Stata do).

    E_j = sum_i expit(alpha + beta_i)           (u_j = 0)
    P_j = sum_i expit(alpha + beta_i + u_j^)    (u_j^ = conditional mode)
    RSP_j = O_j / E_j x NP (default) or P_j / E_j x NP, NP = 9.7%.

Intervals are strategies (section 4.2): log-scale binomial (default), Poisson-log,
lme4 condVar-like, parametric bootstrap. Status for a lower-is-better indicator:
upper < NP "better", lower > NP "worse", otherwise "no different"; a DQ state-period
is "DQ" with no RSP.

(Unconfirmed, section 4.1 open questions) The model is refitted for each period on the
children of DQ-passing states (`model_states="all"` to include DQ states' children).
A state with exactly the pooled rate gets an RSP above NP when the typical state
(u = 0) sits below the pooled rate: that is the published behaviour, not a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

from cmi_assets.cfsr.ages import age_group_labels
from cmi_assets.cfsr.recurrence import NATIONAL_PERFORMANCE, RecurrenceResult
from cmi_assets.reference.random_streams import component_rng

LOG_SIGMA_BOUNDS = (-12.0, 3.0)


# --- cells ---------------------------------------------------------------------------


def age_state_cells(audit: pl.DataFrame, states: list[str] | None = None) -> pl.DataFrame:
    """state, age_group, n (children in the denominator), o (of them, recurring)."""
    children = audit.filter(pl.col("in_denominator"))
    if states is not None:
        children = children.filter(pl.col("STATERR").is_in(states))
    return (
        children.group_by(pl.col("STATERR").alias("state"), "age_group")
        .agg(n=pl.len().cast(pl.Int64), o=pl.col("recur").sum().cast(pl.Int64))
        .sort("state", "age_group")
    )


# --- the random-intercept logistic model ----------------------------------------------


@dataclass
class CellDesign:
    """Cells sorted by state, as integer arrays for the likelihood."""

    states: list[str]
    groups: list[str]  # groups[0] is the reference level
    state_index: np.ndarray
    group_index: np.ndarray
    n: np.ndarray
    o: np.ndarray
    state_starts: np.ndarray  # first cell of each state (for np.add.reduceat)

    @classmethod
    def from_cells(cls, cells: pl.DataFrame, groups: list[str] | None = None) -> CellDesign:
        cells = cells.filter(pl.col("n") > 0).sort("state", "age_group")
        present = set(cells["age_group"].unique().to_list())
        groups = [g for g in (groups or sorted(present)) if g in present]
        states = sorted(set(cells["state"].to_list()))
        state_index = cells["state"].replace_strict(states, list(range(len(states)))).to_numpy()
        group_index = cells["age_group"].replace_strict(groups, list(range(len(groups)))).to_numpy()
        starts = np.flatnonzero(np.r_[True, state_index[1:] != state_index[:-1]])
        return cls(
            states,
            groups,
            state_index,
            group_index,
            cells["n"].to_numpy().astype(float),
            cells["o"].to_numpy().astype(float),
            starts,
        )

    def linear_predictor(self, alpha: float, beta: np.ndarray) -> np.ndarray:
        """alpha + beta[group] per cell; beta[0] = 0 for the reference group."""
        return alpha + np.r_[0.0, beta][self.group_index]


def _cell_loglik(eta: np.ndarray, n: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood kernel o log p + (n - o) log(1 - p), p = expit(eta)."""
    return -o * np.logaddexp(0.0, -eta) - (n - o) * np.logaddexp(0.0, eta)


def conditional_modes(
    design: CellDesign, eta: np.ndarray, sigma: float, iterations: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Per state, the mode of log f(o | u) + log phi(u; sigma) and the conditional SD
    (1 / sqrt(-second derivative)) by Newton steps, all states at once."""
    u = np.zeros(len(design.states))
    starts = design.state_starts
    for _ in range(iterations):
        p = expit(eta + u[design.state_index])
        gradient = np.add.reduceat(design.o - design.n * p, starts) - u / sigma**2
        curvature = np.add.reduceat(design.n * p * (1 - p), starts) + 1 / sigma**2
        step = np.clip(gradient / curvature, -5.0, 5.0)
        u += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = expit(eta + u[design.state_index])
    curvature = np.add.reduceat(design.n * p * (1 - p), starts) + 1 / sigma**2
    return u, 1 / np.sqrt(curvature)


def marginal_loglik(design: CellDesign, alpha: float, beta: np.ndarray, sigma: float, n_quadrature: int = 15) -> float:
    """Sum over states of log integral f(o_j | u) phi(u; sigma) du by adaptive
    Gauss-Hermite quadrature (binomial coefficients omitted: constant in the parameters)."""
    eta = design.linear_predictor(alpha, beta)
    mode, sd = conditional_modes(design, eta, sigma)
    nodes, weights = np.polynomial.hermite.hermgauss(n_quadrature)
    u = mode[:, None] + np.sqrt(2.0) * sd[:, None] * nodes[None, :]  # states x nodes
    cell_ll = _cell_loglik(eta[:, None] + u[design.state_index], design.n[:, None], design.o[:, None])
    state_ll = np.add.reduceat(cell_ll, design.state_starts, axis=0)
    log_prior = -0.5 * np.log(2 * np.pi * sigma**2) - u**2 / (2 * sigma**2)
    log_integrand = state_ll + log_prior + nodes[None, :] ** 2 + np.log(weights)[None, :]
    return float(np.sum(np.log(np.sqrt(2.0) * sd) + logsumexp(log_integrand, axis=1)))


@dataclass
class RandomInterceptFit:
    alpha: float
    beta: dict[str, float]  # age group -> effect; the reference group has 0
    sigma: float
    loglik: float
    state_effects: pl.DataFrame  # state, u_mode, u_sd
    converged: bool
    n_quadrature: int


def fit_random_intercept_logit(
    cells: pl.DataFrame, groups: list[str] | None = None, n_quadrature: int = 15
) -> RandomInterceptFit:
    """Maximum likelihood for alpha, beta (age groups; `groups[0]` the reference) and
    sigma, by L-BFGS-B on (alpha, beta, log sigma) with adaptive Gauss-Hermite
    quadrature. Starting values: the pooled logit per group and sigma = 0.3."""
    design = CellDesign.from_cells(cells, groups)
    n_groups = len(design.groups)
    pooled = np.bincount(design.group_index, design.o, n_groups) / np.bincount(design.group_index, design.n, n_groups)
    pooled_logit = np.log(np.clip(pooled, 1e-4, 1 - 1e-4) / (1 - np.clip(pooled, 1e-4, 1 - 1e-4)))
    start = np.r_[pooled_logit[0], pooled_logit[1:] - pooled_logit[0], np.log(0.3)]

    def negative_loglik(theta: np.ndarray) -> float:
        return -marginal_loglik(design, theta[0], theta[1:-1], float(np.exp(theta[-1])), n_quadrature)

    bounds = [(None, None)] * n_groups + [LOG_SIGMA_BOUNDS]
    best = minimize(negative_loglik, start, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    alpha, beta, sigma = best.x[0], best.x[1:-1], float(np.exp(best.x[-1]))
    mode, sd = conditional_modes(design, design.linear_predictor(alpha, beta), sigma)
    return RandomInterceptFit(
        alpha=float(alpha),
        beta={group: float(b) for group, b in zip(design.groups, np.r_[0.0, beta])},
        sigma=sigma,
        loglik=-float(best.fun),
        state_effects=pl.DataFrame({"state": design.states, "u_mode": mode, "u_sd": sd}),
        converged=bool(best.success),
        n_quadrature=n_quadrature,
    )


# --- interval strategies (section 4.2) --------------------------------------------------


class IntervalStrategy(Protocol):
    def bounds(self, states: pl.DataFrame, fit: RandomInterceptFit, cells: pl.DataFrame) -> pl.DataFrame:
        """states has state, rsp, O, n, E, P (and u_mode, u_sd); returns state, lower, upper."""
        ...


@dataclass(frozen=True)
class LogBinomialInterval:
    """Default: RSP x exp(+-z SE), SE = sqrt(sum p(1-p)) / O with p = O/n, E held fixed
    (reproduced 7 of 8 published MD/KY recurrence periods to 3 dp)."""

    z: float = 1.959964

    def bounds(self, states, fit, cells):
        se = (pl.col("O") * (1 - pl.col("O") / pl.col("n"))).sqrt() / pl.col("O")
        return _log_scale(states, se, self.z)


@dataclass(frozen=True)
class PoissonLogInterval:
    """RSP x exp(+-z / sqrt(O)) (matches published maltreatment-in-care intervals)."""

    z: float = 1.959964

    def bounds(self, states, fit, cells):
        return _log_scale(states, 1 / pl.col("O").sqrt(), self.z)


@dataclass(frozen=True)
class ConditionalVarianceInterval:
    """lme4 condVar-like: u_j at its mode +- z x conditional SD, carried through P_j and
    applied to the RSP as a ratio P(u +- z sd) / P(u)."""

    z: float = 1.959964

    def bounds(self, states, fit, cells):
        low = _predicted_count(states, fit, cells, -self.z)
        high = _predicted_count(states, fit, cells, self.z)
        return states.select(
            "state",
            lower=pl.col("rsp") * pl.Series(low) / pl.col("P"),
            upper=pl.col("rsp") * pl.Series(high) / pl.col("P"),
        )


@dataclass(frozen=True)
class ParametricBootstrapInterval:
    """Recurrence counts simulated from the fitted model with the state's effect,
    O* ~ sum_k Binomial(n_jk, expit(alpha + beta_k + u_j)), E held fixed; percentile
    interval of RSP x O* / P."""

    n_boot: int = 2000
    seed: int = 0
    level: float = 0.95

    def bounds(self, states, fit, cells):
        rng = component_rng(self.seed, "cfsr_rsp_bootstrap")
        cell_p = _cell_probabilities(cells, fit, with_state_effect=True)
        draws = rng.binomial(
            cell_p["n"].to_numpy()[:, None], cell_p["p"].to_numpy()[:, None], (cell_p.height, self.n_boot)
        )
        index = {state: i for i, state in enumerate(states["state"].to_list())}
        simulated = np.zeros((states.height, self.n_boot))
        np.add.at(simulated, np.array([index[s] for s in cell_p["state"].to_list()]), draws)
        ratio = simulated / states["P"].to_numpy()[:, None]
        tail = (1 - self.level) / 2
        return states.select(
            "state",
            lower=pl.col("rsp") * pl.Series(np.quantile(ratio, tail, axis=1)),
            upper=pl.col("rsp") * pl.Series(np.quantile(ratio, 1 - tail, axis=1)),
        )


def _log_scale(states: pl.DataFrame, se: pl.Expr, z: float) -> pl.DataFrame:
    se = pl.when(pl.col("O") > 0).then(se)  # no log-scale interval around a zero count
    return states.select("state", lower=pl.col("rsp") * (-z * se).exp(), upper=pl.col("rsp") * (z * se).exp())


def _cell_probabilities(cells: pl.DataFrame, fit: RandomInterceptFit, with_state_effect: bool, shift=None):
    effects = fit.state_effects
    if shift is not None:
        effects = effects.with_columns(u_mode=pl.col("u_mode") + shift * pl.col("u_sd"))
    beta = pl.DataFrame({"age_group": list(fit.beta), "beta": list(fit.beta.values())})
    frame = cells.join(beta, on="age_group").join(effects, on="state")
    eta = fit.alpha + frame["beta"].to_numpy() + (frame["u_mode"].to_numpy() if with_state_effect else 0.0)
    return frame.with_columns(p=pl.Series(expit(eta)))


def _predicted_count(states: pl.DataFrame, fit: RandomInterceptFit, cells: pl.DataFrame, shift: float) -> np.ndarray:
    shifted = _cell_probabilities(cells, fit, with_state_effect=True, shift=shift)
    per_state = shifted.group_by("state").agg(value=(pl.col("n") * pl.col("p")).sum())
    return states.select("state").join(per_state, on="state", how="left")["value"].to_numpy()


# --- RSP per state ------------------------------------------------------------------------


@dataclass(frozen=True)
class RSPOptions:
    national_performance: float = NATIONAL_PERFORMANCE
    formula: str = "O/E"  # or "P/E" (Round 3-era seed sheet formulation)
    interval: IntervalStrategy = field(default_factory=LogBinomialInterval)
    model_states: str = "dq_passing"  # or "all" (unconfirmed, section 4.1)
    n_quadrature: int = 15

    def __post_init__(self) -> None:
        if self.formula not in ("O/E", "P/E"):
            raise ValueError("formula must be 'O/E' or 'P/E'")
        if self.model_states not in ("dq_passing", "all"):
            raise ValueError("model_states must be 'dq_passing' or 'all'")


@dataclass
class RSPResult:
    by_state: pl.DataFrame  # state, period, n, O, E, P, observed, rsp, rsp_lower, rsp_upper, status
    fit: RandomInterceptFit
    cells: pl.DataFrame


def rsp_status(lower: pl.Expr, upper: pl.Expr, national_performance: float) -> pl.Expr:
    """Lower is better: the whole interval below NP is "better", above is "worse"."""
    return (
        pl.when(upper < national_performance)
        .then(pl.lit("better"))
        .when(lower > national_performance)
        .then(pl.lit("worse"))
        .otherwise(pl.lit("no different"))
    )


def rsp_from_fit(cells: pl.DataFrame, fit: RandomInterceptFit, options: RSPOptions = RSPOptions()) -> pl.DataFrame:
    """O, E, P, RSP, interval and status per state of `cells` (DQ handled by the caller)."""
    expected = _cell_probabilities(cells, fit, with_state_effect=False).rename({"p": "p_fixed"})
    predicted = _cell_probabilities(cells, fit, with_state_effect=True).select("state", "age_group", "p")
    per_state = (
        expected.join(predicted, on=["state", "age_group"])
        .group_by("state")
        .agg(
            n=pl.col("n").sum(),
            O=pl.col("o").sum(),
            E=(pl.col("n") * pl.col("p_fixed")).sum(),
            P=(pl.col("n") * pl.col("p")).sum(),
        )
        .join(fit.state_effects, on="state")
        .sort("state")
    )
    top = pl.col("O") if options.formula == "O/E" else pl.col("P")
    per_state = per_state.with_columns(rsp=top / pl.col("E") * options.national_performance)
    bounds = options.interval.bounds(per_state, fit, cells)
    return per_state.join(bounds, on="state").with_columns(
        status=rsp_status(pl.col("lower"), pl.col("upper"), options.national_performance)
    )


def risk_standardized_performance(recurrence: RecurrenceResult, options: RSPOptions = RSPOptions()) -> RSPResult:
    """Fit the model on the period's children and report RSP per state; DQ states get
    status "DQ" and no observed value or RSP."""
    by_state = recurrence.by_state
    passing = by_state.filter(pl.col("dq_status") == "pass")["state"].to_list()
    model_states = passing if options.model_states == "dq_passing" else by_state["state"].to_list()
    cells = age_state_cells(recurrence.audit, model_states)
    if cells.is_empty() or cells["n"].sum() == 0:
        raise ValueError(
            f"{recurrence.by_state['period'][0] if recurrence.by_state.height else f'FY{recurrence.fy}'}: no children in the "
            f"denominator of any {'DQ-passing ' if options.model_states == 'dq_passing' else ''}state "
            f"({len(model_states)} states), so the risk-standardized model cannot be fitted"
        )
    fit = fit_random_intercept_logit(cells, age_group_labels(recurrence.options.age_grouping), options.n_quadrature)
    per_state = rsp_from_fit(cells, fit, options)
    table = (
        by_state.select("state", "period", "denominator", "numerator", "observed", "dq_status")
        .join(per_state.select("state", "E", "P", "u_mode", "rsp", "lower", "upper", "status"), on="state", how="left")
        .rename({"lower": "rsp_lower", "upper": "rsp_upper"})
    )
    published = pl.col("dq_status") == "pass"
    table = table.with_columns(
        *[pl.when(published).then(pl.col(c)) for c in ("rsp", "rsp_lower", "rsp_upper")],
        status=pl.when(~published).then(pl.lit("DQ")).otherwise(pl.col("status")),
    )
    return RSPResult(by_state=table.sort("state"), fit=fit, cells=cells)
