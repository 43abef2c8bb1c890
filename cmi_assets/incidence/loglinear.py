"""Multiple-systems estimation: log-linear Poisson models on the 2^k inclusion table of k
lists (which lists recorded each child), the one fitting module of the incidence library (Poisson
fits by IRLS in numpy, every bootstrap table at once; scipy is imported inside its
functions, so loading the code location does not pay for it).

A model holds the main effect of every list and a set of two-way interactions (every such
set is hierarchical); the all-zero cell (children no list recorded) is unobserved, and its
fitted value exp(intercept) is the estimate of the children no agency saw (Fienberg 1972;
Cormack 1989; Silverman 2014). Beside them, the heterogeneity models of Rcapture's
`closedp` family (Darroch et al. 1993; Rivest and Baillargeon 2014): the same main effects
(and two-way terms, where still identifiable) with one more column tau(c) of the number c of
lists that caught a cell, which stands for children differing in how catchable they are:
Darroch tau(c) = c^2 / 2, Poisson2 tau(c) = 2^c - 1, Gamma3.5 tau(c) = -ln(1 + c / 3.5).
A model is a candidate when its parameters are no more than the observed cells, its design
has full rank and it is not another candidate written differently (the same column space on
the completed table: Darroch's c^2 / 2 lies in the span of every two-way term, so Darroch
beside two of three pairs is the all-two-way model). Per model:

- log-likelihood on the 2^k - 1 observed cells, AIC = -2 l + 2 p, BIC = -2 l + p ln(n)
  with n the children observed (as Rcapture counts them);
- identifiable: the design on the observed cells has full rank, every interaction's
  overlap (children in both lists) is positive, a model that fits the observed cells
  exactly (no degrees of freedom left) has no empty cell, and the fit converged to a
  finite estimate; a sparse overlap makes the estimate run off to zero or infinity; a
  heterogeneity model also needs a non-negative heterogeneity parameter (a negative one
  means no heterogeneity, the model without the term: Rcapture's `neg = TRUE`);
- a profile-likelihood interval for the total N (Cormack 1992): the multinomial
  log-likelihood l(N) = ln N! - ln (N - n)! + sum y ln(mu / N) of the table completed with
  N - n in the missing cell, maximised over the model's parameters by a Poisson fit; the
  interval holds every N with 2 (max l - l(N)) <= chi2(1, 0.95). An upper end beyond
  `MAX_TOTAL_FACTOR` times the observed count is reported as infinite.

The selected model has the smallest AIC among the identifiable ones that leave at least one
degree of freedom (a model with a parameter per observed cell fits exactly, so no criterion
can judge it; it keeps its AIC weight in the average); the model-averaged
estimate weights every identifiable model by exp(-dAIC / 2) (Buckland et al. 1997). The
headline interval is the model-averaged tail-area (MATA) profile-likelihood interval
(Fletcher and Turek 2012): the selected model's own interval leaves out the uncertainty of
choosing it, and undercovers when the criterion moves between models that disagree. The
selected model's reported interval is therefore selection-aware (Buckland, Burnham and
Augustin 1997): the whole selection is rerun on tables simulated from the AIC-averaged fit,
and the percentile interval of the totals it selects, widened to hold the model's own
profile interval, is reported beside that profile interval. With three lists the
heterogeneity forms beside the same two-way terms fit the observed cells identically (tau
is a function of c, and any function of c on c = 1, 2, 3 lies in the span of 1, c and one
more): their AIC ties exactly, they differ only in the unobserved cell, and the selection
takes the first in candidate order (the bootstrap draws among them at random).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

CONFIDENCE = 0.95
MAX_TOTAL_FACTOR = 1000.0  # an interval reaching past 1000 x the observed children is open
MAX_ABS_COEFFICIENT = 25.0  # |log-linear parameter| past this: the fit ran off to a boundary
# a heterogeneity parameter this close to zero is zero (a fit at the boundary, not a negative one)
NEGLIGIBLE_COEFFICIENT = 1e-9
# criteria closer than this are equal: models with the same fit to every observed cell (with
# three lists the heterogeneity forms beside the same two-way terms) tie exactly, and rounding
# must not choose between them
CRITERION_TIE = 1e-6
SMALLEST_MEAN = 1e-100  # floor of a fitted mean in the IRLS weights
# (B + 1) x 0.025 is whole at B = 399, so the percentile ends are order statistics
BOOTSTRAP_REPLICATES = 399
BOOTSTRAP_SEED = 14
# heterogeneity column tau(c) of the number c of lists that caught a cell (Rcapture closedp)
HETEROGENEITY = {
    "darroch": lambda c: c**2 / 2,
    "poisson2": lambda c: 2.0**c - 1,
    "gamma3.5": lambda c: -np.log1p(c / 3.5),
}


@dataclass(frozen=True)
class ModelFit:
    """One log-linear model fitted to one inclusion table."""

    name: str
    interactions: tuple[tuple[int, int], ...]
    parameters: int
    log_likelihood: float
    aic: float
    bic: float
    deviance: float
    df: int
    unobserved: float
    total: float
    lower: float
    upper: float
    identifiable: bool
    reason: str = ""
    weight: float = 0.0
    coefficients: tuple[float, ...] = field(default=(), repr=False)
    profile: Profile | None = field(default=None, repr=False, compare=False)
    heterogeneity: str | None = None

    @property
    def interval_finite(self) -> bool:
        return math.isfinite(self.lower) and math.isfinite(self.upper)


def inclusion_patterns(k: int) -> np.ndarray:
    """The 2^k - 1 observable patterns (rows of 0/1, one column per list), the first list
    the most significant bit: for k = 3, 001, 010, 011, ..., 111."""
    return np.array([[(code >> (k - 1 - j)) & 1 for j in range(k)] for code in range(1, 2**k)], dtype=float)


def hierarchical_models(k: int) -> list[tuple[tuple[int, int], ...]]:
    """Every model with all main effects and up to two-way interactions: each subset of the
    k (k - 1) / 2 pairs, the independence model first."""
    pairs = list(itertools.combinations(range(k), 2))
    return [subset for r in range(len(pairs) + 1) for subset in itertools.combinations(pairs, r)]


def candidate_models(k: int) -> list[tuple[tuple[tuple[int, int], ...], str | None]]:
    """(interactions, heterogeneity) of every candidate: every hierarchical model (those the
    table cannot determine are reported as not identifiable), then each heterogeneity form
    beside each set of two-way terms, kept while the parameters are no more than the 2^k - 1
    observed cells, the design has full rank on them and its column space on the completed
    table is not an earlier candidate's."""
    patterns = inclusion_patterns(k)
    full = np.vstack([np.zeros(k), patterns])
    kept, spaces = [], []
    for heterogeneity in (None, *HETEROGENEITY):
        for interactions in hierarchical_models(k):
            x = design_matrix(patterns, interactions, heterogeneity)
            determined = x.shape[1] <= len(patterns) and np.linalg.matrix_rank(x) == x.shape[1]
            if not determined:
                if heterogeneity is None:
                    kept.append((interactions, heterogeneity))
                continue
            xf = design_matrix(full, interactions, heterogeneity)
            if any(
                s.shape[1] == xf.shape[1] and np.linalg.matrix_rank(np.hstack([s, xf])) == xf.shape[1] for s in spaces
            ):
                continue
            kept.append((interactions, heterogeneity))
            spaces.append(xf)
    return kept


def model_name(interactions: tuple[tuple[int, int], ...], lists: list[str], heterogeneity: str | None = None) -> str:
    """ "independence", the interactions as "cp*police_fv + cp*hospital", and a
    heterogeneity term as "heterogeneity(darroch)"."""
    terms = [f"{lists[a]}*{lists[b]}" for a, b in interactions]
    if heterogeneity:
        terms.append(f"heterogeneity({heterogeneity})")
    return " + ".join(terms) or "independence"


def design_matrix(
    patterns: np.ndarray, interactions: tuple[tuple[int, int], ...], heterogeneity: str | None = None
) -> np.ndarray:
    """Intercept, one column per list, one product column per interaction, and tau(c) of
    the lists that caught the cell for a heterogeneity model."""
    columns = [np.ones(len(patterns)), *patterns.T, *(patterns[:, a] * patterns[:, b] for a, b in interactions)]
    if heterogeneity:
        columns.append(HETEROGENEITY[heterogeneity](patterns.sum(axis=1)))
    return np.column_stack(columns)


@dataclass(frozen=True)
class PoissonFit:
    """A Poisson log-linear fit of one table: coefficients, fitted means, log-likelihood,
    deviance and whether the iterations converged."""

    params: np.ndarray
    mu: np.ndarray
    llf: float
    deviance: float
    converged: bool


def poisson_fits(y: np.ndarray, x: np.ndarray, maxiter: int = 200, tol: float = 1e-12) -> list[PoissonFit]:
    """Maximum-likelihood Poisson fits of the rows of `y` (tables, cells) on one design `x`
    (cells, parameters) by iteratively reweighted least squares, every table at once: the
    Fisher scoring of a GLM with log link (McCullagh and Nelder 1989, section 2.5), started
    at mu = (y + mean y) / 2 as statsmodels starts it, stopped when the deviance moves by
    less than `tol`. A zero cell the model can fit only at mu = 0 (separation) drives a
    coefficient off towards -inf; the caller judges that by the coefficient's size."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    mu = (y + y.mean(axis=1, keepdims=True)) / 2
    eta = np.log(mu)
    params = np.zeros((len(y), x.shape[1]))
    deviance = _poisson_deviance(y, mu)
    converged = np.zeros(len(y), dtype=bool)
    active = np.ones(len(y), dtype=bool)
    for _ in range(maxiter):
        rows = np.flatnonzero(active)
        if not len(rows):
            break
        # a mean fitted at zero (separation) keeps a tiny weight, so the step stays finite
        w = np.maximum(mu[rows], SMALLEST_MEAN)
        z = eta[rows] + (y[rows] - mu[rows]) / w
        params[rows] = _weighted_least_squares(x, w, z)
        # a fit running off to a boundary may overflow here
        with np.errstate(over="ignore", invalid="ignore"):
            eta[rows] = params[rows] @ x.T
            mu[rows] = np.exp(eta[rows])
        moved = _poisson_deviance(y[rows], mu[rows])
        done = np.abs(moved - deviance[rows]) <= tol
        deviance[rows] = moved
        converged[rows[done]] = True
        active[rows[done | ~np.isfinite(moved)]] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        llf = (np.where(y > 0, y * np.log(mu), 0.0) - mu).sum(axis=1) - _log_factorials(y)
    return [PoissonFit(params[i], mu[i], float(llf[i]), float(deviance[i]), bool(converged[i])) for i in range(len(y))]


def _weighted_least_squares(x: np.ndarray, w: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The solution b of (X' W X) b = X' W z for each row of weights `w` and responses `z`;
    NaN for a row whose system cannot be solved (a fit that ran off to infinity)."""
    xtwx = np.einsum("ci,bc,cj->bij", x, w, x)
    xtwz = np.einsum("ci,bc->bi", x, w * z)
    try:
        return np.linalg.solve(xtwx, xtwz[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([_solve_one(a, b) for a, b in zip(xtwx, xtwz)])


def _solve_one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return np.full(len(b), np.nan)
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        # a fitted mean underflowed: the pseudo-inverse's answer
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)).sum(axis=1)


def _log_factorials(y: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.gammaln(y + 1).sum(axis=1)


def _poisson_fit(y: np.ndarray, x: np.ndarray) -> PoissonFit:
    return poisson_fits(y, x)[0]


def _why_not_identifiable(counts: np.ndarray, patterns: np.ndarray, interactions, x: np.ndarray, lists) -> str:
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return "more parameters than the observed cells can determine"
    for j in range(patterns.shape[1]):
        if counts[patterns[:, j] == 1].sum() == 0:
            return f"no child on list {lists[j]}"
    for a, b in interactions:
        if counts[(patterns[:, a] == 1) & (patterns[:, b] == 1)].sum() == 0:
            return f"no child on both {lists[a]} and {lists[b]}: sparse overlap"
    if x.shape[1] == len(counts) and (counts == 0).any():
        return "the model fits every observed cell exactly and one is empty: sparse overlap"
    return ""


def profile_log_likelihood(total: float, counts: np.ndarray, x_full: np.ndarray) -> float:
    """l(N) of the table completed with N - n children in the missing cell (row 0 of
    `x_full`), the model's parameters at their maximum for that N."""
    n = counts.sum()
    z = total - n
    y = np.concatenate([[z], counts])
    fit = _poisson_fit(y, x_full)
    mu = np.asarray(fit.mu)
    positive = y > 0
    return float(math.lgamma(total + 1) - math.lgamma(z + 1) + (y[positive] * np.log(mu[positive] / total)).sum())


@dataclass(frozen=True)
class Profile:
    """One model's profile log-likelihood of the total, with its maximum."""

    counts: np.ndarray
    x_full: np.ndarray
    top_at: float
    top: float

    @property
    def observed(self) -> float:
        return float(self.counts.sum())

    def log_likelihood(self, total: float) -> float:
        return profile_log_likelihood(total, self.counts, self.x_full)

    def signed_root(self, total: float) -> float:
        """sign(N - N_max) sqrt(2 (max l - l(N))): standard normal at the true N, so
        Phi of it is the model's confidence distribution of the total."""
        drop = max(self.top - self.log_likelihood(total), 0.0)
        return math.copysign(math.sqrt(2 * drop), total - self.top_at)


def profile(
    counts: np.ndarray, patterns: np.ndarray, interactions, estimate: float, heterogeneity: str | None = None
) -> Profile:
    """The profile of one model, its maximum found near `estimate` (the Poisson fit's total)."""
    from scipy import optimize

    n = float(counts.sum())
    x_full = design_matrix(np.vstack([np.zeros(patterns.shape[1]), patterns]), interactions, heterogeneity)
    cap = _cap(n)
    start = min(max(estimate, n + 1e-6), cap)
    best = optimize.minimize_scalar(
        lambda t: -profile_log_likelihood(t, counts, x_full),
        bounds=(n + 1e-9, max(start * 2, n + 10.0)),
        method="bounded",
        options={"xatol": 1e-6 * max(n, 1.0)},
    )
    return Profile(counts, x_full, float(best.x), -float(best.fun))


def _cap(n: float) -> float:
    return max(n * MAX_TOTAL_FACTOR, n + 10.0)


def mixture_interval(profiles: list[tuple[float, Profile]], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The limits where the weighted mixture of the models' confidence distributions,
    F(N) = sum w_i Phi(r_i(N)), crosses (1 - confidence) / 2 and (1 + confidence) / 2.
    With one model of weight 1 this is its profile-likelihood interval; over the AIC
    weights it is the model-averaged tail-area profile interval (Fletcher and Turek 2012;
    Turek and Fletcher 2012), wide where the criterion cannot tell the models apart. A
    lower end at the observed count is the count; an upper end past `MAX_TOTAL_FACTOR`
    times it is infinite."""
    from scipy import optimize, stats

    n = profiles[0][1].observed
    cap = _cap(n)
    alpha = (1 - confidence) / 2

    def excess(t: float, level: float) -> float:
        return sum(w * stats.norm.cdf(p.signed_root(t)) for w, p in profiles) - level

    # every Phi(r_i) is at least 1/2 past the largest maximum, so the lower limit lies below it
    middle = max(p.top_at for _, p in profiles)
    floor = n + 1e-9
    if excess(floor, alpha) >= 0:
        lower = n
    else:
        lower = float(optimize.brentq(excess, floor, middle, args=(alpha,), xtol=1e-6))
    if excess(middle, 1 - alpha) >= 0:
        # models far above the others hold so little weight that the upper limit lies below
        # the largest maximum: F is increasing, so the limit is between the lower one and it
        upper = float(optimize.brentq(excess, max(lower, floor), middle, args=(1 - alpha,), xtol=1e-6))
        return lower, upper
    upper_try = max(middle * 2, middle + 10.0)
    while excess(upper_try, 1 - alpha) < 0:
        if upper_try >= cap:
            return lower, math.inf
        upper_try = min(upper_try * 4, cap)
    upper = float(optimize.brentq(excess, middle, upper_try, args=(1 - alpha,), xtol=1e-6))
    return lower, upper


def profile_interval(
    counts: np.ndarray,
    patterns: np.ndarray,
    interactions,
    estimate: float,
    confidence: float = CONFIDENCE,
    heterogeneity: str | None = None,
) -> tuple[float, float]:
    """The profile-likelihood interval for the total (observed + unobserved children):
    every N with 2 (max l - l(N)) <= chi2(1, confidence)."""
    return mixture_interval([(1.0, profile(counts, patterns, interactions, estimate, heterogeneity))], confidence)


def fit_model(
    counts: np.ndarray,
    interactions: tuple[tuple[int, int], ...],
    lists: list[str],
    with_interval: bool = True,
    heterogeneity: str | None = None,
    fit: PoissonFit | None = None,
) -> ModelFit:
    """One model on the observed cells (`counts` aligned with inclusion_patterns(k)); `fit`,
    when given, is its Poisson fit already made (selection_bootstrap fits many tables at once)."""
    counts = np.asarray(counts, dtype=float)
    k = len(lists)
    patterns = inclusion_patterns(k)
    x = design_matrix(patterns, interactions, heterogeneity)
    n = float(counts.sum())
    p = x.shape[1]
    name = model_name(interactions, lists, heterogeneity)
    reason = _why_not_identifiable(counts, patterns, interactions, x, lists)
    nan = math.nan
    if reason and reason.startswith("more parameters"):
        return ModelFit(
            name,
            interactions,
            p,
            nan,
            nan,
            nan,
            nan,
            len(counts) - p,
            nan,
            nan,
            nan,
            nan,
            False,
            reason,
            heterogeneity=heterogeneity,
        )
    fit = fit or _poisson_fit(counts, x)
    coefficients = np.asarray(fit.params, dtype=float)
    with np.errstate(over="ignore"):  # an intercept run off to infinity: the check below
        unobserved = float(np.exp(coefficients[0]))
    if not reason and (not fit.converged or np.abs(coefficients).max() > MAX_ABS_COEFFICIENT):
        reason = "the fit ran off to a boundary (a parameter without a finite maximum)"
    if not reason and heterogeneity and coefficients[-1] < -NEGLIGIBLE_COEFFICIENT:
        reason = "negative heterogeneity parameter: no heterogeneity, the model without the term"
    if not reason and not math.isfinite(unobserved):
        reason = "the estimate of the unobserved cell is not finite"
    llf = float(fit.llf)
    lower, upper, curve = nan, nan, None
    if not reason and with_interval:
        curve = profile(counts, patterns, interactions, n + unobserved, heterogeneity)
        lower, upper = mixture_interval([(1.0, curve)])
    return ModelFit(
        name=name,
        interactions=interactions,
        parameters=p,
        log_likelihood=llf,
        aic=-2 * llf + 2 * p,
        bic=-2 * llf + p * math.log(max(n, 1.0)),
        deviance=float(fit.deviance),
        df=len(counts) - p,
        unobserved=unobserved,
        total=n + unobserved,
        lower=lower,
        upper=upper,
        identifiable=not reason,
        reason=reason,
        coefficients=tuple(coefficients.tolist()),
        profile=curve,
        heterogeneity=heterogeneity,
    )


@dataclass(frozen=True)
class SelectionBootstrap:
    """The selection procedure rerun on simulated tables: each replicate's selected model
    and its total (infinite where no model was identifiable)."""

    totals: np.ndarray
    models: tuple[str | None, ...]

    def share_selecting(self, name: str) -> float:
        return sum(m == name for m in self.models) / len(self.models)


@dataclass(frozen=True)
class Estimate:
    """Every model, the selected one with its selection-aware interval, the AIC-weighted
    average with its model-averaged interval (the headline) and the independence model."""

    lists: list[str]
    observed: int
    models: list[ModelFit]
    selected: ModelFit | None
    independence: ModelFit
    averaged_total: float
    criterion: str
    averaged_lower: float = math.nan
    averaged_upper: float = math.nan
    selected_lower: float = math.nan
    selected_upper: float = math.nan
    bootstrap: SelectionBootstrap | None = field(default=None, repr=False, compare=False)

    @property
    def identifiable(self) -> bool:
        return self.selected is not None

    @property
    def averaged_interval_finite(self) -> bool:
        return math.isfinite(self.averaged_lower) and math.isfinite(self.averaged_upper)

    def completeness(self, counts: np.ndarray) -> dict[str, float]:
        """Share of the estimated (model-averaged) total each list recorded."""
        patterns = inclusion_patterns(len(self.lists))
        total = self.averaged_total if self.selected else math.nan
        return {name: float(counts[patterns[:, j] == 1].sum()) / total for j, name in enumerate(self.lists)}


def aic_weights(fits: list[ModelFit]) -> dict[str, float]:
    """exp(-dAIC / 2) of every identifiable model, normalised (Buckland et al. 1997)."""
    usable = [f for f in fits if f.identifiable]
    if not usable:
        return {}
    best = min(f.aic for f in usable)
    raw = {f.name: math.exp(-(f.aic - best) / 2) for f in usable}
    norm = sum(raw.values())
    return {name: w / norm for name, w in raw.items()}


def select_model(fits: list[ModelFit], criterion: str = "aic", rng: np.random.Generator | None = None):
    """The identifiable model of least `criterion` among those that leave at least one
    degree of freedom (a model with a parameter per observed cell fits any table exactly, so
    no criterion can judge it), or among all identifiable ones when none does; None when no
    model is identifiable. Models tied on the criterion (within CRITERION_TIE: the same fit
    to every observed cell, differing only in the unobserved one) cannot be told apart by
    the table: the first in candidate order is taken, or with `rng` one of them at random,
    which is how the selection bootstrap carries the arbitrariness of that choice."""
    usable = [f for f in fits if f.identifiable]
    testable = [f for f in usable if f.df >= 1] or usable
    if not testable:
        return None
    best = min(getattr(f, criterion) for f in testable)
    tied = [f for f in testable if getattr(f, criterion) - best <= CRITERION_TIE]
    return tied[0] if rng is None else tied[int(rng.integers(len(tied)))]


def fitted_cell_means(fit: ModelFit, k: int) -> np.ndarray:
    """The model's fitted means of the 2^k - 1 observed cells."""
    x = design_matrix(inclusion_patterns(k), fit.interactions, fit.heterogeneity)
    return np.exp(x @ np.asarray(fit.coefficients))


def averaged_cell_means(fits: list[ModelFit], k: int) -> np.ndarray:
    """The AIC-weighted average of the identifiable models' fitted means of the observed
    cells: the table the bootstrap simulates from, which assumes no single model right."""
    return sum(f.weight * fitted_cell_means(f, k) for f in fits if f.identifiable)


def selection_bootstrap(
    means: np.ndarray,
    lists: list[str],
    criterion: str = "aic",
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> SelectionBootstrap:
    """The whole selection procedure rerun on `replicates` tables whose cells are drawn
    independently as Poisson(`means`) (a parametric bootstrap of model selection: Buckland,
    Burnham and Augustin 1997; for multiple-systems estimation, Chan, Silverman and Vincent
    2021): every candidate model refitted on every table, the model selected again
    (select_model, ties drawn at random) and its total kept. Seeded, so reproducible."""
    rng = np.random.default_rng(seed)
    tables = rng.poisson(means, size=(replicates, len(means))).astype(float)
    k = len(lists)
    patterns = inclusion_patterns(k)
    per_model = []
    for interactions, heterogeneity in candidate_models(k):
        x = design_matrix(patterns, interactions, heterogeneity)
        determined = np.linalg.matrix_rank(x) == x.shape[1]
        fits = poisson_fits(tables, x) if determined else [None] * replicates
        per_model.append(
            [
                fit_model(table, interactions, lists, with_interval=False, heterogeneity=heterogeneity, fit=fit)
                for table, fit in zip(tables, fits)
            ]
        )
    chosen = [select_model([fits[b] for fits in per_model], criterion, rng) for b in range(replicates)]
    return SelectionBootstrap(
        totals=np.array([c.total if c else math.inf for c in chosen]),
        models=tuple(c.name if c else None for c in chosen),
    )


def percentile_interval(totals: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The bootstrap percentile interval: the (B + 1) a / 2-th and (B + 1)(1 - a / 2)-th of
    the B ordered totals (Davison and Hinkley 1997, section 5.2), interpolated between order
    statistics when (B + 1) a / 2 is not whole; an infinite total (no identifiable model)
    sorts last."""
    alpha = (1 - confidence) / 2
    ordered = np.sort(np.asarray(totals, dtype=float))
    # rounded so that a whole (B + 1) a / 2 is an order statistic despite 0.025 in binary
    positions = np.round(np.array([alpha, 1 - alpha]) * (len(ordered) + 1) - 1, 9)
    ends = []
    for position in np.clip(positions, 0, len(ordered) - 1):
        below, above = ordered[int(math.floor(position))], ordered[int(math.ceil(position))]
        ends.append(below if below == above else below + (position - math.floor(position)) * (above - below))
    return float(ends[0]), float(ends[1])


def selected_interval(selected: ModelFit, bootstrap: SelectionBootstrap, confidence: float = CONFIDENCE):
    """The selected model's selection-aware 95% interval: the bootstrap percentile interval
    of the selection procedure's total (which carries the uncertainty of choosing the model,
    left out of an interval conditional on it), widened where needed to hold the selected
    model's own profile-likelihood interval (which carries the chance variation of the
    unobserved cell and the likelihood's skew under that model), so it always contains the
    selected estimate and is never narrower than the interval conditional on the model."""
    lower, upper = percentile_interval(bootstrap.totals, confidence)
    return min(lower, selected.lower), max(upper, selected.upper)


def estimate_total(
    counts,
    lists: list[str],
    criterion: str = "aic",
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """Fit every candidate model (candidate_models: the hierarchical models up to two-way
    interactions and the heterogeneity models); select by `criterion` ("aic" or "bic")
    among the identifiable ones (select_model), weight them by AIC and mix their profiles
    into the model-averaged interval; the selected model's selection-aware interval from
    `replicates` bootstrap tables drawn from the averaged fit (none when 0)."""
    counts = np.asarray(counts, dtype=float)
    fits = [fit_model(counts, m, lists, heterogeneity=h) for m, h in candidate_models(len(lists))]
    weights = aic_weights(fits)
    fits = [_with_weight(f, weights.get(f.name, 0.0)) for f in fits]
    usable = [f for f in fits if f.identifiable]
    selected = select_model(fits, criterion)
    averaged = sum(f.weight * f.total for f in usable) if usable else math.nan
    lower, upper = mixture_interval([(f.weight, f.profile) for f in usable]) if usable else (math.nan, math.nan)
    bootstrap, selected_ends = None, (math.nan, math.nan)
    if selected and replicates:
        bootstrap = selection_bootstrap(averaged_cell_means(fits, len(lists)), lists, criterion, replicates, seed)
        selected_ends = selected_interval(selected, bootstrap)
    return Estimate(
        lists=list(lists),
        observed=int(counts.sum()),
        models=fits,
        selected=selected,
        independence=fits[0],
        averaged_total=float(averaged),
        criterion=criterion,
        averaged_lower=lower,
        averaged_upper=upper,
        selected_lower=selected_ends[0],
        selected_upper=selected_ends[1],
        bootstrap=bootstrap,
    )


def _with_weight(fit: ModelFit, weight: float) -> ModelFit:
    from dataclasses import replace

    return replace(fit, weight=weight)


def chapman_estimate(n1: int, n2: int, m: int) -> float:
    """Chapman's nearly unbiased two-list estimate of the total, (n1+1)(n2+1)/(m+1) - 1."""
    return (n1 + 1) * (n2 + 1) / (m + 1) - 1


def garwood_interval(count, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson interval for observed counts (Garwood 1936, through chi-square
    quantiles): [chi2(a/2; 2x) / 2, chi2(1 - a/2; 2x + 2) / 2], lower 0 at x = 0."""
    from scipy import stats

    x = np.asarray(count, dtype=float)
    alpha = 1 - confidence
    lower = np.where(x > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(x, 1e-300)) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * x + 2) / 2
    return lower, upper
