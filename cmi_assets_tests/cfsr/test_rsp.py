"""Risk-standardized performance (CFSR R4 rules, section 4): the random-intercept
logistic fit against brute-force likelihood maximisation on a tiny case and against
statsmodels' GLM when states do not differ; RSP, intervals and status by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from cmi_assets.cfsr.recurrence import CHILD_FILE_SCHEMA, observed_recurrence
from cmi_assets.cfsr.rsp import (
    CellDesign,
    ConditionalVarianceInterval,
    ParametricBootstrapInterval,
    PoissonLogInterval,
    RandomInterceptFit,
    RSPOptions,
    fit_random_intercept_logit,
    marginal_loglik,
    risk_standardized_performance,
    rsp_from_fit,
    rsp_status,
)

NP = 0.097

TINY = pl.DataFrame(
    [
        ("S1", "a", 40, 3),
        ("S1", "b", 25, 6),
        ("S2", "a", 30, 9),
        ("S2", "b", 20, 9),
        ("S3", "a", 50, 2),
        ("S3", "b", 10, 1),
        ("S4", "a", 35, 7),
        ("S4", "b", 30, 11),
    ],
    schema=["state", "age_group", "n", "o"],
    orient="row",
)


def dense_grid_loglik(cells: pl.DataFrame, alpha: float, beta_b: float, sigma: float) -> float:
    """Independent marginal log-likelihood: each state's integral over u on a dense
    grid (Riemann sum, step 0.001) instead of quadrature."""
    grid = np.arange(-6.0, 6.0, 0.001)
    step = grid[1] - grid[0]
    total = 0.0
    for state in cells["state"].unique().to_list():
        log_integrand = -0.5 * np.log(2 * np.pi * sigma**2) - grid**2 / (2 * sigma**2)
        for _, group, n, o in cells.filter(pl.col("state") == state).iter_rows():
            eta = alpha + (beta_b if group == "b" else 0.0) + grid
            log_integrand = log_integrand + o * -np.logaddexp(0, -eta) + (n - o) * -np.logaddexp(0, eta)
        total += float(logsumexp(log_integrand) + np.log(step))
    return total


def test_adaptive_quadrature_likelihood_matches_dense_integration():
    design = CellDesign.from_cells(TINY, ["a", "b"])
    for alpha, beta_b, sigma in [(-1.5, 0.6, 0.5), (-2.0, 1.0, 1.2), (-1.0, 0.0, 0.1)]:
        ghq = marginal_loglik(design, alpha, np.array([beta_b]), sigma, n_quadrature=15)
        assert ghq == pytest.approx(dense_grid_loglik(TINY, alpha, beta_b, sigma), abs=1e-6)


def test_fit_matches_brute_force_maximisation_on_a_tiny_case():
    fit = fit_random_intercept_logit(TINY, ["a", "b"])

    def negative(theta):
        return -dense_grid_loglik(TINY, theta[0], theta[1], math.exp(theta[2]))

    brute = minimize(
        negative, x0=[0.0, 0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000}
    )
    assert brute.success
    assert fit.converged
    assert fit.alpha == pytest.approx(brute.x[0], abs=2e-3)
    assert fit.beta["b"] == pytest.approx(brute.x[1], abs=2e-3)
    assert fit.beta["a"] == 0.0
    assert fit.sigma == pytest.approx(math.exp(brute.x[2]), abs=2e-3)
    assert fit.loglik == pytest.approx(-brute.fun, abs=1e-6)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
def test_fit_agrees_with_statsmodels_glm_when_states_do_not_differ():
    import statsmodels.api as sm

    # Every state has the same rates in both groups: sigma goes to its lower bound and
    # the fixed effects are the ordinary logistic regression's.
    cells = pl.DataFrame(
        [(f"S{s}", g, 200, o) for s in range(6) for g, o in (("a", 20), ("b", 50))],
        schema=["state", "age_group", "n", "o"],
        orient="row",
    )
    fit = fit_random_intercept_logit(cells, ["a", "b"])
    endog = np.column_stack([cells["o"].to_numpy(), (cells["n"] - cells["o"]).to_numpy()])
    exog = sm.add_constant((cells["age_group"] == "b").cast(pl.Float64).to_numpy())
    glm = sm.GLM(endog, exog, family=sm.families.Binomial()).fit()
    assert fit.sigma < 1e-2
    assert fit.alpha == pytest.approx(glm.params[0], abs=1e-3)
    assert fit.beta["b"] == pytest.approx(glm.params[1], abs=1e-3)


def test_fit_recovers_simulated_parameters():
    rng = np.random.default_rng(5)
    alpha, beta_b, sigma = -2.3, 0.4, 0.5
    rows = []
    for s in range(60):
        u = rng.normal(0, sigma)
        for group, b in (("a", 0.0), ("b", beta_b)):
            n = 3000
            rows.append((f"S{s:02d}", group, n, int(rng.binomial(n, 1 / (1 + math.exp(-(alpha + b + u)))))))
    fit = fit_random_intercept_logit(pl.DataFrame(rows, schema=["state", "age_group", "n", "o"], orient="row"))
    assert fit.beta["b"] == pytest.approx(beta_b, abs=0.05)
    assert fit.sigma == pytest.approx(sigma, rel=0.25)
    assert fit.alpha == pytest.approx(alpha, abs=0.2)


# --- RSP, intervals and status by hand ---------------------------------------------------


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


HAND_FIT = RandomInterceptFit(
    alpha=logit(0.1),
    beta={"a": 0.0, "b": logit(0.2) - logit(0.1)},
    sigma=0.5,
    loglik=float("nan"),
    state_effects=pl.DataFrame({"state": ["S1", "S2"], "u_mode": [0.2, -0.3], "u_sd": [0.1, 0.2]}),
    converged=True,
    n_quadrature=15,
)
HAND_CELLS = pl.DataFrame(
    [("S1", "a", 100, 15), ("S1", "b", 50, 12), ("S2", "a", 200, 10), ("S2", "b", 100, 10)],
    schema=["state", "age_group", "n", "o"],
    orient="row",
)


def hand_row(options: RSPOptions, state: str) -> dict:
    return rsp_from_fit(HAND_CELLS, HAND_FIT, options).filter(pl.col("state") == state).row(0, named=True)


def test_rsp_is_observed_over_expected_times_np_with_log_binomial_interval():
    s1 = hand_row(RSPOptions(), "S1")
    # E = 100 x 0.1 + 50 x 0.2 = 20; O = 27; RSP = 27 / 20 x 9.7%.
    assert (s1["O"], s1["E"]) == (27, pytest.approx(20.0))
    assert s1["rsp"] == pytest.approx(27 / 20 * NP)
    se = math.sqrt(27 * (1 - 27 / 150)) / 27
    assert s1["lower"] == pytest.approx(27 / 20 * NP * math.exp(-1.959964 * se))
    assert s1["upper"] == pytest.approx(27 / 20 * NP * math.exp(1.959964 * se))
    # 13.1%, but with O = 27 the interval (9.3%, 18.4%) still contains 9.7%.
    assert (round(s1["lower"], 3), round(s1["upper"], 3), s1["status"]) == (0.093, 0.184, "no different")
    s2 = hand_row(RSPOptions(), "S2")
    assert s2["rsp"] == pytest.approx(20 / 40 * NP) and s2["status"] == "better"


def test_predicted_over_expected_option_uses_the_state_effect():
    s1 = hand_row(RSPOptions(formula="P/E"), "S1")
    predicted = 100 * expit(logit(0.1) + 0.2) + 50 * expit(logit(0.2) + 0.2)
    assert s1["P"] == pytest.approx(predicted)
    assert s1["rsp"] == pytest.approx(predicted / 20 * NP)


def test_poisson_and_condvar_intervals():
    s1 = hand_row(RSPOptions(interval=PoissonLogInterval()), "S1")
    rsp = 27 / 20 * NP
    assert (s1["lower"], s1["upper"]) == (
        pytest.approx(rsp * math.exp(-1.959964 / math.sqrt(27))),
        pytest.approx(rsp * math.exp(1.959964 / math.sqrt(27))),
    )
    s1 = hand_row(RSPOptions(interval=ConditionalVarianceInterval()), "S1")

    def predicted(u):
        return 100 * expit(logit(0.1) + u) + 50 * expit(logit(0.2) + u)

    assert s1["lower"] == pytest.approx(rsp * predicted(0.2 - 1.959964 * 0.1) / predicted(0.2))
    assert s1["upper"] == pytest.approx(rsp * predicted(0.2 + 1.959964 * 0.1) / predicted(0.2))


def test_parametric_bootstrap_interval_brackets_rsp_and_is_reproducible():
    options = RSPOptions(interval=ParametricBootstrapInterval(n_boot=4000, seed=3))
    first, again = hand_row(options, "S1"), hand_row(options, "S1")
    assert first == again
    assert first["lower"] < first["rsp"] < first["upper"]
    # Binomial spread of O* around P, relative: close to the analytic log-binomial width.
    analytic = hand_row(RSPOptions(), "S1")
    assert (first["upper"] - first["lower"]) == pytest.approx(analytic["upper"] - analytic["lower"], rel=0.15)


@pytest.mark.parametrize(
    ("lower", "upper", "status"),
    [
        (0.05, 0.09, "better"),
        (0.098, 0.12, "worse"),
        (0.09, 0.11, "no different"),
        (0.097, 0.12, "no different"),
        (None, None, "no different"),
    ],
)
def test_status_needs_the_whole_interval_on_one_side(lower, upper, status):
    frame = pl.DataFrame({"lower": [lower], "upper": [upper]}, schema={"lower": pl.Float64, "upper": pl.Float64})
    assert frame.select(rsp_status(pl.col("lower"), pl.col("upper"), NP)).item() == status


def test_state_at_the_pooled_rate_is_worse_when_the_typical_state_is_lower():
    # Section 4.1 "practical consequence": many small low-rate states and one large
    # high-rate state put the typical state (u = 0) below the pooled rate, so a state
    # with exactly the pooled rate gets an RSP above NP.
    rows = [(f"L{i}", "a", 1000, 40 + 5 * i) for i in range(10)] + [("BIG", "a", 30000, 4500)]
    pooled = sum(r[3] for r in rows) / sum(r[2] for r in rows)
    mid_recurring = round(5000 * pooled)
    rows.append(("MID", "a", 5000, mid_recurring))
    cells = pl.DataFrame(rows, schema=["state", "age_group", "n", "o"], orient="row")
    fit = fit_random_intercept_logit(cells)
    assert expit(fit.alpha) < pooled
    mid = rsp_from_fit(cells, fit).filter(pl.col("state") == "MID").row(0, named=True)
    assert mid["rsp"] == pytest.approx(mid_recurring / (5000 * expit(fit.alpha)) * NP, rel=1e-9)
    assert mid["rsp"] > 1.1 * NP


# --- end to end from the recurrence result -------------------------------------------------


def test_risk_standardized_performance_from_observed_recurrence():
    rng = np.random.default_rng(9)
    rows = []
    for state, rate in [("AA", 0.05), ("BB", 0.10), ("CC", 0.2), ("DD", 0.1)]:
        for c in range(400):
            first = dt.date(2018, 10, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
            chage = int(rng.integers(1, 17)) if state != "DD" or c > 40 else 99  # DD fails DQ check 3
            base = {"STATERR": state, "CHID": f"{state}{c}", "CHAGE": chage, "CHSEX": "1", "MAL1LEV": "1"}
            rows.append({**base, "SUBYR": 2019, "RPTID": f"{state}{c}a", "RPTDT": first})
            if rng.random() < rate:
                rows.append(
                    {
                        **base,
                        "SUBYR": 2020,
                        "RPTID": f"{state}{c}b",
                        "RPTDT": first + dt.timedelta(days=200),
                        "CHAGE": chage if chage == 99 else chage + 1,
                    }
                )
    frame = pl.DataFrame(rows, schema=CHILD_FILE_SCHEMA)
    recurrence = observed_recurrence(frame.filter(pl.col("SUBYR") == 2019), frame.filter(pl.col("SUBYR") == 2020), 2019)
    result = risk_standardized_performance(recurrence)
    table = {r["state"]: r for r in result.by_state.iter_rows(named=True)}
    assert table["DD"]["status"] == "DQ" and table["DD"]["rsp"] is None and table["DD"]["observed"] is None
    assert set(result.fit.state_effects["state"]) == {"AA", "BB", "CC"}  # DQ state left out of the model
    for state in ("AA", "BB", "CC"):
        row = table[state]
        assert row["rsp"] == pytest.approx(row["numerator"] / row["E"] * NP)
    assert table["AA"]["rsp"] < table["BB"]["rsp"] < table["CC"]["rsp"]
    assert table["CC"]["status"] == "worse"
    with_dq = risk_standardized_performance(recurrence, RSPOptions(model_states="all"))
    assert set(with_dq.fit.state_effects["state"]) == {"AA", "BB", "CC", "DD"}
    assert with_dq.by_state.filter(pl.col("state") == "DD")["rsp"].item() is None
