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

The margins are written here from the table's columns, not with publish/disclosure.py's code.
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
    true_count = truth["count"].to_numpy().astype(float)
    pop = published["population"].to_numpy().astype(float)
    hidden = published["suppressed"].fill_null(False).to_numpy()
    reason = published["suppression_reason"].to_list()
    indicator = published["indicator"].to_list()
    counts_children = {ind: bool((g["count"] <= g["population"]).all()) for (ind,), g in truth.group_by("indicator")}
    margins = [(t, ps) for t, ps in margins_of(published) if true_count[t] == true_count[ps].sum()]
    idx = np.flatnonzero(hidden)
    if len(idx) == 0:
        return []
    pos = {int(c): k for k, c in enumerate(idx)}
    n = len(idx)
    # Variables: x (n hidden counts), then z (n binaries, used by complementary cells only).
    lo, hi = np.zeros(2 * n), np.zeros(2 * n)
    for k, c in enumerate(idx):
        upper = pop[c] if counts_children[indicator[c]] else 1e9
        hi[k] = upper
        if reason[c] == "primary" and pop[c] >= threshold:
            lo[k], hi[k] = 1, min(upper, threshold - 1)
        if complementary_is_large and reason[c] == "complementary":
            hi[n + k] = 1
    a_rows, a_lo, a_hi = [], [], []
    for total, parts in margins:
        row = np.zeros(2 * n)
        rhs = 0.0
        for c, sign in ((total, -1.0), *((p, 1.0) for p in parts)):
            if hidden[c]:
                row[pos[c]] += sign
            else:
                rhs -= sign * true_count[c]
        if row.any():
            a_rows.append(row)
            a_lo.append(rhs)
            a_hi.append(rhs)
    for k, c in enumerate(idx):
        if complementary_is_large and reason[c] == "complementary":
            # x = 0 when z = 0; threshold <= x <= population when z = 1.
            for coefs, low, high in (((1, -threshold), 0, np.inf), ((1, -hi[k]), -np.inf, 0)):
                row = np.zeros(2 * n)
                row[k], row[n + k] = coefs
                a_rows.append(row)
                a_lo.append(low)
                a_hi.append(high)
    truth_x = true_count[idx]
    assert np.all(truth_x >= lo[:n]) and np.all(truth_x <= hi[:n]), "the reader's bounds exclude the truth"
    matrix = np.array(a_rows) if a_rows else np.zeros((0, 2 * n))
    truth_z = (truth_x >= threshold).astype(float)
    out = []
    for cells in components(matrix, n):
        pinned = pinned_in_component(cells, matrix, np.array(a_lo), np.array(a_hi), lo, hi, truth_x, truth_z, n)
        out.extend(int(idx[k]) for k in pinned)
    return sorted(out)


def components(matrix: np.ndarray, n: int) -> list[list[int]]:
    """Hidden cells that share a margin (a cell and its binary are one), as groups: margins
    never tie one group to another, so each is solved alone."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for row in matrix:
        cells = sorted({int(j) % n for j in np.flatnonzero(row)})
        for other in cells[1:]:
            parent[find(other)] = find(cells[0])
    groups = defaultdict(list)
    for k in range(n):
        groups[find(k)].append(k)
    return list(groups.values())


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
