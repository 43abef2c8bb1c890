"""Bootstrap selection frequencies (replayed resample by resample) and the Figure 3 summary
across models (hand-worked)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cmi_assets.prm.selection_frequency import bootstrap_selection_frequencies, selection_across_models
from cmi_assets.prm.stepwise import stepwise_logistic


@pytest.fixture(scope="module")
def frame(simulate):
    return simulate(2000, seed=99, prevalence=0.2)


def test_bootstrap_frequencies_replay_the_resamples(frame, candidates, true_variables):
    table = bootstrap_selection_frequencies(frame, "finding", candidates, np.random.default_rng(5), n_resamples=8)
    # Replay: the same generator draws the same row indices in the same order.
    replay = np.random.default_rng(5)
    counts = {name: 0 for name in candidates}
    rank_sums = {name: 0 for name in candidates}
    for _ in range(8):
        resample = frame[replay.integers(0, frame.height, size=frame.height)]
        for name, rank in stepwise_logistic(resample, "finding", candidates).entry_ranks.items():
            counts[name] += 1
            rank_sums[name] += rank
    rows = {r["variable"]: r for r in table.iter_rows(named=True)}
    assert {name: rows[name]["resamples_selected"] for name in candidates} == counts
    for name in candidates:
        if counts[name]:
            assert rows[name]["mean_entry_rank"] == pytest.approx(rank_sums[name] / counts[name])
    assert rows["sibling_cp_history"]["share_selected"] == 1.0
    assert all(r["resamples_fitted"] == 8 and r["resamples_failed"] == 0 for r in rows.values())
    # The strongest markers are selected more often than any pure-noise marker.
    noise = set(candidates) - true_variables
    assert min(rows[v]["share_selected"] for v in ("sibling_cp_history", "benefit_time")) > max(
        rows[v]["share_selected"] for v in noise
    )


@dataclass
class FakeModel:
    """Only what Figure 3 needs from a fitted model: the entry ranks of its variables."""

    entry_ranks: dict


def test_figure3_frequency_and_average_rank_by_hand():
    models = {
        "2009": FakeModel({"sibling": 1, "benefit": 2}),
        "2010": FakeModel({"benefit": 1, "sibling": 2, "age": 3}),
        "maori split": FakeModel({"sibling": 2, "age": 1}),
    }
    table = selection_across_models(models, split_variables={"maori split": "maori"})
    rows = {r["variable"]: r for r in table.iter_rows(named=True)}
    # sibling: 3 models, ranks 1, 2, 2 -> 5/3. benefit: 2 models, ranks 2, 1 -> 1.5.
    # age: 2 models, ranks 3, 1 -> 2. maori: appears (split criterion, Figure 3 note 1), no rank.
    assert (rows["sibling"]["models_appearing"], rows["sibling"]["mean_entry_rank"]) == (3, pytest.approx(5 / 3))
    assert (rows["benefit"]["models_appearing"], rows["benefit"]["mean_entry_rank"]) == (2, pytest.approx(1.5))
    assert (rows["age"]["models_appearing"], rows["age"]["mean_entry_rank"]) == (2, pytest.approx(2.0))
    assert (rows["maori"]["models_appearing"], rows["maori"]["mean_entry_rank"]) == (1, None)
    assert rows["sibling"]["share_of_models"] == pytest.approx(1.0)
    # Most frequent first, then lower (better) average rank.
    assert table["variable"].to_list() == ["sibling", "benefit", "age", "maori"]
