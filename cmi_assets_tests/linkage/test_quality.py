from itertools import combinations

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.quality import (
    attach_truth,
    blocking_recall,
    cluster_metrics,
    pair_metrics,
    pair_metrics_by_source_pair,
    person_groups,
    person_outcomes,
    quality_by_group,
)


def _labelled():
    # records 1..7: true persons A (1,2,3), B (4,5), C (6), D (7); clusters: {1,2}, {3}, {4,5,6}, {7}
    return pl.DataFrame(
        {
            "unique_id": [1, 2, 3, 4, 5, 6, 7],
            "true_person_id": [100, 100, 100, 200, 200, 300, 400],
            "cluster_id": [1, 1, 3, 4, 4, 4, 7],
            "role": ["child", "child", "child", "adult", "adult", "adult", "child"],
            "source_dataset": ["a", "b", "b", "a", "b", "b", "a"],
            "agency": ["x"] * 7,
        }
    )


def _brute_force(frame, keep=lambda a, b: True):
    rows = frame.to_dicts()
    pred = {
        (a["unique_id"], b["unique_id"])
        for a, b in combinations(rows, 2)
        if a["cluster_id"] == b["cluster_id"] and keep(a, b)
    }
    true = {
        (a["unique_id"], b["unique_id"])
        for a, b in combinations(rows, 2)
        if a["true_person_id"] == b["true_person_id"] and keep(a, b)
    }
    return len(pred & true), len(pred), len(true)


def test_pair_metrics_equal_brute_force_counting():
    frame = _labelled()
    m = pair_metrics(frame)
    tp, pred, true = _brute_force(frame)
    assert (
        (m["all"]["correct_pairs"], m["all"]["predicted_pairs"], m["all"]["true_pairs"])
        == (tp, pred, true)
        == (2, 4, 4)
    )
    tp, pred, true = _brute_force(frame, lambda a, b: a["role"] == b["role"] == "child")
    assert (m["child"]["correct_pairs"], m["child"]["predicted_pairs"], m["child"]["true_pairs"]) == (tp, pred, true)
    assert m["adult"]["precision"] == pytest.approx(1 / 3) and m["adult"]["recall"] == 1.0
    assert m["child"]["precision"] == 1.0 and m["child"]["recall"] == pytest.approx(1 / 3)


def test_by_source_pair_equals_brute_force():
    frame = _labelled()
    table = pair_metrics_by_source_pair(frame)
    for row in table.iter_rows(named=True):
        pair = {row["source_dataset"], row["source_dataset_r"]}
        tp, pred, true = _brute_force(frame, lambda a, b, pair=pair: {a["source_dataset"], b["source_dataset"]} == pair)
        assert (row["correct_pairs"], row["predicted_pairs"], row["true_pairs"]) == (tp, pred, true)


def test_person_outcomes_and_cluster_metrics():
    outcomes = person_outcomes(_labelled()).sort("true_person_id")
    assert outcomes["split"].to_list() == [True, False, False, False]
    assert outcomes["merged"].to_list() == [False, True, True, False]
    assert outcomes["agrees"].to_list() == [False, False, False, True]
    m = cluster_metrics(_labelled())
    assert m["cluster_precision"] == 0.75 and m["cluster_recall"] == 0.75 and m["person_agreement"] == 0.25


def test_attach_truth_aligns_unnamed_slots():
    records = pl.DataFrame(
        {
            "agency": ["h", "h", "b", "b", "s"],
            "record_type": ["e", "e", "r", "r", "p"],
            "record_key": ["1", "2", "9", "9", "4"],
            "slot": ["person", "person", "child", "mother", "person"],
        }
    )
    truth = pl.DataFrame(
        {
            "agency": ["h", "h", "b", "b", "b", "s", "s"],
            "record_type": ["e", "e", "r", "r", "r", "p", "p"],
            "record_key": ["1", "2", "9", "9", "9", "4", "4"],
            "slot": ["patient", "patient", "child", "mother", "father", "partner", "client"],
            "true_person_id": [5, 6, 7, 8, 9, 1, 2],
        }
    )
    out = attach_truth(records, truth).sort("record_key", "slot")
    # a benefit spell names its client (and perhaps a partner the spec does not map): the client
    assert dict(zip(out["record_key"] + out["slot"], out["true_person_id"])) == {
        "1person": 5,
        "2person": 6,
        "9child": 7,
        "9mother": 8,
        "4person": 2,
    }


def test_blocking_recall_counts_true_pairs_any_rule_generates():
    con = duckdb.connect()
    con.execute("""CREATE TABLE rec AS SELECT * FROM (VALUES (1, 'A', 2000), (2, 'A', 2001), (3, 'B', 2000), (4, 'C', 1990))
                   t(unique_id, name, yob)""")
    truth = pl.DataFrame({"unique_id": [1, 2, 3, 4], "true_person_id": [1, 1, 1, 2]})
    out = blocking_recall(con, "rec", truth, {"name": "l.name = r.name", "yob": "l.yob = r.yob"})
    # true pairs (1,2) by name, (1,3) by yob, (2,3) by neither
    assert out["true_pairs"] == 3 and out["blocked_true_pairs"] == 2
    assert out["by_rule"] == {"name": pytest.approx(1 / 3), "yob": pytest.approx(1 / 3)}


def test_quality_by_group_equals_brute_force():
    """Pairs with at least one record of the group's persons, and the group's persons'
    cluster outcomes, counted one by one."""
    frame = _labelled()
    groups = pl.DataFrame(
        {
            "true_person_id": [100, 200, 300, 400],
            "person_class": ["child", "adult", "adult", "child"],
            "group": ["sex"] * 4,
            "value": ["F", "F", "M", "F"],
        }
    )
    out = {(r["person_class"], r["value"]): r for r in quality_by_group(frame, groups).iter_rows(named=True)}
    for (person_class, value), row in out.items():
        members = set(
            groups.filter((pl.col("person_class") == person_class) & (pl.col("value") == value))["true_person_id"]
        )
        tp, pred, true = _brute_force(
            frame, lambda a, b, members=members: a["true_person_id"] in members or b["true_person_id"] in members
        )
        assert (row["correct_pairs"], row["predicted_pairs"], row["true_pairs"]) == (tp, pred, true)
    # adults F = person 200: records 4, 5 in cluster 4 with 6 (person 300): pairs (4,5) right, (4,6), (5,6) false
    adult_f = out[("adult", "F")]
    assert (adult_f["pair_precision"], adult_f["pair_recall"]) == (pytest.approx(1 / 3), 1.0)
    assert adult_f["cluster_precision"] == 0.0 and adult_f["cluster_recall"] == 1.0 and adult_f["agreement"] == 0.0
    # children F = persons 100 (split over clusters 1 and 3) and 400 (alone, right)
    child_f = out[("child", "F")]
    assert child_f["persons"] == 2 and child_f["cluster_recall"] == 0.5 and child_f["agreement"] == 0.5
    assert child_f["cluster_precision"] == 1.0 and child_f["pair_recall"] == pytest.approx(1 / 3)


def test_person_groups_classes_and_findings():
    frame = _labelled()
    persons = pl.DataFrame(
        {
            "true_person_id": [100, 200, 300, 400],
            "role": ["child", "mother", "father", "child"],
            "sex": ["F", "F", "M", "M"],
            "ethnicity": ["A;B", "A", None, "B"],
        }
    )
    children = pl.DataFrame(
        {"true_person_id": [100, 400], "in_study_population": [True, True], "finding_by_age_2": [True, None]}
    )
    groups = person_groups(frame, persons, children)
    classes = dict(groups.filter(pl.col("group") == "all").select("true_person_id", "person_class").iter_rows())
    assert classes == {100: "child", 200: "adult", 300: "adult", 400: "child"}
    ethnicity = (
        groups.filter((pl.col("group") == "ethnicity") & (pl.col("true_person_id") == 100))["value"].sort().to_list()
    )
    assert ethnicity == ["A", "B"]
    findings = groups.filter(pl.col("group") == "findings").sort("value")
    # person 400 is too young to tell (no value by age 2): not in the findings group
    assert findings.select("true_person_id", "value").rows() == [(100, "cohort children"), (100, "finding by age 2")]
