"""Model artefacts: the JSON round trip scores identically, the hash identifies the content,
and the model card is built from the artefact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmi_assets.prm.artefact import model_card_markdown, model_from_json, model_to_json
from cmi_assets.prm.evaluation import threshold_table
from cmi_assets.prm.sampling import modelling_sample
from cmi_assets.prm.stepwise import stepwise_logistic

METADATA = {
    "training_cohort": 2010,
    "linkage_level": "conservative",
    "data_snapshot_id": "snapshot-2026-11-01",
    "validation_metrics": {"auc": 0.81, "auc_ci_low": 0.78, "auc_ci_high": 0.84, "npv_all": float("nan")},
    "sample_sizes": {"validation": 1800},
}


@pytest.fixture(scope="module")
def fitted(cohort, candidates):
    sample = modelling_sample(cohort, "finding", np.random.default_rng(8))
    model = stepwise_logistic(sample.train, "finding", candidates)
    return model, sample.prior_correction()


def test_round_trip_scores_identically(fitted, cohort):
    model, prior = fitted
    text, sha = model_to_json(model, METADATA, prior)
    loaded = model_from_json(text, expected_sha256=sha)
    assert np.array_equal(loaded.predict_proba(cohort), model.predict_proba(cohort, prior))
    assert loaded.scorer.coefficient_by_column == model.coefficient_by_column
    assert loaded.version == sha[:12]


def test_document_records_what_the_brief_lists(fitted):
    model, prior = fitted
    text, _ = model_to_json(model, METADATA, prior)
    document = json.loads(text)
    assert document["training_cohort"] == 2010
    assert document["linkage_level"] == "conservative"
    assert document["data_snapshot_id"] == "snapshot-2026-11-01"
    assert document["selection"]["entry_level"] == 1.0 and document["selection"]["stay_level"] == 0.02
    assert document["prior_correction"]["intercept_shift"] == pytest.approx(prior.intercept_shift)
    assert document["sample_sizes"] == {"train": model.n_obs, "train_positives": model.n_events, "validation": 1800}
    assert document["validation_metrics"]["npv_all"] is None  # NaN is not valid JSON
    age = next(v for v in document["variables"] if v["name"] == "mother_age_band")
    assert age["reference"] == "30-34" and len(age["levels"]) == 6
    assert [c["column"] for c in document["coefficients"]] == list(model.column_names)


def test_hash_is_stable_and_content_addressed(fitted):
    model, prior = fitted
    text, sha = model_to_json(model, METADATA, prior)
    assert model_to_json(model, dict(METADATA), prior) == (text, sha)
    _, other = model_to_json(model, {**METADATA, "data_snapshot_id": "snapshot-2026-12-01"}, prior)
    assert other != sha
    with pytest.raises(ValueError, match="hash"):
        model_from_json(text.replace("conservative", "less_conservative"), expected_sha256=sha)


def test_missing_metadata_is_refused(fitted):
    model, prior = fitted
    with pytest.raises(ValueError, match="linkage_level"):
        model_to_json(model, {"training_cohort": 2010, "data_snapshot_id": "s"}, prior)


def test_model_card_is_built_from_the_artefact(fitted, cohort):
    model, prior = fitted
    text, sha = model_to_json(model, METADATA, prior)
    scores = model.predict_proba(cohort, prior)
    table = threshold_table(cohort["finding"], scores, shares=(0.01, 0.05))
    card = model_card_markdown(text, table)
    assert sha in card
    for name in model.selected_names:
        assert f"| {name} |" in card
    assert "Top 5%" in card and "| All |" in card
    assert "King and Zeng" in card
    assert "conservative" in card
