"""True report histories: IDs, ages, the 18th-birthday correction and the chain's
recurrence probability (checked by simulation against the closed forms)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from cmi_assets.cfsr.ages import age_in_months
from cmi_assets.synthetic.ncands_histories import (
    EPOCH,
    REPORT_COLUMNS,
    StateModel,
    encoded_ids,
    fiscal_year_start,
    share_of_recurrences_before_18,
    state_report_rows,
    truncated_exponential,
    victims_per_starter,
    whole_months,
)
from cmi_assets.synthetic.profile import load_profile


def test_encoded_ids_are_distinct_alphanumeric_and_not_sequential():
    ids = encoded_ids("child", 44, np.arange(200_000))
    assert len(set(ids)) == ids.size
    assert all(len(i) == 8 and i.isalnum() for i in ids[:1000])
    other_state = encoded_ids("child", 45, np.arange(200_000))
    assert not set(ids) & set(other_state)
    assert ids[0][:4] != ids[1][:4]


def test_whole_months_agrees_with_the_rules_engine():
    rng = np.random.default_rng(0)
    dob = rng.integers(0, 20_000, 5_000)
    day = dob + rng.integers(-100, 8_000, 5_000)
    frame = pl.DataFrame(
        {"dob": pl.Series(dob.astype(np.int32)).cast(pl.Date), "day": pl.Series(day.astype(np.int32)).cast(pl.Date)}
    )
    expected = frame.select(age_in_months("dob", "day")).to_series().to_numpy()
    assert np.array_equal(whole_months(dob, day), expected)
    # 29 Feb birthday: 18 years on 1 March of a non-leap year (section 2.2 convention).
    born, report = (dt.date(2004, 2, 29) - EPOCH).days, (dt.date(2022, 3, 1) - EPOCH).days
    assert whole_months(np.array([born]), np.array([report]))[0] == 216


def test_share_of_recurrences_before_18_matches_simulation():
    assert share_of_recurrences_before_18(110, (132, 204)) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    n = 400_000
    age_days = rng.uniform(204, 216, n) * 365.25 / 12
    lag = 15 + np.floor(truncated_exponential(110, 351, n, rng))
    simulated = np.mean(age_days + lag < 18 * 365.25)
    assert share_of_recurrences_before_18(110, (204, 216)) == pytest.approx(simulated, abs=0.01)


def test_victims_per_starter_without_continuation_is_one():
    assert victims_per_starter(0.0, 0.0, 110) == pytest.approx(1.0)
    # Only later victimizations (always in a new FY): 1 / (1 - q) children per history.
    assert victims_per_starter(0.0, 0.2, 110) == pytest.approx(1 / 0.8)


def test_a_state_too_small_for_any_report_gives_an_empty_frame():
    """Tiny worlds (scale 0.001) scale the smallest states below one victim or family."""
    cfg = load_profile("default")["ncands"]
    state = StateModel("VT", 45, size=0.0, state_effect=-2.4, expected_rate=0.08, indicated_share=0.1)
    rows = state_report_rows(
        state,
        cfg,
        fiscal_year_start(2013),
        fiscal_year_start(2016),
        fiscal_year_start(2022) - 1,
        np.random.default_rng(0),
    )
    assert rows.height == 0 and rows.columns == list(REPORT_COLUMNS)
