import json
import logging
import re

import pytest

from cmi_assets.linkage.train import (
    ChosenMaxPairs,
    artefact_sha256,
    floor_m_probabilities,
    load_artefact,
    model_summary,
    save_artefact,
    train_model,
)


def _level(artefact, comparison, label):
    c = next(c for c in artefact["model"]["comparisons"] if c["output_column_name"] == comparison)
    return next(lv for lv in c["comparison_levels"] if lv["label_for_charts"] == label)


def test_trained_model_learns_what_agreement_means(linked_mini):
    artefact = linked_mini["artefact"]
    for comparison in ("given_name", "family_name", "dob"):
        exact = _level(artefact, comparison, "exact")
        assert exact["m_probability"] > 0.5 and exact["m_probability"] > 20 * exact["u_probability"]
    assert (
        _level(artefact, "agency_id", "same ID")["m_probability"]
        > 50 * _level(artefact, "agency_id", "same ID")["u_probability"]
    )
    assert set(artefact["tf_tables"]) == {"given_name", "family_name"}
    assert abs(sum(tf for _, tf in artefact["tf_tables"]["family_name"]) - 1) < 1e-6
    # the exact-identifier EM pass runs first
    assert artefact["training"]["em_passes"][0]["blocking_rule"].startswith("l.id_namespace = r.id_namespace")
    summary = model_summary(artefact)
    assert summary["sha256"] == artefact["sha256"] and "given_name" in summary["comparisons"]


def test_artefact_roundtrip_and_tamper_check(linked_mini, tmp_path):
    artefact = linked_mini["artefact"]
    path = tmp_path / "model.json"
    assert save_artefact(artefact, path) == artefact_sha256(artefact)
    assert load_artefact(path) == json.loads(path.read_text())
    tampered = json.loads(path.read_text())
    tampered["model"]["probability_two_random_records_match"] *= 2
    path.write_text(json.dumps(tampered))
    with pytest.raises(ValueError, match="sha256"):
        load_artefact(path)


def test_training_is_deterministic_for_a_seed(linked_mini):
    again = train_model(linked_mini["con"], seed=3, u_max_pairs=2e5)
    assert again["sha256"] == linked_mini["artefact"]["sha256"]


def test_m_floor_renormalises():
    model = {
        "comparisons": [
            {"comparison_levels": [{"is_null_level": True}, {"m_probability": 0.999999999}, {"m_probability": 1e-12}]}
        ]
    }
    levels = floor_m_probabilities(model, floor=1e-5)["comparisons"][0]["comparison_levels"]
    assert levels[2]["m_probability"] == pytest.approx(1e-5, rel=1e-3)
    assert levels[1]["m_probability"] + levels[2]["m_probability"] == pytest.approx(1.0)


def test_tf_tables_equal_splinks_own(linked_mini):
    """The artefact's term frequencies are computed in one SQL statement; they must be the
    ones Splink computes itself (so bare Splink and the stored tables score alike)."""
    import logging

    from splink import Linker

    from cmi_assets.linkage.engine import duckdb_api, register_input
    from cmi_assets.linkage.person_records import IDENTITIES_TABLE

    con, artefact = linked_mini["con"], linked_mini["artefact"]
    db_api = duckdb_api(con)
    linker = Linker(register_input(db_api, con, IDENTITIES_TABLE), artefact["model"], log_level=logging.WARNING)
    for column in ("given_name", "family_name"):
        splink_tf = linker.table_management.compute_tf_table(column).as_pandas_dataframe()
        expected = {str(v): tf for v, tf in zip(splink_tf[column], splink_tf[f"tf_{column}"]) if v is not None}
        ours = dict(artefact["tf_tables"][column])
        assert set(ours) == set(expected)
        assert all(ours[v] == pytest.approx(expected[v], rel=1e-9) for v in ours)


def test_splinks_default_max_pairs_warning_is_dropped_and_nothing_else():
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord(
            "splink.internals.linker_components.training", logging.WARNING, __file__, 1, message, None, None
        )

    chosen = ChosenMaxPairs()
    assert not chosen.filter(record("You are using the default value for `max_pairs`, which may be too small"))
    assert chosen.filter(record("Level initial agrees on comparison middle_name not observed in dataset"))


def test_em_passes_are_sampled_to_their_pair_budget(linked_mini, caplog):
    """Each EM pass compares about em_max_pairs pairs however many its rule blocks (Splink
    samples only when given max_pairs): a state's volume must not train on every DOB pair."""
    con = linked_mini["con"]
    budget = 300
    with caplog.at_level(logging.INFO, logger="splink.internals.em_sampling"):
        artefact = train_model(con, seed=3, u_max_pairs=2e5, em_max_pairs=budget)
    dob_pass = next(p for p in artefact["training"]["em_passes"] if p["blocking_rule"] == "l.dob = r.dob")
    assert dob_pass["record_sample_proportion"] < 1  # the rule blocks more pairs than the budget
    sampled = [r.getMessage() for r in caplog.records if "expected blocked pairs after sampling" in r.getMessage()]
    assert sampled, "no EM pass was sampled"
    for message in sampled:
        expected = float(re.search(r"after sampling: ([\d,.]+),", message).group(1).replace(",", ""))
        assert expected <= 1.5 * budget
