"""A reader who solves the published margins: an independent check of publish/disclosure.py.

Each hidden count is an unknown integer. What the reader knows of it, from the published table
and the published rule: a cell hidden as "primary" with a population of SUPPRESS_BELOW or more
holds 1 to SUPPRESS_BELOW - 1; a primary cell of a smaller population holds 0 to its
population; a "complementary" cell holds 0 to its population. (A reader who also reasons that a
complementary cell, not being small, holds 0 or SUPPRESS_BELOW and more can pin a cell in a
degenerate world, for example one child with the event in a county, because the published
reasons say which hidden cells are small; `complementary_is_large=True` models that reader.)
No count exceeds its population
when the indicator counts children (every true count of the indicator is at most its
population). Every published margin is an equality (only margins that hold in the true data:
the reader is told which do). For each hidden cell the reader's min and max come from a MILP
(scipy.optimize.milp, HiGHS); the cell is recovered when min == max. Cells that an integer
solution other than the truth already shows to be unpinned skip the MILP (pinned_in_component).
Hidden cells that share no margin are solved apart. Only equalities: what a reader learns from
inequalities (a source's count is at most the union's) is not modelled.

The margins are written here from the table's columns, not with publish/disclosure.py's code;
`recovered_in_package` reads several tables at once, with the counts they share.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

BLOCK = ("indicator", "linkage_level", "period")


def margins_of(table: pl.DataFrame) -> list[tuple[int, list[int]]]:
    """(total row, part rows) of every margin the contract names, by plain dictionaries."""
    rows = table.with_row_index("i").to_dicts()
    key = {}
    for r in rows:
        key[(*(r[c] for c in BLOCK), r["geography_level"], r["geography_code"], r["group_type"], r["group_value"])] = r[
            "i"
        ]
    found = defaultdict(list)
    for r in rows:
        b = tuple(r[c] for c in BLOCK)
        if r["group_type"] in ("sex", "deprivation_decile"):
            total = key.get((*b, r["geography_level"], r["geography_code"], "all", "all"))
            if total is not None:
                found[(total, "group", r["group_type"])].append(r["i"])
        parent_level = {"county": "state", "postcode": "county"}.get(r["geography_level"])
        if parent_level:
            total = key.get((*b, parent_level, r["parent_code"], r["group_type"], r["group_value"]))
            if total is not None:
                found[(total, "area", r["geography_level"])].append(r["i"])
    return [(total, parts) for (total, _, _), parts in found.items()]


def recovered_cells(
    published: pl.DataFrame, truth: pl.DataFrame, threshold: int, *, complementary_is_large: bool = False
) -> list[int]:
    """Row indices of hidden cells whose count the reader pins down exactly. `truth` is the
    same table before suppression (same row order), used only to pick the margins that hold
    and to assert the reader's system is feasible."""
    counts_children = {ind: bool((g["count"] <= g["population"]).all()) for (ind,), g in truth.group_by("indicator")}
    bounded = np.array([counts_children[i] for i in published["indicator"].to_list()], dtype=bool)
    equations = [([t, *ps], [-1.0, *[1.0] * len(ps)]) for t, ps in margins_of(published)]
    return _recover(
        truth["count"].to_numpy().astype(float),
        published["population"].to_numpy().astype(float),
        published["suppressed"].fill_null(False).to_numpy(),
        published["suppression_reason"].to_list(),
        bounded,
        equations,
        threshold,
        complementary_is_large,
    )


def _recover(true_count, pop, hidden, reason, bounded, equations, threshold, complementary_is_large) -> list[int]:
    """Hidden cells (indices) pinned by `equations` ((cells, coefficients): sum = 0) that hold
    in the truth, with the reader's bounds."""
    equations = [(cs, cf) for cs, cf in equations if abs(sum(a * true_count[c] for c, a in zip(cs, cf))) < 1e-9]
    idx = np.flatnonzero(hidden)
    if len(idx) == 0:
        return []
    pos = {int(c): k for k, c in enumerate(idx)}
    n = len(idx)
    # Variables: x (n hidden counts), then z (n binaries, used by complementary cells only).
    lo, hi = np.zeros(2 * n), np.zeros(2 * n)
    for k, c in enumerate(idx):
        upper = pop[c] if bounded[c] else 1e9
        hi[k] = upper
        if reason[c] == "primary" and pop[c] >= threshold:
            lo[k], hi[k] = 1, min(upper, threshold - 1)
        if complementary_is_large and reason[c] == "complementary":
            hi[n + k] = 1
    rows = []  # (hidden positions, coefficients, right-hand side)
    for cells, coefs in equations:
        acc: dict[int, float] = {}
        rhs = 0.0
        for c, sign in zip(cells, coefs):
            if hidden[c]:
                acc[pos[c]] = acc.get(pos[c], 0.0) + sign
            else:
                rhs -= sign * true_count[c]
        acc = {k: a for k, a in acc.items() if a != 0}
        if acc:
            rows.append((acc, rhs))
    truth_x = true_count[idx]
    assert np.all(truth_x >= lo[:n]) and np.all(truth_x <= hi[:n]), "the reader's bounds exclude the truth"
    truth_z = (truth_x >= threshold).astype(float)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for acc, _ in rows:
        ks = sorted(acc)
        for other in ks[1:]:
            ra, rb = find(other), find(ks[0])
            if ra != rb:
                parent[ra] = rb
    groups: dict[int, list[int]] = defaultdict(list)
    for k in range(n):
        groups[find(k)].append(k)
    rows_of: dict[int, list[int]] = defaultdict(list)
    for r, (acc, _) in enumerate(rows):
        rows_of[find(next(iter(acc)))].append(r)
    out = []
    for root, cells in groups.items():
        m = len(cells)
        local = {k: j for j, k in enumerate(cells)}
        a_rows, a_lo, a_hi = [], [], []
        for r in rows_of.get(root, []):
            acc, rhs = rows[r]
            row = np.zeros(2 * m)
            for k, a in acc.items():
                row[local[k]] = a
            a_rows.append(row)
            a_lo.append(rhs)
            a_hi.append(rhs)
        c_lo = np.concatenate([lo[cells], lo[[n + k for k in cells]]])
        c_hi = np.concatenate([hi[cells], hi[[n + k for k in cells]]])
        for j, k in enumerate(cells):
            if complementary_is_large and reason[idx[k]] == "complementary":
                # x = 0 when z = 0; threshold <= x <= population when z = 1.
                for coefs, low, high in (((1, -threshold), 0, np.inf), ((1, -c_hi[j]), -np.inf, 0)):
                    row = np.zeros(2 * m)
                    row[j], row[m + j] = coefs
                    a_rows.append(row)
                    a_lo.append(low)
                    a_hi.append(high)
        matrix = np.array(a_rows) if a_rows else np.zeros((0, 2 * m))
        pinned = pinned_in_component(
            list(range(m)), matrix, np.array(a_lo), np.array(a_hi), c_lo, c_hi, truth_x[cells], truth_z[cells], m
        )
        out.extend(int(idx[cells[j]]) for j in pinned)
    return sorted(out)


def pinned_in_component(cells, matrix, row_lo, row_hi, lo, hi, truth_x, truth_z, n, tries: int = 12) -> list[int]:
    """Cells of one group whose min equals their max. Any integer solution of the reader's
    system that differs from the truth in a cell proves that cell is not pinned, so integral
    vertices of the LP (the margins of a hierarchical table are a network matrix: its
    vertices are integral) clear most cells at once; a MILP decides the rest, min and max."""
    columns = [*cells, *(n + k for k in cells)]
    rows = [r for r in range(matrix.shape[0]) if matrix[r, columns].any()]
    a = matrix[np.ix_(rows, columns)] if rows else np.zeros((0, len(columns)))
    b_lo = row_lo[rows] if rows else np.zeros(0)
    b_hi = row_hi[rows] if rows else np.zeros(0)
    equal = b_lo == b_hi
    # linprog's form: equalities, and each finite side of an inequality as a <= row
    a_ub = np.vstack([a[~equal & np.isfinite(b_hi)], -a[~equal & np.isfinite(b_lo)]])
    b_ub = np.concatenate([b_hi[~equal & np.isfinite(b_hi)], -b_lo[~equal & np.isfinite(b_lo)]])
    lp_rows = {
        "A_eq": a[equal] if equal.any() else None,
        "b_eq": b_lo[equal] if equal.any() else None,
        "A_ub": a_ub if len(b_ub) else None,
        "b_ub": b_ub if len(b_ub) else None,
    }
    bounds = list(zip(lo[columns], hi[columns]))
    truth = np.concatenate([truth_x[cells], truth_z[cells]])
    open_cells = set(range(len(cells)))
    rng = np.random.default_rng(0)
    for _ in range(tries):
        if not open_cells:
            break
        objective = np.zeros(len(columns))
        objective[list(open_cells)] = rng.choice([-1.0, 1.0], len(open_cells))
        result = linprog(objective, **lp_rows, bounds=bounds, method="highs")
        assert result.status == 0, f"reader's system infeasible or unsolved: {result.message}"
        x = result.x
        if np.all(np.abs(x - np.round(x)) < 1e-9):
            open_cells -= {j for j in open_cells if round(x[j]) != truth[j]}
    constraints = [LinearConstraint(a, b_lo, b_hi)] if rows else []
    lower, upper = np.array([p[0] for p in bounds]), np.array([p[1] for p in bounds])
    pinned = []
    for j in sorted(open_cells):
        ends = []
        for sense in (1.0, -1.0):
            objective = np.zeros(len(columns))
            objective[j] = sense
            result = milp(
                objective, constraints=constraints, integrality=np.ones(len(columns)), bounds=Bounds(lower, upper)
            )
            assert result.status == 0, f"reader's system infeasible or unsolved: {result.message}"
            ends.append(round(sense * result.fun))
        if ends[0] == ends[1]:
            assert ends[0] == truth[j]
            pinned.append(cells[j])
    return pinned


# ---- several published tables read together --------------------------------------------------

INCIDENCE_OF = {"substantiations": "cp_finding", "maltreatment_hospitalisations": "hospital", "incidence": "any"}


def cfsr_equations(rows: list[dict]) -> list[tuple[list[int], list[float]]]:
    """The pooled rows are the sums of their states' (all states; DQ-passing states), and the
    two pooled rows are one count when every state passes."""
    out = []
    by_period = defaultdict(list)
    for r in rows:
        by_period[r["period_fy"]].append(r)
    for group in by_period.values():
        states = [r for r in group if not r["area"].startswith("national")]
        pooled = {r["area"]: r for r in group if r["area"].startswith("national")}
        for area, members in (
            ("national_all_states", states),
            ("national_dq_passing", [r for r in states if r["dq_status"] == "pass"]),
        ):
            if area in pooled:
                out.append(([pooled[area]["i"], *(r["i"] for r in members)], [-1.0, *[1.0] * len(members)]))
        if len(pooled) == 2:
            out.append(([pooled["national_all_states"]["i"], pooled["national_dq_passing"]["i"]], [1.0, -1.0]))
    return out


def incidence_equations(rows: list[dict]) -> list[tuple[list[int], list[float]]]:
    """Groups sum to all; by age 1 is in the year of age 1; by age k = by age k - 1 + in the
    year of age k (these hold only when the children followed up are the same: the truth
    filter drops the others)."""
    out = []
    at = {}
    for r in rows:
        at[(r["linkage_level"], r["birth_year"], r["source"], r["measure"], r["age"], r["group_type"], r["group"])] = r
    parts = defaultdict(list)
    for r in rows:
        if r["group_type"] in ("sex", "deprivation_decile", "county_fips"):
            parts[(r["linkage_level"], r["birth_year"], r["source"], r["measure"], r["age"], r["group_type"])].append(
                r["i"]
            )
    for (level, year, source, measure, age, _), cells in parts.items():
        total = at.get((level, year, source, measure, age, "all", "all"))
        if total is not None:
            out.append(([total["i"], *cells], [-1.0, *[1.0] * len(cells)]))
    for (level, year, source, measure, age, gt, g), r in at.items():
        if measure != "by_age":
            continue
        same_year = at.get((level, year, source, "in_year_of_age", age, gt, g))
        if age == 1 and same_year is not None:
            out.append(([r["i"], same_year["i"]], [1.0, -1.0]))
        before = at.get((level, year, source, "by_age", age - 1, gt, g))
        if before is not None and same_year is not None and before["population"] == r["population"]:
            out.append(([r["i"], before["i"], same_year["i"]], [-1.0, 1.0, 1.0]))
    return out


def recovered_in_package(tables: dict[str, tuple[pl.DataFrame, pl.DataFrame]], threshold: int) -> dict[str, list[int]]:
    """Hidden cells (rows per table) a reader pins from every table at once: each table's
    margins and the counts two tables both publish (community recurrence = the CFSR state row;
    community substantiations, hospitalisations and incidence = incidence.rates of the same
    children by age 5, where the populations show them to be the same children). `tables`:
    name (community, cfsr, incidence) -> (published, truth), truth in the same row order."""
    count_column = {"community": "count", "cfsr": "numerator", "incidence": "children"}
    population_column = {"community": "population", "cfsr": "denominator", "incidence": "population"}
    offset, start = 0, {}
    truth_count, pop, hidden, reason, rows = [], [], [], [], {}
    for name, (published, truth) in tables.items():
        start[name] = offset
        truth_count.append(truth[count_column[name]].to_numpy().astype(float))
        pop.append(published[population_column[name]].to_numpy().astype(float))
        hidden.append(published["suppressed"].fill_null(False).to_numpy())
        reason += published["suppression_reason"].to_list()
        rows[name] = [{**r, "i": offset + k} for k, r in enumerate(published.to_dicts())]
        offset += published.height
    equations = []
    if "community" in tables:
        base = start["community"]
        equations += [
            ([base + t, *(base + p for p in ps)], [-1.0, *[1.0] * len(ps)])
            for t, ps in margins_of(tables["community"][0])
        ]
    if "cfsr" in tables:
        equations += cfsr_equations(rows["cfsr"])
    if "incidence" in tables:
        equations += incidence_equations(rows["incidence"])
    if "community" in tables and "cfsr" in tables:
        state_row = {(r["period"], r["area"]): r["i"] for r in rows["cfsr"]}
        for r in rows["community"]:
            other = state_row.get((r["period"], r["geography_code"]))
            if r["indicator"] == "cfsr_recurrence" and other is not None:
                equations.append(([r["i"], other], [1.0, -1.0]))
    if "community" in tables and "incidence" in tables:
        five = {
            (r["linkage_level"], str(r["birth_year"]), r["source"], r["group_type"], r["group"]): r
            for r in rows["incidence"]
            if r["measure"] == "by_age" and r["age"] == 5
        }
        for r in rows["community"]:
            source = INCIDENCE_OF.get(r["indicator"])
            if source is None or r["geography_level"] == "postcode":
                continue
            if r["geography_level"] == "county":
                if r["group_type"] != "all":
                    continue
                group = ("county_fips", r["geography_code"][2:])
            else:
                group = (r["group_type"], r["group_value"])
            other = five.get((r["linkage_level"], r["period"], source, *group))
            if other is not None and other["population"] == r["population"]:
                equations.append(([r["i"], other["i"]], [1.0, -1.0]))
    found = _recover(
        np.concatenate(truth_count),
        np.concatenate(pop),
        np.concatenate(hidden),
        reason,
        np.ones(offset, dtype=bool),
        equations,
        threshold,
        False,
    )
    out = {name: [] for name in tables}
    for g in found:
        name = max((n for n in tables if start[n] <= g), key=lambda n: start[n])
        out[name].append(g - start[name])
    return out


def as_published(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as the package's CSV shows it to a reader: suppression_reason is not published
    (publish/package.py UNPUBLISHED_COLUMNS), so a hidden cell says only that it is hidden and
    its count is 0 to its population."""
    reason = pl.when(pl.col("suppressed").fill_null(False)).then(pl.lit("hidden")).otherwise(pl.lit(None, pl.String))
    return frame.with_columns(reason.alias("suppression_reason"))


def recovered_among(
    true_count, population, hidden, equations, threshold: int, reasons: list | None = None
) -> list[int]:
    """Hidden cells (indices) a reader pins from `equations` ((cells, coefficients): the sum
    is 0) over non-negative integers, each at most its population. `reasons` ("primary",
    "complementary" or None per cell) models a reader told which hidden cells are primary;
    None: a reader of the published package, who is not."""
    true_count = np.asarray(true_count, dtype=float)
    reasons = reasons if reasons is not None else [None] * len(true_count)
    return _recover(
        true_count,
        np.asarray(population, dtype=float),
        np.asarray(hidden, dtype=bool),
        reasons,
        np.ones(len(true_count), dtype=bool),
        equations,
        threshold,
        False,
    )
