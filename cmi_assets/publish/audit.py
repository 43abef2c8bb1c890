"""The exact audit of disclosure control: which hidden cells every integer solution of the
reader's system gives one value. The reader knows the published equations (sum(a * x) = 0 over
a margin's cells, shown cells as constants), a box of bounds per hidden cell, and that counts
are whole numbers. Interval propagation (disclosure._propagate) reasons one equation at a time,
so it misses a cell pinned only by several equations and the bounds together; integer
programming over each connected group of hidden cells does not.

A cell is cleared as soon as two integer solutions give it different values: the true counts
are one solution, and the integral vertices of linear programs with random objectives clear
most cells at once (for the margins of a hierarchical table they are mostly integral); a
mixed-integer program decides each cell still open, its maximum then its
minimum, and every solution it finds clears other cells too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix

# A bound a reader does not have (a count that is not of children under a population) is
# stood in for by a finite one far above every count, so that random objectives stay bounded;
# a smaller box can only make the audit find more pins, never fewer.
_FAR = 1e7
_LP_TRIES = 12
# Seconds one mixed-integer program may take; a cell it cannot decide in time counts as
# pinned, so the protector hides one more cell rather than publish an unproven one.
MILP_SECONDS = 60.0


def _hidden_rows(equations, hidden, count) -> tuple[np.ndarray, list[tuple[dict[int, float], float]]]:
    """The equations over the hidden cells alone: per equation {hidden position: coefficient}
    and the right-hand side the shown cells give."""
    idx = np.flatnonzero(hidden)
    pos = {int(c): k for k, c in enumerate(idx)}
    rows = []
    for cells, coefs in equations:
        acc: dict[int, float] = {}
        rhs = 0.0
        for c, a in zip(cells, coefs):
            if hidden[c]:
                acc[pos[c]] = acc.get(pos[c], 0.0) + a
            else:
                rhs -= a * count[c]
        acc = {k: a for k, a in acc.items() if a != 0}
        if acc:
            rows.append((acc, rhs))
    return idx, rows


def _components(n: int, rows) -> list[tuple[list[int], list[int]]]:
    """Connected groups of hidden positions (cells sharing an equation) with their equations."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for acc, _ in rows:
        first, *rest = acc
        for other in rest:
            ra, rb = find(other), find(first)
            if ra != rb:
                parent[ra] = rb
    cells: dict[int, list[int]] = {}
    for k in range(n):
        cells.setdefault(find(k), []).append(k)
    equations: dict[int, list[int]] = {}
    for r, (acc, _) in enumerate(rows):
        equations.setdefault(find(next(iter(acc))), []).append(r)
    return [(members, equations.get(root, [])) for root, members in cells.items()]


def _pinned_in(members, row_ids, rows, lo, hi, truth, rng) -> list[int]:
    """Positions (into `members`) of one component's cells that take a single value."""
    m = len(members)
    local = {k: j for j, k in enumerate(members)}
    data, indices, indptr, rhs = [], [], [0], []
    for r in row_ids:
        acc, b = rows[r]
        for k, a in acc.items():
            indices.append(local[k])
            data.append(a)
        indptr.append(len(indices))
        rhs.append(b)
    matrix = csr_matrix((data, indices, indptr), shape=(len(row_ids), m))
    rhs = np.array(rhs, dtype=float)
    lower, upper = lo[members], np.minimum(hi[members], _FAR)
    seen_lo = np.full(m, np.inf)
    seen_hi = np.full(m, -np.inf)

    def seen(x: np.ndarray) -> None:
        np.minimum(seen_lo, x, out=seen_lo)
        np.maximum(seen_hi, x, out=seen_hi)

    known = truth[members]
    if not np.isnan(known).any():
        seen(known)
    open_cells = np.ones(m, dtype=bool)
    for _ in range(_LP_TRIES):
        if not open_cells.any():
            break
        objective = np.where(open_cells, rng.choice([-1.0, 1.0], m), 0.0)
        result = linprog(
            objective,
            A_eq=matrix if len(row_ids) else None,
            b_eq=rhs if len(row_ids) else None,
            bounds=np.column_stack([lower, upper]),
            method="highs",
        )
        if result.status != 0:
            raise RuntimeError(f"disclosure audit: the reader's system is not solved ({result.message})")
        x = result.x
        if np.all(np.abs(x - np.round(x)) < 1e-9):
            seen(np.round(x))
            open_cells = seen_lo == seen_hi
    constraints = [LinearConstraint(matrix, rhs, rhs)] if len(row_ids) else []
    integral = np.ones(m)
    box = Bounds(lower, upper)
    pinned = []
    for j in np.flatnonzero(open_cells):
        if seen_lo[j] < seen_hi[j]:  # cleared by a solution found for another cell
            continue
        for sense in (-1.0, 1.0):  # the maximum, then the minimum
            objective = np.zeros(m)
            objective[j] = sense
            result = milp(
                objective,
                constraints=constraints,
                integrality=integral,
                bounds=box,
                options={"time_limit": MILP_SECONDS},
            )
            if result.status == 0:
                seen(np.round(result.x))
            elif result.status != 1:  # 1: out of time, undecided
                raise RuntimeError(f"disclosure audit: the reader's system is not solved ({result.message})")
            if seen_lo[j] < seen_hi[j]:
                break
        else:
            pinned.append(j)
    return pinned


def pinned_cells(
    equations: Sequence[tuple[Sequence[int], Sequence[float]]],
    hidden: np.ndarray,
    count: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    seed: int = 0,
) -> list[int]:
    """Hidden cells (indices) to which every integer solution of `equations` within the
    bounds `lo` to `hi` gives the same value. `count` holds the shown cells' values and, where
    known, the hidden ones' (NaN where a count was hidden upstream and is not at hand)."""
    hidden = np.asarray(hidden, dtype=bool)
    count = np.asarray(count, dtype=float)
    idx, rows = _hidden_rows(equations, hidden, count)
    if len(idx) == 0:
        return []
    truth = count[idx]
    lo, hi = np.asarray(lo, dtype=float)[idx], np.asarray(hi, dtype=float)[idx]
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for members, row_ids in _components(len(idx), rows):
        out.extend(int(idx[members[j]]) for j in _pinned_in(members, row_ids, rows, lo, hi, truth, rng))
    return sorted(out)
