"""The oracle risk by person_key on a hand-built truth and spine (a registered child, a child
known only from benefit data and split by the conservative linkage, twins merged into one
key), and the model-beside-oracle AUC against scikit-learn."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from cmi_assets.linkage.quality import attach_truth
from cmi_assets.prm.oracle import ORACLE_SCHEMA, child_record_keys, oracle_column, oracle_comparison, oracle_risk_table

# record slots: (unique_id, agency, record_type, record_key, slot) -> true person
RECORDS = [
    (1, "births", "registrations", "R1", "child", 101),  # child 101, registered
    (2, "births", "registrations", "R1", "mother", 900),  # its mother: never a child key
    (3, "benefits", "children", "B1", "child", 101),  # 101 also on benefit
    (4, "benefits", "children", "B2", "child", 102),  # child 102: benefit only, twice
    (5, "benefits", "children", "B3", "child", 102),
    (6, "births", "registrations", "R2", "child", 103),  # twins 103 and 104 ...
    (7, "births", "registrations", "R3", "child", 104),
]
# unique_id -> person_key per level: 102's two benefit records apart under the conservative
# linkage, together under the less conservative one; the twins merged in both
SPINE = {
    "conservative": {1: "kA", 2: "kM", 3: "kA", 4: "kB1", 5: "kB2", 6: "kT", 7: "kT"},
    "less_conservative": {1: "kA", 2: "kM", 3: "kA", 4: "kB", 5: "kB", 6: "kT", 7: "kT"},
}
CHILDREN = pl.DataFrame(
    {
        "true_person_id": [101, 102, 103, 104, 105],  # 105: born but never recorded
        "birth_year": [2010, 2010, 2011, 2011, 2011],
        "p_finding_by_age_2": [0.10, 0.30, 0.02, 0.06, 0.5],
        "p_finding_by_age_5": [0.20, 0.40, 0.04, 0.08, 0.6],
    }
)


@pytest.fixture
def keyed() -> pl.DataFrame:
    records = pl.DataFrame(
        [r[:5] for r in RECORDS], schema=["unique_id", "agency", "record_type", "record_key", "slot"], orient="row"
    )
    truth = pl.DataFrame(
        [r[1:] for r in RECORDS], schema=["agency", "record_type", "record_key", "slot", "true_person_id"], orient="row"
    )
    spine = pl.DataFrame(
        [(u, level, key) for level, keys in SPINE.items() for u, key in keys.items()],
        schema=["unique_id", "level", "person_key"],
        orient="row",
    )
    return child_record_keys(attach_truth(records, truth), spine)


def test_every_key_of_a_child_slot_maps_to_its_true_child(keyed):
    rows = {
        (r["true_person_id"], r["linkage_level"], r["person_key"]): r["source"] for r in keyed.iter_rows(named=True)
    }
    assert rows == {
        (101, "conservative", "kA"): "births",
        (101, "less_conservative", "kA"): "births",
        (102, "conservative", "kB1"): "benefits",
        (102, "conservative", "kB2"): "benefits",
        (102, "less_conservative", "kB"): "benefits",
        (103, "conservative", "kT"): "births",
        (104, "conservative", "kT"): "births",
        (103, "less_conservative", "kT"): "births",
        (104, "less_conservative", "kT"): "births",
    }


def test_oracle_table_carries_keys_and_risks_only(keyed):
    table, counts = oracle_risk_table(CHILDREN, keyed)
    assert table.schema == pl.Schema(ORACLE_SCHEMA)
    rows = {(r["linkage_level"], r["person_key"]): r for r in table.iter_rows(named=True)}
    assert set(rows) == {
        ("conservative", "kA"),
        ("conservative", "kB1"),
        ("conservative", "kB2"),
        ("conservative", "kT"),
        ("less_conservative", "kA"),
        ("less_conservative", "kB"),
        ("less_conservative", "kT"),
    }
    assert (
        rows[("conservative", "kB1")]["p_finding_by_age_2"]
        == rows[("conservative", "kB2")]["p_finding_by_age_2"]
        == 0.30
    )
    twins = rows[("less_conservative", "kT")]  # a merged key carries the mean of its children's risks
    assert (twins["p_finding_by_age_2"], twins["p_finding_by_age_5"], twins["birth_year"]) == (
        pytest.approx(0.04),
        pytest.approx(0.06),
        2011,
    )
    assert counts == {
        "true_children": 5,
        "children_keyed_conservative": 4,
        "split_children_conservative": 1,
        "shared_keys_conservative": 1,
        "children_keyed_less_conservative": 4,
        "split_children_less_conservative": 0,
        "shared_keys_less_conservative": 1,
    }


def test_oracle_column_names_the_true_probability_of_an_outcome():
    assert oracle_column("finding_by_age_2") == "p_finding_by_age_2"
    assert oracle_column("finding_by_age_5") == "p_finding_by_age_5"
    assert oracle_column("notification_by_age_2") is None


def test_model_and_oracle_auc_on_the_same_children():
    rng = np.random.default_rng(4)
    n = 400
    truth = rng.beta(1, 12, n)
    y = (rng.random(n) < truth).astype(int)
    model = truth * np.exp(rng.normal(0, 0.8, n))  # a noisier ranking than the truth
    keys = pl.Series([f"p{i:03d}" for i in range(n)])
    oracle = pl.DataFrame(
        {"person_key": keys[:-40], "p_finding_by_age_2": truth[:-40]}
    )  # 40 children unknown to the truth
    result = oracle_comparison(keys, y, model, oracle, "p_finding_by_age_2")
    assert (result["children"], result["children_with_oracle"]) == (n, n - 40)
    assert result["oracle_coverage"] == pytest.approx(0.9)
    assert result["auc_model"] == pytest.approx(roc_auc_score(y[:-40], model[:-40]), abs=1e-12)
    assert result["auc_oracle"] == pytest.approx(roc_auc_score(y[:-40], truth[:-40]), abs=1e-12)
    assert result["oracle_gap"] == pytest.approx(result["auc_oracle"] - result["auc_model"])
    assert result["auc_oracle"] > result["auc_model"]
    none = oracle_comparison(keys[:5], np.zeros(5), model[:5], oracle, "p_finding_by_age_2")
    assert none["auc_oracle"] is None and none["positives"] == 0
