"""The package's tables protected together (publish/tables.py, publish/disclosure.py's
protect_tables): community indicators, CFSR recurrence and incidence rates of one synthetic
cohort built by the project's own functions, read together by the reader of attacker.py."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cmi_assets.publish.disclosure import (
    RATE_COLUMNS,
    CellTable,
    Margin,
    apply_reasons,
    indicator_cells,
    primary_mask,
    protect_tables,
)
from cmi_assets.publish.tables import (
    CFSR_HIDE,
    INCIDENCE_HIDE,
    cfsr_cells,
    community_keys,
    incidence_cells,
    protect_together,
)
from cmi_assets_tests.publish.attacker import recovered_in_package
from cmi_assets_tests.publish.worlds import linked_world

T = 11
COUNT = {"community": "count", "cfsr": "numerator", "incidence": "children"}
POPULATION = {"community": "population", "cfsr": "denominator", "incidence": "population"}


def primary_only(stored: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Each table as its group stored it, and every small count hidden: no complementary
    suppression across the tables."""
    out = {}
    for name, frame in stored.items():
        small = primary_mask(frame[COUNT[name]].to_numpy(), frame[POPULATION[name]].to_numpy(), T)
        earlier = frame["suppression_reason"].replace_strict({"primary": 1, "complementary": 2}, default=0).to_numpy()
        reason = np.where(small, 1, earlier)
        hide = {"community": ("count", "rate_per_1000"), "cfsr": CFSR_HIDE, "incidence": INCIDENCE_HIDE}[name]
        out[name] = apply_reasons(frame, reason, hide)
    return out


@pytest.fixture(scope="module")
def worlds():
    return [linked_world(seed) for seed in (0, 1)]


def test_shared_cells_are_found_and_equal_in_the_truth(worlds):
    truth = worlds[0].truth
    keys = community_keys(truth["community"], truth["incidence"])
    linked = [k for k in keys if k is not None]
    assert any(k[0] == "cfsr" for k in linked) and any(k[0] == "incidence" for k in linked)
    # counties (every child of a county has an area) and deciles link to incidence.rates
    assert {k[6] for k in linked if k[0] == "incidence"} >= {"county_fips", "deprivation_decile"}
    # protect_tables refuses linked cells that differ: on the truth, none do
    cells = [
        CellTable(
            truth["community"]["count"].to_numpy().astype(float),
            truth["community"]["population"].to_numpy().astype(float),
            [],
            keys=keys,
        ),
        cfsr_cells(truth["cfsr"]),
        incidence_cells(truth["incidence"]),
    ]
    protect_tables(cells, threshold=T)
    # the state's children (some have no area) are not the incidence table's: not linked
    state_all = truth["community"].with_row_index("i").filter(
        (pl.col("indicator") == "substantiations") & (pl.col("geography_level") == "state")
        & (pl.col("group_type") == "all")
    )  # fmt: skip
    assert keys[state_all["i"][0]] is None


def test_cells_published_twice_must_agree():
    a = CellTable(np.array([5.0, 20.0]), np.array([100.0, 100.0]), [], keys=["x", None])
    b = CellTable(np.array([6.0]), np.array([100.0]), [], keys=["x"])
    with pytest.raises(ValueError, match="differ"):
        protect_tables([a, b], threshold=T)


def test_a_shared_cell_is_hidden_in_both_tables():
    # table a: total 40 = 3 + 37; table b republishes a's 37 beside its own margin 37 = 30 + 7
    a = CellTable(np.array([40.0, 3, 37]), np.array([400.0, 200, 200]), [Margin(0, (1, 2))], keys=[None, None, "s"])
    b = CellTable(np.array([37.0, 30, 7]), np.array([200.0, 150, 50]), [Margin(0, (1, 2))], keys=["s", None, None])
    ra, rb = protect_tables([a, b], threshold=T)
    assert ra[1] == 1 and rb[2] == 1  # the primaries
    assert (ra[2] > 0) == (rb[0] > 0)  # the shared cell: hidden in both or shown in both
    assert ra[2] > 0 or ra[0] > 0


def test_no_cell_recovered_from_every_table_together(worlds):
    for w in worlds:
        stored, truth = w.stored, w.truth
        published = protect_together(stored["community"], stored["cfsr"], stored["incidence"], threshold=T)
        assert sum(int(f["suppressed"].sum()) for f in published.values()) > 0
        recovered = recovered_in_package({n: (published[n], truth[n]) for n in published}, T)
        assert recovered == {"community": [], "cfsr": [], "incidence": []}
        # what the tables showed stays as it was, or is hidden now; nothing hidden comes back
        for name, frame in published.items():
            before = stored[name]["suppressed"].fill_null(False).to_numpy()
            assert np.all(frame["suppressed"].to_numpy()[before])
            shown = ~frame["suppressed"].to_numpy()
            assert np.array_equal(
                frame[COUNT[name]].to_numpy()[shown], truth[name][COUNT[name]].to_numpy().astype(float)[shown]
            )


def test_primary_suppression_alone_leaks_across_the_tables(worlds):
    leaked = 0
    for w in worlds:
        stored, truth = w.stored, w.truth
        published = primary_only(stored)
        recovered = recovered_in_package({n: (published[n], truth[n]) for n in published}, T)
        leaked += sum(len(v) for v in recovered.values())
        # the CFSR state with 3 recurrences in 150 children: the pooled rows give it back
        assert recovered["cfsr"], "primary suppression alone should leak the small CFSR numerator"
    assert leaked > 0


def protected_alone(stored: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Each table protected by the same function, but alone: its own margins, no shared cells."""
    build = {"community": indicator_cells, "cfsr": cfsr_cells, "incidence": incidence_cells}
    hide = {"community": ("count", *RATE_COLUMNS), "cfsr": CFSR_HIDE, "incidence": INCIDENCE_HIDE}
    out = {}
    for name, frame in stored.items():
        cells = build[name](frame)
        (reason,) = protect_tables([CellTable(cells.count, cells.population, cells.margins, already=cells.already)])
        out[name] = apply_reasons(frame, reason, hide[name])
    return out


def test_tables_protected_one_by_one_leak_when_read_together(worlds):
    for w in worlds:
        stored, truth = w.stored, w.truth
        published = protected_alone(stored)
        recovered = recovered_in_package({n: (published[n], truth[n]) for n in published}, T)
        assert recovered["community"] and recovered["incidence"]


def test_the_package_is_protected_the_same_in_any_row_order(worlds):
    stored = worlds[0].stored
    expected = protect_together(stored["community"], stored["cfsr"], stored["incidence"], threshold=T)
    shuffled = {name: frame.sample(fraction=1.0, shuffle=True, seed=1) for name, frame in stored.items()}
    again = protect_together(shuffled["community"], shuffled["cfsr"], shuffled["incidence"], threshold=T)
    for name, frame in expected.items():
        key = [
            c for c in frame.columns if c not in ("suppressed", "suppression_reason") and frame[c].dtype != pl.Float64
        ]
        # the same cells hidden; the smoothed rates agree to rounding (their sums' order differs)
        assert_frame_equal(again[name].sort(key, nulls_last=True), frame.sort(key, nulls_last=True), abs_tol=1e-9)
