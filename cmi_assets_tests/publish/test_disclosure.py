"""publish/disclosure.py against a reader who solves the published margins (attacker.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmi_assets.publish.disclosure import (
    COMPLEMENTARY,
    PRIMARY,
    RATE_COLUMNS,
    apply_reasons,
    primary_mask,
    protect_indicator_table,
    threshold_from_env,
)
from cmi_assets_tests.publish.attacker import recovered_cells
from cmi_assets_tests.publish.worlds import children_frame, long_table

T = 11


def primary_only(table: pl.DataFrame, threshold: int = T) -> pl.DataFrame:
    reason = np.where(primary_mask(table["count"].to_numpy(), table["population"].to_numpy(), threshold), 1, 0)
    return apply_reasons(table, reason, ("count", *RATE_COLUMNS), reliability="reliability")


def leaky_world() -> pl.DataFrame:
    """One county, two postcodes: postcode A has 3 events among 40 girls, everything else is
    large. Primary suppression alone hides A's girls and publishes everything a reader needs
    to subtract them back."""
    rows = []
    for postcode, sex, n, events in (
        ("06001", "F", 40, 3),
        ("06001", "M", 40, 20),
        ("06002", "F", 60, 25),
        ("06002", "M", 50, 30),
    ):
        for i in range(n):
            rows.append(("09001", postcode, sex, 1 + i % 2, int(i < events)))
    return long_table(children_frame(rows))


def test_primary_only_leaks_and_the_attacker_sees_it():
    truth = leaky_world()
    published = primary_only(truth)
    assert published["suppressed"].sum() > 0
    recovered = recovered_cells(published, truth, T)
    assert recovered, "primary suppression alone should leak on this table"
    assert set(truth[recovered]["count"].to_list()) <= set(range(1, T))


def test_protected_table_leaks_nothing():
    truth = leaky_world()
    published = protect_indicator_table(truth, threshold=T)
    assert recovered_cells(published, truth, T) == []
    # the small cell is hidden as primary, and it is not alone in any margin
    small = published.filter((pl.col("geography_code") == "06001") & (pl.col("group_value") == "F"))
    assert small["suppression_reason"].to_list() == [PRIMARY]
    assert (published["suppression_reason"] == COMPLEMENTARY).sum() >= 3
    hidden = published.filter(pl.col("suppressed"))
    assert hidden.select(["count", *RATE_COLUMNS]).null_count().row(0) == (hidden.height,) * (1 + len(RATE_COLUMNS))
    assert hidden["reliability"].unique().to_list() == ["suppressed"]
    shown = published.filter(~pl.col("suppressed"))
    assert (
        shown.join(truth, on=["geography_code", "group_type", "group_value"])["count"].to_list()
        == shown["count"].to_list()
    )
    assert published["population"].to_list() == truth["population"].to_list()


def test_small_population_and_zero_counts():
    out = primary_mask(np.array([0, 0, 5, 10, 11, 0]), np.array([0, 5, 100, 100, 100, 100]), 11)
    assert out.tolist() == [False, True, True, True, False, False]


def test_threshold_from_env(monkeypatch):
    monkeypatch.setenv("CMI_SUPPRESS_BELOW", "5")
    assert threshold_from_env() == 5
    monkeypatch.setenv("CMI_SUPPRESS_BELOW", "x")
    with pytest.raises(ValueError, match="not an integer"):
        threshold_from_env()
    monkeypatch.delenv("CMI_SUPPRESS_BELOW")
    assert threshold_from_env() == 11


@st.composite
def worlds(draw):
    counties = draw(st.integers(1, 3))
    rows = []
    for c in range(counties):
        for p in range(draw(st.integers(1, 3))):
            for sex in ("F", "M"):
                for decile in (1, 2):
                    n = draw(st.integers(0, 40))
                    events = draw(st.integers(0, n))
                    rows += [(f"0900{c}", f"06{c}{p}0", sex, decile, int(i < events)) for i in range(n)]
    if not rows:
        rows = [("09001", "06010", "F", 1, 0)]
    return long_table(children_frame(rows))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_random_tables_leak_nothing(truth):
    published = protect_indicator_table(truth, threshold=T)
    assert recovered_cells(published, truth, T) == []
    assert published.filter(pl.col("suppression_reason") == PRIMARY).height == int(
        primary_mask(truth["count"].to_numpy(), truth["population"].to_numpy(), T).sum()
    )


def test_a_reader_who_knows_complementary_cells_are_large_pins_a_degenerate_world():
    """The limit the attacker's docstring names: one child with the event in the whole state
    (in a decile of one child), eleven without. Any reader pins nothing; a reader who takes
    "complementary" to mean 0 or SUPPRESS_BELOW and more pins the one child."""
    rows = [("09000", "06000", "M", 1, 1)] + [("09000", "06000", "M", 2, 0)] * 11
    truth = long_table(children_frame(rows))
    published = protect_indicator_table(truth, threshold=T)
    assert recovered_cells(published, truth, T) == []
    pinned = recovered_cells(published, truth, T, complementary_is_large=True)
    assert 1 in set(truth[pinned]["count"].to_list())


def test_protection_does_not_depend_on_row_order():
    """Which cells complementary suppression hides among equal choices follows the order it
    meets them in; a table read or built in another row order (a group_by's order varies from
    run to run) must be protected the same."""
    rng = np.random.default_rng(5)
    rows = []
    for county in ("09001", "09003", "09005"):
        for p in range(4):
            postcode, decile = f"{county[-1]}{p:04d}", int(rng.integers(1, 4))
            for sex in ("F", "M"):
                n, rate = int(rng.integers(3, 30)), float(rng.choice([0.05, 0.5, 0.95]))
                rows += [(county, postcode, sex, decile, int(rng.random() < rate)) for _ in range(n)]
    truth = long_table(children_frame(rows))
    key = ["geography_level", "geography_code", "group_type", "group_value"]
    expected = protect_indicator_table(truth, threshold=T).select(*key, "suppression_reason").sort(key)
    assert (expected["suppression_reason"] == COMPLEMENTARY).sum() > 10  # many choices to make
    for seed in range(3):
        shuffled = truth.sample(fraction=1.0, shuffle=True, seed=seed)
        again = protect_indicator_table(shuffled, threshold=T).select(*key, "suppression_reason").sort(key)
        assert again.equals(expected)
