"""The log-linear estimator against routes that share none of its code: the two-list
Lincoln-Petersen and Chapman estimates worked by hand, the two-list profile likelihood in
closed form, the three-list all-two-way model's closed form, a direct scipy maximisation of
a Poisson likelihood written out here, the model-averaged interval against closed-form
profiles of decomposable models mixed by hand, the selection bootstrap against a two-list
simulation written here in numpy, and Garwood intervals from published tables."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import optimize, stats

from cmi_assets.incidence.loglinear import (
    candidate_models,
    chapman_estimate,
    design_matrix,
    estimate_total,
    fit_model,
    garwood_interval,
    hierarchical_models,
    inclusion_patterns,
    mixture_interval,
    percentile_interval,
    poisson_fits,
    select_model,
)

HETEROGENEITY_FORMS = ("darroch", "poisson2", "gamma3.5")

# two lists: 60 on A, 50 on B, 20 on both (patterns 01, 10, 11)
N10, N01, N11 = 40, 30, 20


def test_two_list_independence_is_lincoln_petersen():
    fit = fit_model(np.array([N01, N10, N11]), (), ["A", "B"])
    # n1 n2 / m = 60 * 50 / 20 = 150; unobserved = n10 n01 / n11 = 40 * 30 / 20 = 60
    assert fit.total == pytest.approx(150.0, rel=1e-9)
    assert fit.unobserved == pytest.approx(60.0, rel=1e-9)
    assert fit.identifiable


def test_chapman_by_hand():
    assert chapman_estimate(60, 50, 20) == pytest.approx(61 * 51 / 21 - 1)
    assert chapman_estimate(60, 50, 20) == pytest.approx(147.142857, rel=1e-6)


def test_two_list_interaction_model_is_not_identifiable():
    fit = fit_model(np.array([N01, N10, N11]), ((0, 1),), ["A", "B"])
    assert not fit.identifiable and "parameters" in fit.reason


def _two_list_profile(total: float) -> float:
    """Multinomial log-likelihood of N for two independent lists (capture probabilities at
    their maximum n_j / N), written from the model, not from a log-linear fit."""
    n1, n2, n = N10 + N11, N01 + N11, N10 + N01 + N11
    ll = math.lgamma(total + 1) - math.lgamma(total - n + 1)
    for nj in (n1, n2):
        ll += nj * math.log(nj / total) + (total - nj) * math.log(1 - nj / total)
    return ll


def test_two_list_profile_interval_matches_the_closed_form_likelihood():
    fit = fit_model(np.array([N01, N10, N11]), (), ["A", "B"])
    best = optimize.minimize_scalar(lambda t: -_two_list_profile(t), bounds=(91, 1000), method="bounded")
    top = -best.fun
    cut = stats.chi2.ppf(0.95, 1) / 2
    lower = optimize.brentq(lambda t: top - _two_list_profile(t) - cut, 90.0001, best.x)
    upper = optimize.brentq(lambda t: top - _two_list_profile(t) - cut, best.x, 5000)
    assert fit.lower == pytest.approx(lower, rel=1e-5)
    assert fit.upper == pytest.approx(upper, rel=1e-5)
    assert fit.lower < 150 < fit.upper


# three lists, patterns 001, 010, 011, 100, 101, 110, 111
THREE = np.array([52, 61, 14, 140, 38, 71, 25], dtype=float)


def test_three_list_all_two_way_model_matches_its_closed_form():
    n001, n010, n011, n100, n101, n110, n111 = THREE
    closed = n111 * n100 * n010 * n001 / (n110 * n101 * n011)
    fit = fit_model(THREE, ((0, 1), (0, 2), (1, 2)), ["a", "b", "c"])
    assert fit.unobserved == pytest.approx(closed, rel=1e-7)
    assert fit.df == 0


def _direct_poisson_fit(counts: np.ndarray, interactions) -> float:
    """The unobserved cell of a log-linear model by maximising the Poisson log-likelihood
    with scipy (its own design, its own likelihood)."""
    pat = inclusion_patterns(3)

    def log_mu(beta):
        out = beta[0] + pat @ beta[1:4]
        for i, (a, b) in enumerate(interactions):
            out = out + beta[4 + i] * pat[:, a] * pat[:, b]
        return out

    def negative_ll(beta):
        eta = log_mu(beta)
        return float(np.exp(eta).sum() - (counts * eta).sum())

    start = np.concatenate([[math.log(counts.mean())], np.zeros(3 + len(interactions))])
    best = optimize.minimize(negative_ll, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    return float(math.exp(best.x[0]))


@pytest.mark.parametrize("interactions", [(), ((0, 1),), ((0, 1), (0, 2)), ((0, 2), (1, 2))])
def test_three_list_models_match_a_direct_scipy_maximisation(interactions):
    fit = fit_model(THREE, interactions, ["a", "b", "c"], with_interval=False)
    assert fit.unobserved == pytest.approx(_direct_poisson_fit(THREE, interactions), rel=1e-4)


def test_every_hierarchical_model_up_to_two_way():
    assert len(hierarchical_models(3)) == 8 and hierarchical_models(3)[0] == ()
    assert len(hierarchical_models(4)) == 64


def test_selection_weights_and_independence_beside():
    est = estimate_total(THREE, ["a", "b", "c"])
    usable = [f for f in est.models if f.identifiable]
    assert sum(f.weight for f in usable) == pytest.approx(1.0)
    assert est.selected.aic == min(f.aic for f in usable if f.df >= 1)
    assert est.independence.name == "independence"
    assert est.averaged_total == pytest.approx(sum(f.weight * f.total for f in usable))
    assert all(f.lower <= f.total <= f.upper for f in usable)
    best = est.selected
    for f in usable:
        assert f.weight / best.weight == pytest.approx(math.exp(-(f.aic - best.aic) / 2), rel=1e-9)
    # completeness is the share of the headline (averaged) total, not of the selected model's
    completeness = est.completeness(THREE)
    assert completeness["a"] == pytest.approx((140 + 38 + 71 + 25) / est.averaged_total)


def test_selection_passes_over_a_model_that_fits_every_cell_exactly():
    # a table on which the least-AIC identifiable model has as many parameters as cells
    counts = np.array([191, 207, 303, 380, 18, 61, 330], dtype=float)
    est = estimate_total(counts, ["a", "b", "c"])
    usable = [f for f in est.models if f.identifiable]
    least_aic = min(usable, key=lambda f: f.aic)
    assert least_aic.df == 0
    assert est.selected.df >= 1
    assert est.selected.aic == min(f.aic for f in usable if f.df >= 1)
    # the saturated model still carries its AIC weight in the headline
    assert least_aic.weight > est.selected.weight


def test_sparse_overlap_is_flagged():
    sparse = THREE.copy()
    sparse[2] = 0  # nobody on b and c but not a
    sparse[6] = 0  # nobody on all three: no child on both b and c
    est = estimate_total(sparse, ["a", "b", "c"])
    by_name = {f.name: f for f in est.models}
    assert not by_name["b*c"].identifiable and "sparse overlap" in by_name["b*c"].reason
    assert by_name["independence"].identifiable
    assert est.selected is not None and "b*c" not in est.selected.name


def test_open_interval_is_infinite():
    # a tiny overlap: the likelihood stays flat far past the estimate
    fit = fit_model(np.array([500.0, 400.0, 1.0]), (), ["A", "B"])
    assert fit.identifiable and math.isinf(fit.upper) and not fit.interval_finite


def test_garwood_interval_against_published_values():
    # exact Poisson 95% limits (e.g. Ulm 1990, Table 1): x=0 -> (0, 3.689), x=1 -> (0.0253, 5.572),
    # x=10 -> (4.795, 18.39)
    lower, upper = garwood_interval(np.array([0, 1, 10]))
    assert lower == pytest.approx([0.0, 0.02532, 4.7954], abs=1e-3)
    assert upper == pytest.approx([3.6889, 5.5716, 18.390], abs=1e-3)


# decomposable three-list models: the complete table's maximum likelihood is a ratio of its
# margins, so the profile log-likelihood of N needs no fitting at all
DECOMPOSABLE = {
    (): lambda m, x: m("a", x) * m("b", x) * m("c", x) / m("", x) ** 3,
    ((0, 1),): lambda m, x: m("ab", x) * m("c", x) / m("", x) ** 2,
    ((0, 1), (1, 2)): lambda m, x: m("ab", x) * m("bc", x) / (m("b", x) * m("", x)),
}


def _closed_form_profile(total: float, interactions) -> float:
    cells = {tuple(int(v) for v in row): y for row, y in zip(inclusion_patterns(3), THREE, strict=True)}
    cells[(0, 0, 0)] = total - THREE.sum()
    index = {"a": 0, "b": 1, "c": 2}

    def margin(names: str, x: tuple[int, ...]) -> float:
        return sum(y for cell, y in cells.items() if all(cell[index[v]] == x[index[v]] for v in names))

    ll = math.lgamma(total + 1) - math.lgamma(cells[(0, 0, 0)] + 1)
    for x, y in cells.items():
        if y > 0:
            ll += y * math.log(DECOMPOSABLE[interactions](margin, x))
    return ll


def _hand_mixture(weighted: list[tuple[float, tuple]]) -> tuple[float, float]:
    """F(N) = sum w Phi(signed root) solved for 2.5% and 97.5% on the closed-form profiles."""
    n = THREE.sum()
    tops = []
    for _, model in weighted:
        best = optimize.minimize_scalar(
            lambda t, m=model: -_closed_form_profile(t, m),
            bounds=(n + 1, 5 * n),
            method="bounded",
            options={"xatol": 1e-8},
        )
        tops.append((best.x, -best.fun))

    def cdf(t: float) -> float:
        out = 0.0
        for (w, model), (at, top) in zip(weighted, tops, strict=True):
            root = math.sqrt(max(2 * (top - _closed_form_profile(t, model)), 0.0))
            out += w * stats.norm.cdf(root if t > at else -root)
        return out

    lower = optimize.brentq(lambda t: cdf(t) - 0.025, n + 1, 3 * n, xtol=1e-8)
    upper = optimize.brentq(lambda t: cdf(t) - 0.975, n + 1, 5 * n, xtol=1e-8)
    return lower, upper


@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.2, 0.3, 0.5)], ids=["one", "two", "three"])
def test_model_averaged_interval_matches_closed_form_profiles_mixed_by_hand(weights):
    models = list(DECOMPOSABLE)
    fits = {m: fit_model(THREE, m, ["a", "b", "c"]) for m in models}
    chosen = [(w, m) for w, m in zip(weights, models, strict=True) if w > 0]
    lower, upper = mixture_interval([(w, fits[m].profile) for w, m in chosen])
    hand_lower, hand_upper = _hand_mixture(chosen)
    assert lower == pytest.approx(hand_lower, rel=1e-5)
    assert upper == pytest.approx(hand_upper, rel=1e-5)
    if len(chosen) == 1:
        assert (lower, upper) == pytest.approx((fits[()].lower, fits[()].upper), rel=1e-9)


def test_headline_interval_carries_model_uncertainty():
    est = estimate_total(THREE, ["a", "b", "c"])
    usable = [f for f in est.models if f.identifiable]
    assert (est.averaged_lower, est.averaged_upper) == pytest.approx(
        mixture_interval([(f.weight, f.profile) for f in usable]), rel=1e-9
    )
    # the mixture reaches past the selected model's own interval on the side where models with
    # real weight disagree with it (here the all-two-way model, far higher, holds about 10%)
    assert est.averaged_lower < est.averaged_total < est.averaged_upper
    assert est.averaged_upper > est.selected.upper
    assert min(f.lower for f in usable) <= est.averaged_lower and est.averaged_upper <= max(f.upper for f in usable)


# the heterogeneity columns, written here apart from the library: c lists caught the cell
TAU = {
    "darroch": lambda c: 0.5 * c * c,
    "poisson2": lambda c: np.power(2.0, c) - 1.0,
    "gamma3.5": lambda c: -np.log(1.0 + c / 3.5),
}


def _direct_design(interactions, heterogeneity, with_missing: bool) -> np.ndarray:
    rows = [[(code >> (2 - j)) & 1 for j in range(3)] for code in range(0 if with_missing else 1, 8)]
    pat = np.array(rows, dtype=float)
    cols = [np.ones(len(pat)), pat[:, 0], pat[:, 1], pat[:, 2]]
    cols += [pat[:, a] * pat[:, b] for a, b in interactions]
    cols.append(TAU[heterogeneity](pat.sum(axis=1)))
    return np.column_stack(cols)


def _direct_heterogeneity_fit(counts: np.ndarray, interactions, heterogeneity) -> float:
    """The unobserved cell by maximising the Poisson log-likelihood with scipy."""
    x = _direct_design(interactions, heterogeneity, with_missing=False)

    def negative_ll(beta):
        eta = x @ beta
        return float(np.exp(eta).sum() - (counts * eta).sum())

    start = np.concatenate([[math.log(counts.mean())], np.zeros(x.shape[1] - 1)])
    best = optimize.minimize(negative_ll, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    return float(math.exp(best.x[0]))


@pytest.mark.parametrize(
    ("interactions", "heterogeneity"),
    [
        ((), "darroch"),
        (((0, 1),), "darroch"),
        ((), "poisson2"),
        (((1, 2),), "poisson2"),
        (((0, 2), (1, 2)), "poisson2"),
        ((), "gamma3.5"),
        (((0, 1),), "gamma3.5"),
    ],
)
def test_heterogeneity_models_match_a_direct_scipy_maximisation(interactions, heterogeneity):
    fit = fit_model(THREE, interactions, ["a", "b", "c"], with_interval=False, heterogeneity=heterogeneity)
    assert fit.identifiable, fit.reason
    assert fit.parameters == 5 + len(interactions)
    assert fit.unobserved == pytest.approx(_direct_heterogeneity_fit(THREE, interactions, heterogeneity), rel=1e-4)


def test_darroch_profile_interval_matches_a_direct_multinomial_profile():
    """M_th Darroch's profile-likelihood interval against scipy's own: for each N, the
    multinomial log-likelihood of the completed table maximised over the cell
    probabilities softmax(X beta), then the chi2(1) cut found by brentq."""
    x = _direct_design((), "darroch", with_missing=True)
    n = THREE.sum()

    def prof(total: float) -> float:
        y = np.concatenate([[total - n], THREE])

        def negative(beta):
            eta = x @ beta
            return -float((y * (eta - np.log(np.exp(eta).sum()))).sum())

        best = optimize.minimize(negative, np.zeros(x.shape[1]), method="BFGS", options={"gtol": 1e-9})
        return math.lgamma(total + 1) - math.lgamma(total - n + 1) - best.fun

    fit = fit_model(THREE, (), ["a", "b", "c"], heterogeneity="darroch")
    top_at = optimize.minimize_scalar(lambda t: -prof(t), bounds=(n + 1, 5 * n), method="bounded").x
    top = prof(top_at)
    cut = stats.chi2.ppf(0.95, 1) / 2
    lower = optimize.brentq(lambda t: top - prof(t) - cut, n + 1e-6, top_at)
    upper = optimize.brentq(lambda t: top - prof(t) - cut, top_at, 20 * n)
    # the profile's maximum (the multinomial MLE of N), not the Poisson fit's n + exp(intercept)
    assert fit.profile.top_at == pytest.approx(top_at, rel=1e-3)
    assert fit.lower == pytest.approx(lower, rel=1e-3)
    assert fit.upper == pytest.approx(upper, rel=1e-3)
    assert fit.lower < fit.total < fit.upper


def test_candidate_set_adds_identifiable_distinct_heterogeneity_models():
    models = candidate_models(3)
    assert models[:8] == [(m, None) for m in hierarchical_models(3)]
    # Darroch: main effects, with 1 pair (3) and no more (c^2/2 lies in the two-way span);
    # Poisson2 and Gamma3.5: with 0, 1 or 2 pairs (3 pairs: 8 parameters on 7 cells)
    assert len(models) == 8 + 4 + 7 + 7
    for interactions, heterogeneity in models[8:]:
        assert 5 + len(interactions) <= 7
        if heterogeneity == "darroch":
            assert len(interactions) <= 1
    # the Darroch model beside two pairs is the all-two-way model written differently
    same = fit_model(THREE, ((0, 1), (1, 2)), ["a", "b", "c"], with_interval=False, heterogeneity="darroch")
    saturated = fit_model(THREE, ((0, 1), (0, 2), (1, 2)), ["a", "b", "c"], with_interval=False)
    assert same.unobserved == pytest.approx(saturated.unobserved, rel=1e-6)
    # every candidate enters the AIC weights of one estimate
    est = estimate_total(THREE, ["a", "b", "c"])
    assert len(est.models) == len(models)
    assert sum(f.weight for f in est.models) == pytest.approx(1.0)
    assert any(f.heterogeneity and f.weight > 0 for f in est.models)


def test_a_negative_heterogeneity_parameter_is_not_identifiable():
    # the triple-caught cell far below what the one- and two-list cells imply: concave in c
    counts = np.array([100, 100, 100, 100, 100, 100, 5], dtype=float)
    fit = fit_model(counts, (), ["a", "b", "c"], heterogeneity="darroch")
    assert fit.coefficients[-1] < 0
    assert not fit.identifiable and "negative heterogeneity" in fit.reason
    est = estimate_total(counts, ["a", "b", "c"])
    assert next(f for f in est.models if f.name == fit.name).weight == 0.0


def test_poisson_fits_of_many_tables_at_once_equal_one_table_at_a_time():
    x = design_matrix(inclusion_patterns(3), ((0, 1),), "poisson2")
    tables = np.random.default_rng(3).poisson(THREE, size=(5, 7)).astype(float)
    batch = poisson_fits(tables, x)
    for table, fit in zip(tables, batch):
        alone = poisson_fits(table, x)[0]
        assert fit.converged and np.allclose(fit.params, alone.params, rtol=1e-10, atol=1e-12)
        # the score equations: fitted margins of every design column equal the observed ones
        assert np.allclose(x.T @ fit.mu, x.T @ table, rtol=1e-9)


def test_percentile_interval_takes_the_order_statistics():
    totals = np.arange(1.0, 400.0)[::-1]  # B = 399: the 10th and 390th smallest
    assert percentile_interval(totals) == (10.0, 390.0)
    assert percentile_interval(np.arange(1.0, 200.0)) == (5.0, 195.0)  # B = 199
    # B = 99: (B + 1) 0.025 = 2.5, between the 2nd and 3rd
    assert percentile_interval(np.arange(1.0, 100.0)) == (2.5, 97.5)
    with_open = np.concatenate([np.arange(1.0, 390.0), np.full(10, math.inf)])
    assert percentile_interval(with_open) == (10.0, math.inf)


# two lists, 620 seen: only the independence (Lincoln-Petersen) model is identifiable, and it
# fits the three cells exactly, so the bootstrap draws every cell as Poisson(observed)
TWO_LIST_BOOT = np.array([300.0, 200.0, 120.0])  # patterns 01, 10, 11


def test_two_list_selection_bootstrap_matches_a_direct_simulation():
    replicates = 3999
    est = estimate_total(TWO_LIST_BOOT, ["A", "B"], replicates=replicates)
    assert est.selected.name == "independence"
    assert est.bootstrap.share_selecting("independence") == 1.0
    # the same procedure written out: Poisson cells, n + n10 n01 / n11, the 2.5% and 97.5% points
    draws = np.random.default_rng(12345).poisson(TWO_LIST_BOOT, size=(400_000, 3)).astype(float)
    n01, n10, n11 = draws.T
    direct = n01 + n10 + n11 + n10 * n01 / n11
    lower, upper = np.quantile(direct, [0.025, 0.975])
    booted = percentile_interval(est.bootstrap.totals)
    assert booted == pytest.approx((lower, upper), rel=0.004)
    assert np.mean(est.bootstrap.totals) == pytest.approx(direct.mean(), rel=0.002)
    # reported: the percentile interval widened to hold the model's own profile interval
    assert est.selected_lower == pytest.approx(min(booted[0], est.selected.lower), rel=1e-12)
    assert est.selected_upper == pytest.approx(max(booted[1], est.selected.upper), rel=1e-12)


def test_selected_interval_carries_the_selection_and_holds_the_profile_interval():
    est = estimate_total(THREE, ["a", "b", "c"])
    sel = est.selected
    assert est.selected_lower <= sel.lower <= sel.total <= sel.upper <= est.selected_upper
    # AIC spreads its weight over models that disagree: the bootstrap reselects other
    # models often, and the interval reaches past the selected model's own
    assert est.bootstrap.share_selecting(sel.name) < 0.5
    assert len(set(est.bootstrap.models)) >= 5
    assert est.selected_upper > sel.upper * 1.2
    # seeded: the same table gives the same interval
    again = estimate_total(THREE, ["a", "b", "c"])
    assert (again.selected_lower, again.selected_upper) == (est.selected_lower, est.selected_upper)
    assert estimate_total(THREE, ["a", "b", "c"], replicates=0).selected_upper != est.selected_upper


def test_three_list_heterogeneity_forms_tie_and_the_first_is_selected():
    # tau(c) on c = 1, 2, 3 lies in the span of 1, c and any other tau: the same fit
    lists = ["a", "b", "c"]
    forms = [fit_model(THREE, ((0, 1),), lists, with_interval=False, heterogeneity=h) for h in HETEROGENEITY_FORMS]
    assert all(f.aic == pytest.approx(forms[0].aic, abs=1e-8) for f in forms)
    assert len({round(f.total, 3) for f in forms}) == len(forms)  # they differ in the unseen cell
    tied = [replace(f, df=1) for f in forms]
    assert select_model(tied) is tied[0]
    rng = np.random.default_rng(0)
    drawn = {select_model(tied, rng=rng).name for _ in range(60)}
    assert drawn == {f.name for f in tied}
