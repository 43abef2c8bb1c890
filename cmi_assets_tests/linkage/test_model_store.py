"""The linkage model store: a saved artefact becomes the current model, a second save
replaces it, and no trained model is a NoLinkageModel naming the asset to run."""

import json

import pytest

from cmi_assets.linkage.model_store import ModelStore, NoLinkageModel


def artefact(sha: str) -> dict:
    return {"sha256": sha, "blocking_rules": ["l.dob = r.dob"]}


def test_save_makes_the_artefact_current(tmp_path):
    store = ModelStore(tmp_path)
    first = store.save(artefact("a" * 64))
    assert first == tmp_path / "linkage" / "models" / f"{'a' * 12}.json"
    assert store.current_path() == first
    assert json.loads(first.read_text(encoding="utf-8")) == artefact("a" * 64)

    second = store.save(artefact("b" * 64))
    assert store.current_path() == second != first
    assert first.exists()  # earlier models stay on disk


def test_no_model_trained(tmp_path):
    with pytest.raises(NoLinkageModel, match="materialize linkage_model"):
        ModelStore(tmp_path).current_path()
