"""The project's one disclosure-control rule: primary suppression of small cells and
complementary suppression across every published margin, so that a reader who solves the
published margins (linear equalities over non-negative integers) recovers no hidden cell.

Primary: a cell whose population (denominator) is 1 to SUPPRESS_BELOW - 1, or whose count is
1 to SUPPRESS_BELOW - 1 (a small count of a sensitive event identifies children). A zero count
in a population of SUPPRESS_BELOW or more shows (it discloses nothing about a child), and so
does an empty cell (population 0: nothing to disclose). SUPPRESS_BELOW is 11 unless the
environment variable CMI_SUPPRESS_BELOW sets it.

Complementary: every margin (a total and the parts that sum to it) is an equation; a hidden cell
must not be determined by them. `protect_cells` adds hidden cells until (1) no equation holds
exactly one hidden cell, (2) no hidden cell is fixed by the equations alone (its unit vector is
not in the row space of the equations restricted to the hidden cells: a linear-algebra check
over all equations at once), (3) interval propagation over the equations, with the bounds a
reader knows (a primary cell of a large population holds 1 to SUPPRESS_BELOW - 1, a
complementary one 0 or SUPPRESS_BELOW and more, none more than its population when the count
is a count of children), fixes no hidden cell, and (4) integer programming over each connected
group of hidden cells (publish/audit.py) finds no hidden cell that every whole-number solution
within those bounds gives one value: propagation reasons one equation at a time and misses a
cell pinned by several together. A fixed cell is freed by hiding the nearest
shown cell, through the equations and the hidden cells between, that can move the way the fixed
cell needs (a total shown as 0 pins its parts from above: only hiding that total, or a cell
above it, frees them); where no such cell is reachable, the nearest shown cell is hidden whatever
it can do, and the walk goes on past it. A cell published in two tables is one cell
(one variable): it is hidden in both or shown in both. `protect_tables` protects several tables
together (each a CellTable: counts, populations, margins, and a key per cell naming the cells
it shares with another table); `protect_cells` and `protect_indicator_table` are the one-table
forms of the same rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

ENV_THRESHOLD = "CMI_SUPPRESS_BELOW"
DEFAULT_SUPPRESS_BELOW = 11
PRIMARY = "primary"
COMPLEMENTARY = "complementary"


def threshold_from_env() -> int:
    """SUPPRESS_BELOW as configured: CMI_SUPPRESS_BELOW (an integer of 2 or more) or 11."""
    raw = os.environ.get(ENV_THRESHOLD, "").strip()
    if not raw:
        return DEFAULT_SUPPRESS_BELOW
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_THRESHOLD}={raw!r} is not an integer") from exc
    if value < 2:
        raise ValueError(f"{ENV_THRESHOLD}={value} is under 2 (1 would suppress nothing)")
    return value


SUPPRESS_BELOW = threshold_from_env()


def primary_mask(count: np.ndarray, population: np.ndarray, threshold: int = SUPPRESS_BELOW) -> np.ndarray:
    """True where the cell is primary-suppressed (see the module docstring); a null count or
    population (nothing counted) is not a small cell."""
    count = np.asarray(count, dtype=float)
    population = np.asarray(population, dtype=float)
    small_pop = (population >= 1) & (population < threshold)
    small_count = (count >= 1) & (count < threshold)
    return np.nan_to_num(small_pop, nan=0).astype(bool) | np.nan_to_num(small_count, nan=0).astype(bool)


@dataclass(frozen=True)
class Margin:
    """A published equation: the cells `parts` sum to the cell `total` (indices of cells)."""

    total: int
    parts: tuple[int, ...]


def _bounds(count, population, reason, threshold, bounded):
    lo = np.zeros(len(count))
    hi = np.where(bounded & ~np.isnan(population), population.astype(float), np.inf)
    primary_big = (reason == 1) & (population >= threshold)
    lo[primary_big] = 1
    hi[primary_big] = np.minimum(hi[primary_big], threshold - 1)
    # A complementary cell is 0 or >= threshold; a nonzero one is known to be >= threshold.
    comp_big = (reason == 2) & (count >= threshold)
    lo[comp_big] = threshold
    return lo, hi


def _propagate(equations, hidden, count, lo, hi, rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Interval propagation: each equation sum(a_j x_j) = 0 tightens each hidden x_i from the
    others' bounds (shown cells are constants)."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(rounds):
        changed = False
        for cells, coefs in equations:
            h = [(c, a) for c, a in zip(cells, coefs) if hidden[c]]
            if not h:
                continue
            known = sum(a * count[c] for c, a in zip(cells, coefs) if not hidden[c])
            # sum over hidden of a*x = -known
            mins = [a * lo[c] if a > 0 else a * hi[c] for c, a in h]
            maxs = [a * hi[c] if a > 0 else a * lo[c] for c, a in h]
            smin, smax = sum(mins), sum(maxs)
            for k, (c, a) in enumerate(h):
                rest_min, rest_max = smin - mins[k], smax - maxs[k]
                # a*x_c = -known - rest
                v_lo, v_hi = -known - rest_max, -known - rest_min
                x_lo, x_hi = (v_lo, v_hi) if a > 0 else (-v_hi, -v_lo)
                x_lo, x_hi = np.ceil(x_lo - 1e-9), np.floor(x_hi + 1e-9)
                if x_lo > lo[c]:
                    lo[c], changed = x_lo, True
                if x_hi < hi[c]:
                    hi[c], changed = x_hi, True
        if not changed:
            break
    return lo, hi


def _determined(equations, hidden, n: int) -> np.ndarray:
    """Hidden cells fixed by the equations alone (whatever the bounds)."""
    idx = np.flatnonzero(hidden)
    out = np.zeros(n, dtype=bool)
    if len(idx) == 0:
        return out
    pos = {c: k for k, c in enumerate(idx)}
    rows = []
    for cells, coefs in equations:
        row = np.zeros(len(idx))
        for c, a in zip(cells, coefs):
            if hidden[c]:
                row[pos[c]] += a
        if row.any():
            rows.append(row)
    if not rows:
        return out  # no equation holds a hidden cell: none is fixed
    matrix = np.array(rows)
    _, s, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int((s > 1e-9 * max(1.0, s.max(initial=0))).sum())
    null = vt[rank:]
    free = np.abs(null).max(axis=0) > 1e-9 if len(null) else np.zeros(len(idx), dtype=bool)
    out[idx[~free]] = True
    return out


Equation = tuple[tuple[int, ...], tuple[int, ...]]  # cells and integer coefficients: sum(a * x) = 0


def equation(cells: Sequence[int], coefs: Sequence[int]) -> Equation:
    """One equation with each cell once (coefficients of a repeated cell added, zeros dropped:
    a margin whose total is also one of its parts says the other parts are 0)."""
    summed: dict[int, int] = {}
    for c, a in zip(cells, coefs):
        summed[int(c)] = summed.get(int(c), 0) + int(a)
    kept = [(c, a) for c, a in summed.items() if a != 0]
    return tuple(c for c, _ in kept), tuple(a for _, a in kept)


def margin_equations(margins: Sequence[Margin]) -> list[Equation]:
    """total = sum(parts) as -total + parts = 0, in one order whatever the margins' order (they
    are often built by a group_by, whose order varies from run to run)."""
    return canonical_equations(equation((m.total, *m.parts), (-1, *([1] * len(m.parts)))) for m in margins)


def canonical_equations(equations) -> list[Equation]:
    """Each equation's cells in ascending order and the equations sorted: which cell
    complementary suppression hides among equal choices follows the order it meets them in,
    so the same table must give the same order on every run."""
    ordered = []
    for cells, coefs in equations:
        pairs = sorted(zip(cells, coefs))
        ordered.append((tuple(c for c, _ in pairs), tuple(a for _, a in pairs)))
    return sorted(ordered)


def canonical_order(frame: pl.DataFrame) -> np.ndarray:
    """Row positions of `frame` in one order that does not depend on how it was built or read
    (sorted by every column that is not a float or a list), for the same reason."""
    columns = [c for c, t in frame.schema.items() if t.is_integer() or t.is_temporal() or t in (pl.String, pl.Boolean)]
    return frame.with_row_index("_row").sort(columns, nulls_last=True, maintain_order=True)["_row"].to_numpy()


def in_order(order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Values computed on frame[order] put back in the frame's own row order."""
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def protect_cells(
    count: Sequence[int],
    population: Sequence[int],
    margins: Sequence[Margin],
    *,
    threshold: int = SUPPRESS_BELOW,
    already: Sequence[bool] | None = None,
    exact: bool = True,
) -> np.ndarray:
    """Reason per cell: 0 shown, 1 primary, 2 complementary. `margins` are the published
    equations; `already` marks cells hidden by an earlier pass (kept hidden, as complementary
    unless primary here)."""
    count = np.asarray(count, dtype=float)
    population = np.asarray(population, dtype=float)
    reason = np.where(primary_mask(count, population, threshold), 1, 0)
    if already is not None:
        reason = np.where((np.asarray(already, dtype=bool)) & (reason == 0), 2, reason)
    bounded = np.full(len(count), bool(np.all(np.nan_to_num(count) <= np.nan_to_num(population))))
    return _protect(count, population, margin_equations(margins), reason, bounded, threshold, exact)


def _pins(equations, hidden, count, population, reason, bounded, threshold, exact) -> dict[int, tuple[int, ...]]:
    """Hidden cells a reader fixes, each with the ways it is pinned (1: cannot rise, -1: cannot
    fall, 0: either way): by the equations alone; else by interval propagation within the
    reader's bounds; else, when `exact`, by integer programming (publish/audit.py), which
    finds what propagation one equation at a time misses."""
    n = len(count)
    pins = {int(c): (0,) for c in np.flatnonzero(_determined(equations, hidden, n))}
    if pins:
        return pins
    lo, hi = _bounds(count, population, reason, threshold, bounded)
    lo2, hi2 = _propagate(equations, hidden, count, lo, hi)
    for c in np.flatnonzero(hidden & (lo2 >= hi2)):
        # pinned from above (cannot rise), from below (cannot fall), or both
        pins[int(c)] = tuple(d for d, pinned in ((1, hi2[c] < hi[c]), (-1, lo2[c] > lo[c])) if pinned) or (0,)
    if pins or not exact:
        return pins
    # scipy loads only here, when a table is protected, not when the code location loads
    from cmi_assets.publish.audit import pinned_cells

    return {c: (0,) for c in pinned_cells(equations, hidden, count, lo2, hi2)}


def _protect(count, population, equations: list[Equation], reason, bounded, threshold, exact=True) -> np.ndarray:
    """Complementary suppression: `reason` (0 shown, 1 primary, 2 hidden by an earlier pass or
    complementary) grown until no hidden cell is fixed by `equations` (module docstring). A
    hidden cell's count may be NaN (hidden upstream, not at hand): only shown counts are read.
    `exact=False` leaves out the integer-programming audit (to measure what it adds)."""
    n = len(count)
    reason = np.asarray(reason).copy()
    by_cell: dict[int, list[int]] = {}
    for e, (cells, _) in enumerate(equations):
        for c in cells:
            by_cell.setdefault(c, []).append(e)
    is_total = np.zeros(n, dtype=bool)
    for cells, coefs in equations:
        for c, a in zip(cells, coefs):
            if a < 0:
                is_total[c] = True

    def hide_one_more(e: int) -> bool:
        cells = equations[e][0]
        shown = [c for c in cells if reason[c] == 0]
        if not shown:
            return False

        reason[min(shown, key=cost)] = 2
        return True

    def can_move(c, direction) -> bool:
        """Whether hiding shown cell c (as complementary) lets it move `direction` (0: either)
        from its count within the bounds a reader then knows."""
        up = not bounded[c] or population[c] > count[c] or np.isnan(population[c])
        down = count[c] > (threshold if count[c] >= threshold else 0)
        return (direction >= 0 and up) or (direction <= 0 and down)

    def relax(c: int, directions, helped: set[int]) -> bool:
        """Hide the nearest shown cell whose hiding loosens what pins hidden cell c: a
        breadth-first walk from c through the equations and their hidden cells, each cell with
        the direction it must move for c to move (a part moves against its siblings and with
        its total). A total shown as 0 pins every part under it from above, so hiding another
        part of it frees nothing: the walk skips cells that could not move the way needed.
        True when a cell was hidden (or one hidden this round for another cell is reached)."""
        frontier = [(c, d) for d in directions]
        seen = set(frontier)
        while frontier:
            candidates, following = [], []
            for cell, d in frontier:
                for e in by_cell.get(cell, []):
                    cells, coefs = equations[e]
                    a_cell = coefs[cells.index(cell)]
                    for j, a_j in zip(cells, coefs):
                        if j == cell:
                            continue
                        dj = -d if (a_j > 0) == (a_cell > 0) else d
                        if j in helped:
                            return True
                        if reason[j] == 0:
                            if can_move(j, dj):
                                candidates.append(j)
                        elif (j, dj) not in seen:
                            seen.add((j, dj))
                            following.append((j, dj))
            if candidates:
                chosen = min(candidates, key=cost)
                reason[chosen] = 2
                helped.add(int(chosen))
                return True
            frontier = following
        return False

    def hide_nearest(c: int) -> bool:
        """Hide the nearest shown cell to hidden cell c through the equations, whether or not
        it can move itself: no shown cell that can move the needed way is reachable (a shown
        total whose count is the sum of its parts' populations pins them, and so may its own
        total), so the walk goes on past the cell hidden now on the next round."""
        frontier, seen = [c], {c}
        while frontier:
            shown = {j for cell in frontier for e in by_cell.get(cell, []) for j in equations[e][0] if reason[j] == 0}
            if shown:
                reason[min(shown, key=cost)] = 2
                return True
            following = {j for cell in frontier for e in by_cell.get(cell, []) for j in equations[e][0]} - seen
            seen |= following
            frontier = list(following)
        return False

    def cost(c):
        # Prefer a part over a total (a hidden total spreads to its own margins), a count of
        # threshold + 1 or more (movable both ways), then the smallest count (least lost).
        return (bool(is_total[c]), count[c] <= threshold, count[c] == 0, count[c])

    for _ in range(10 * n + 10):
        hidden = reason > 0
        lonely = [e for e, (cells, _) in enumerate(equations) if sum(hidden[c] for c in cells) == 1]
        if lonely:
            grew = False
            for e in lonely:
                if sum(reason[c] > 0 for c in equations[e][0]) == 1:
                    grew = hide_one_more(e) or grew
            if grew:
                continue
        pins = _pins(equations, hidden, count, population, reason, bounded, threshold, exact)
        if not pins:
            break
        helped: set[int] = set()
        progressed = False
        for c, directions in pins.items():
            progressed = relax(c, directions, helped) or progressed
        if not progressed and not any(hide_nearest(c) for c in pins):
            break
    return reason


@dataclass(frozen=True)
class CellTable:
    """One published table as disclosure control sees it: a count and a population per row,
    its margins (row indices), and per row a key naming the cell: rows with one key, in this
    table or another, are the same count published twice (one variable: hidden in all or
    shown in all). `already`: 0 shown, 1 primary, 2 complementary from an earlier pass (a
    count hidden upstream may be NaN). `bounded`: no count exceeds its population (counts
    of children among children)."""

    count: np.ndarray
    population: np.ndarray
    margins: Sequence[Margin]
    keys: Sequence[object] | None = None
    already: np.ndarray | None = None
    bounded: bool = True


class _Sets:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def protect_tables(
    tables: Sequence[CellTable], *, threshold: int = SUPPRESS_BELOW, exact: bool = True
) -> list[np.ndarray]:
    """Reason per row of each table (0 shown, 1 primary, 2 complementary), every table
    protected together: a cell published in several tables is one variable, and every
    table's margins constrain it. Independent groups of cells (no margin or key joins them)
    are protected one at a time."""
    sizes = [len(t.count) for t in tables]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(offsets[-1])
    count = np.concatenate([np.asarray(t.count, dtype=float) for t in tables]) if n else np.zeros(0)
    population = np.concatenate([np.asarray(t.population, dtype=float) for t in tables]) if n else np.zeros(0)
    earlier = np.zeros(n, dtype=np.int64)
    bounded_row = np.zeros(n, dtype=bool)
    same = _Sets(n)
    first_of: dict[object, int] = {}
    for t, table in enumerate(tables):
        lo, hi = offsets[t], offsets[t + 1]
        if table.already is not None:
            earlier[lo:hi] = np.asarray(table.already, dtype=np.int64)
        bounded_row[lo:hi] = table.bounded
        for r, key in enumerate(table.keys or ()):
            if key is not None:
                same.join(first_of.setdefault(key, lo + r), lo + r)
    roots = np.array([same.find(g) for g in range(n)], dtype=np.int64)
    var_ids, var_of = np.unique(roots, return_inverse=True)
    m = len(var_ids)
    v_count, v_pop = np.full(m, np.nan), np.full(m, np.nan)
    v_reason, v_bounded = np.zeros(m, dtype=np.int64), np.ones(m, dtype=bool)
    for g in range(n):
        v = var_of[g]
        for values, value in ((v_count, count[g]), (v_pop, population[g])):
            if not np.isnan(value):
                if not np.isnan(values[v]) and values[v] != value:
                    raise ValueError(
                        f"cells published as one differ ({values[v]:g} and {value:g}): rows {g} of the package"
                    )
                values[v] = value
        # a primary anywhere is primary everywhere
        if earlier[g] == 1 or (earlier[g] == 2 and v_reason[v] == 0):
            v_reason[v] = earlier[g]
        v_bounded[v] &= bounded_row[g]
    equations = []
    for t, table in enumerate(tables):
        for cells, coefs in margin_equations(table.margins):
            eq = equation([var_of[offsets[t] + c] for c in cells], coefs)
            if eq[0]:
                equations.append(eq)
    equations = canonical_equations(equations)
    primary = primary_mask(v_count, v_pop, threshold)
    v_reason = np.where(primary, 1, v_reason)
    groups = _Sets(m)
    for cells, _ in equations:
        for c in cells[1:]:
            groups.join(cells[0], c)
    group_of = np.array([groups.find(v) for v in range(m)], dtype=np.int64)
    by_group: dict[int, list[int]] = {}
    for e, (cells, _) in enumerate(equations):
        by_group.setdefault(int(group_of[cells[0]]), []).append(e)
    reason = v_reason.copy()
    for g in np.unique(group_of[v_reason > 0]):
        cells = np.flatnonzero(group_of == g)
        local = {int(c): k for k, c in enumerate(cells)}
        sub = [(tuple(local[c] for c in cs), coefs) for cs, coefs in (equations[e] for e in by_group.get(int(g), []))]
        reason[cells] = _protect(v_count[cells], v_pop[cells], sub, v_reason[cells], v_bounded[cells], threshold, exact)
    out = reason[var_of]
    return [out[offsets[t] : offsets[t + 1]] for t in range(len(tables))]


# The long indicator table of issue 15's contract.
INDICATOR_BLOCK = ("indicator", "linkage_level", "period")
RATE_COLUMNS = ("rate_per_1000", "rate_lower", "rate_upper", "smoothed_rate_per_1000")
ADDITIVE_GROUP_TYPES = ("sex", "deprivation_decile")


def indicator_margins(frame: pl.DataFrame) -> list[Margin]:
    """The published equations of the long indicator table (row indices of `frame`): within an
    area, the sex and deprivation-decile values sum to the "all" row (ethnicity is total
    response and does not); within a group, counties sum to the state and a county's
    postcodes to the county."""
    keyed = frame.with_row_index("_cell").select(
        "_cell", *INDICATOR_BLOCK, "geography_level", "geography_code", "parent_code", "group_type", "group_value"
    )
    margins: list[Margin] = []
    area = [*INDICATOR_BLOCK, "geography_level", "geography_code"]
    totals = keyed.filter(pl.col("group_type") == "all").select(*area, pl.col("_cell").alias("_total"))
    parts = (
        keyed.filter(pl.col("group_type").is_in(ADDITIVE_GROUP_TYPES))
        .join(totals, on=area, how="inner", nulls_equal=True)
        .group_by(*area, "group_type", "_total")
        .agg(pl.col("_cell"))
    )
    margins += [Margin(int(t), tuple(int(c) for c in cs)) for t, cs in zip(parts["_total"], parts["_cell"])]
    group = [*INDICATOR_BLOCK, "group_type", "group_value"]
    for child, parent in (("county", "state"), ("postcode", "county")):
        parents = keyed.filter(pl.col("geography_level") == parent).select(
            *group, pl.col("geography_code").alias("parent_code"), pl.col("_cell").alias("_total")
        )
        kids = (
            keyed.filter(pl.col("geography_level") == child)
            .join(parents, on=[*group, "parent_code"], how="inner", nulls_equal=True)
            .group_by(*group, "parent_code", "_total")
            .agg(pl.col("_cell"))
        )
        margins += [Margin(int(t), tuple(int(c) for c in cs)) for t, cs in zip(kids["_total"], kids["_cell"])]
    return margins


def apply_reasons(
    frame: pl.DataFrame, reason: np.ndarray, hide: Sequence[str], *, reliability: str | None = None
) -> pl.DataFrame:
    """`suppressed`, `suppression_reason` set from `reason` (0/1/2) and the `hide` columns nulled
    where suppressed; `reliability` (when given) reads "suppressed" there."""
    suppressed = pl.Series("suppressed", reason > 0)
    label = pl.Series(
        "suppression_reason", [PRIMARY if r == 1 else COMPLEMENTARY if r == 2 else None for r in reason], pl.String
    )
    out = frame.with_columns(suppressed, label)
    nulled = [pl.when(~pl.col("suppressed")).then(pl.col(c)).alias(c) for c in hide if c in out.columns]
    if reliability and reliability in out.columns:
        nulled.append(
            pl.when(pl.col("suppressed")).then(pl.lit("suppressed")).otherwise(pl.col(reliability)).alias(reliability)
        )
    return out.with_columns(nulled)


def indicator_cells(frame: pl.DataFrame, keys: Sequence[object] | None = None) -> CellTable:
    """The long indicator table as a CellTable: its margins (indicator_margins), and cells
    already hidden by an earlier pass where it carries `suppressed` and `suppression_reason`."""
    already = None
    if "suppression_reason" in frame.columns and frame["suppression_reason"].null_count() < frame.height:
        already = frame["suppression_reason"].replace_strict({PRIMARY: 1, COMPLEMENTARY: 2}, default=0).to_numpy()
    return CellTable(
        frame["count"].to_numpy().astype(float),
        frame["population"].to_numpy().astype(float),
        indicator_margins(frame),
        keys=keys,
        already=already,
    )


def protect_indicator_table(frame: pl.DataFrame, *, threshold: int = SUPPRESS_BELOW) -> pl.DataFrame:
    """The long indicator table (issue 15's contract, `count` and `population` filled) with
    `suppressed` and `suppression_reason` set and count and every rate column nulled where
    suppressed (population stays shown; `reliability` reads "suppressed" there)."""
    if frame.is_empty():
        return frame.with_columns(
            pl.lit(None, pl.Boolean).alias("suppressed"), pl.lit(None, pl.String).alias("suppression_reason")
        )
    order = canonical_order(frame)
    cells = indicator_cells(frame[order].with_columns(pl.lit(None, pl.String).alias("suppression_reason")))
    (reason,) = protect_tables([cells], threshold=threshold)
    return apply_reasons(frame, in_order(order, reason), ("count", *RATE_COLUMNS), reliability="reliability")
