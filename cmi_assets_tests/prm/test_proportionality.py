"""Proportionality tables (NZ Tables 7-9, Figure 4) on hand-worked examples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cmi_assets.prm.proportionality import (
    allocate_referrals,
    composition_table,
    marker_count_by_score_band,
    separate_models_accuracy_table,
    separate_models_referral,
)


def test_composition_table_by_hand():
    frame = pl.DataFrame(
        {
            "finding": [1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
            "referred": [True, True, False, True, False, False, False, False, False, False],
            "maori": [True, True, False, True, False, False, None, False, False, None],
            "benefit": [True, False, True, False, False, False, False, False, False, True],
        }
    )
    table = composition_table(frame, ["maori", "benefit"], "finding", "referred")
    rows = {r["group"]: r for r in table.iter_rows(named=True)}
    maori = rows["maori"]
    # Known ethnicity for 8 of 10; Maori = rows 0, 1, 3 -> 3/8 of all, missing 2/10.
    # Findings (rows 0-2): Maori 0, 1 -> 2/3. Referred (rows 0, 1, 3): all Maori -> 3/3.
    assert maori["share_all"] == pytest.approx(3 / 8)
    assert maori["missing_all"] == pytest.approx(0.2)
    assert maori["share_outcome"] == pytest.approx(2 / 3)
    assert maori["missing_outcome"] == 0
    assert maori["share_referred"] == pytest.approx(1.0)
    assert maori["referred_to_outcome_ratio"] == pytest.approx(1.5)  # over-represented
    benefit = rows["benefit"]
    # Benefit = rows 0, 2, 9 -> 3/10; findings 0, 2 -> 2/3; referred row 0 -> 1/3; ratio 0.5.
    assert (benefit["share_all"], benefit["share_outcome"], benefit["share_referred"]) == (
        pytest.approx(0.3),
        pytest.approx(2 / 3),
        pytest.approx(1 / 3),
    )
    assert benefit["referred_to_outcome_ratio"] == pytest.approx(0.5)
    # Referral flags may also be passed as an array.
    same = composition_table(frame, ["benefit"], "finding", frame["referred"].to_numpy())
    assert same["share_referred"][0] == pytest.approx(1 / 3)


def test_allocate_referrals_largest_remainder_and_caps():
    # 10 x 3/4 = 7.5 and 10 x 1/4 = 2.5: floors 7 + 2, the spare one goes to the first-listed tie.
    assert allocate_referrals({"A": 3, "B": 1}, {"A": 100, "B": 100}, 10) == {"A": 8, "B": 2}
    # 9 x 3/4 = 6.75, 9 x 1/4 = 2.25: the spare goes to the larger remainder (A).
    assert allocate_referrals({"A": 3, "B": 1}, {"A": 100, "B": 100}, 9) == {"A": 7, "B": 2}
    # A has only 5 children: it gets 5, B takes the other 5.
    assert allocate_referrals({"A": 3, "B": 1}, {"A": 5, "B": 100}, 10) == {"A": 5, "B": 5}
    with pytest.raises(ValueError):
        allocate_referrals({"A": 1}, {"A": 3}, 4)


# Ten children in two groups; each carries the score of its own group's model.
GROUP = np.array(["M"] * 4 + ["N"] * 6)
OWN_MODEL_SCORE = np.array([0.9, 0.2, 0.5, 0.4, 0.8, 0.7, 0.95, 0.1, 0.3, 0.6])
FINDING = np.array([1, 0, 1, 1, 0, 1, 0, 0, 0, 0])  # M: 3 positives, N: 1


def test_separate_models_referral_by_hand():
    # 4 referrals split 3 : 1 by known positives; M's top three are rows 0, 2, 3 (0.9, 0.5,
    # 0.4), N's top one is row 6 (0.95).
    referred = separate_models_referral(GROUP, OWN_MODEL_SCORE, 4, FINDING)
    assert np.flatnonzero(referred).tolist() == [0, 2, 3, 6]


def test_separate_models_accuracy_table_by_hand():
    table = separate_models_accuracy_table(
        FINDING, OWN_MODEL_SCORE, {"M versus not": (GROUP, OWN_MODEL_SCORE)}, n_referred=4
    )
    rows = {r["model"]: r for r in table.iter_rows(named=True)}
    # Base model: top 4 overall = rows 6, 0, 4, 5: a=2 (rows 0, 5) b=2 c=2 (rows 2, 3) d=4.
    base = rows["Base model"]
    assert (base["ppv"], base["npv"], base["sensitivity"], base["specificity"]) == pytest.approx(
        (0.5, 4 / 6, 0.5, 4 / 6)
    )
    # Combined: rows 0, 2, 3, 6: a=3 b=1 (row 6) c=1 (row 5) d=5.
    combined = rows["M versus not"]
    assert (combined["ppv"], combined["npv"], combined["sensitivity"], combined["specificity"]) == pytest.approx(
        (0.75, 5 / 6, 0.75, 5 / 6)
    )
    assert combined["referred"] == base["referred"] == 4


def test_marker_count_by_score_band_by_hand():
    # Children listed by descending score; marker counts 3 2 1 2 0 0 1 2 0 0.
    m1 = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0]
    m2 = [1, 1, 0, 1, 0, 0, 0, 1, 0, 0]
    m3 = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    frame = pl.DataFrame({"m1": m1, "m2": m2, "m3": m3}).cast(pl.Boolean)
    score = np.linspace(1.0, 0.1, 10)
    table = marker_count_by_score_band(
        frame, ["m1", "m2", "m3"], score, min_markers=2, bands=(("Top 20%", 0.2), ("Top 50%", 0.5), ("All", 1.0))
    )
    # Top 20% = 2 children, both with >= 2 markers; top 50% = 5, of whom 3 (ranks 1, 2, 4);
    # all 10, of whom 4 (ranks 1, 2, 4, 8).
    assert table["n"].to_list() == [2, 5, 10]
    assert table["n_with_min_markers"].to_list() == [2, 3, 4]
    assert table["share_with_min_markers"].to_list() == pytest.approx([1.0, 0.6, 0.4])
