"""publish/audit.py against enumeration of every integer solution, and the pins that interval
propagation one equation at a time cannot see."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from cmi_assets.publish.audit import pinned_cells
from cmi_assets.publish.disclosure import RATE_COLUMNS, _propagate, equation, protect_indicator_table
from cmi_assets_tests.publish.attacker import recovered_cells
from cmi_assets_tests.publish.worlds import children_frame, long_table

T = 11


def system(truth: list[int], sums: list[list[int]]):
    """Hidden cells 0..h-1 with true values `truth`; each entry of `sums` is a margin over
    hidden cells whose total is a shown cell (appended after them)."""
    h = len(truth)
    count = np.array([*truth, *(sum(truth[c] for c in cells) for cells in sums)], dtype=float)
    equations = [equation([*cells, h + i], [1] * len(cells) + [-1]) for i, cells in enumerate(sums)]
    hidden = np.array([True] * h + [False] * len(sums))
    return equations, hidden, count


def enumerated_pins(truth, sums, upper: int) -> list[int]:
    solutions = np.array(
        [
            x
            for x in itertools.product(range(upper + 1), repeat=len(truth))
            if all(sum(x[c] for c in cells) == sum(truth[c] for c in cells) for cells in sums)
        ]
    )
    return [j for j in range(len(truth)) if solutions[:, j].min() == solutions[:, j].max()]


def test_pins_equal_enumeration_of_every_solution():
    rng = np.random.default_rng(3)
    upper, with_pins = 3, 0
    for _ in range(300):
        h = int(rng.integers(3, 6))
        truth = rng.integers(0, upper + 1, h).tolist()
        sums = [
            sorted(rng.choice(h, int(rng.integers(2, h + 1)), replace=False).tolist())
            for _ in range(int(rng.integers(1, 4)))
        ]
        equations, hidden, count = system(truth, sums)
        lo = np.zeros(len(count))
        hi = np.where(hidden, upper, count)
        expected = enumerated_pins(truth, sums, upper)
        assert pinned_cells(equations, hidden, count, lo, hi) == expected, (truth, sums)
        with_pins += bool(expected)
    assert with_pins > 30  # the draw holds many systems with pinned cells


def test_finds_a_pin_that_propagation_misses():
    # x0 + x1 = 1 and x0 + x1 + x2 + x3 = 7 with every cell at most 3: x2 + x3 = 6, so both
    # are 3, but no single equation says so
    equations, hidden, count = system([0, 1, 3, 3], [[0, 1], [0, 1, 2, 3]])
    lo, hi = np.zeros(6), np.array([3, 3, 3, 3, count[4], count[5]], dtype=float)
    lo2, hi2 = _propagate(equations, hidden, count, lo, hi)
    assert (lo2[:4] < hi2[:4]).all()
    assert pinned_cells(equations, hidden, count, lo2, hi2) == [2, 3]
    # a count hidden upstream (not at hand) is a free variable, not a known solution
    count[0] = np.nan
    assert pinned_cells(equations, hidden, count, lo2, hi2) == [2, 3]


def full_county_world() -> pl.DataFrame:
    """County 09005's girls are all counted (11 of 11) in two small postcodes (3 of 3 and 8 of
    8): once both postcodes are hidden, the county's shown count, the sum of their
    populations, pins each at its population, and hiding the county's girls alone does not
    free them (a complementary count of 11 cannot fall under the threshold)."""
    rows = []
    for county, postcode, sex, n, events in (
        ("09005", "50000", "F", 3, 3),
        ("09005", "50000", "M", 27, 27),
        ("09005", "50001", "F", 8, 8),
        ("09005", "50001", "M", 20, 10),
        ("09001", "10000", "F", 30, 5),
        ("09001", "10000", "M", 30, 15),
    ):
        for i in range(n):
            rows.append((county, postcode, sex, 1 + int(postcode[-1]), int(i < events)))
    return long_table(children_frame(rows))


def test_a_total_equal_to_its_parts_populations_is_not_left_pinning_them():
    truth = full_county_world()
    published = protect_indicator_table(truth, threshold=T)
    assert recovered_cells(published, truth, T) == []
    hidden = published.filter(pl.col("suppressed"))
    assert hidden.select(["count", *RATE_COLUMNS]).null_count().row(0) == (hidden.height,) * (1 + len(RATE_COLUMNS))
