import duckdb
import numpy as np
import pytest

from cmi_assets.linkage.thresholds import Thresholds, expected_f1_by_threshold, expected_f1_threshold, flag_links


def test_expected_f1_hand_worked():
    p = np.array([0.99, 0.9, 0.6, 0.2, 0.1])
    # threshold 0.6: TP = 2.49, FP = 0.01 + 0.1 + 0.4 = 0.51, FN = 0.3 -> F1 = 4.98 / (4.98 + 0.81)
    thresholds, f1 = expected_f1_by_threshold(p)
    assert thresholds.tolist() == [0.99, 0.9, 0.6, 0.2, 0.1]
    assert f1[2] == pytest.approx(4.98 / 5.79)
    # threshold 0.9: TP 1.89, FP 0.11, FN 0.9 -> 3.78 / 4.79 ; 0.2: TP 2.69 FP 1.31 FN 0.1 -> 5.38/6.79
    assert f1[1] == pytest.approx(3.78 / 4.79)
    assert f1[3] == pytest.approx(5.38 / 6.79)
    best, best_f1 = expected_f1_threshold(p)
    assert best == 0.6 and best_f1 == pytest.approx(max(f1))


def test_ties_share_one_threshold():
    thresholds, _ = expected_f1_by_threshold(np.array([0.9, 0.9, 0.5]))
    assert thresholds.tolist() == [0.9, 0.5]


def test_conservative_needs_a_parent_name_for_two_children():
    con = duckdb.connect()
    con.execute("""CREATE TABLE rec AS SELECT * FROM (VALUES
        (1, 'child', 'ANN', 'JO', ['ANN', 'JO', 'JOANNA']), (2, 'child', 'JO', NULL, ['JO', 'JOANNA']), (3, 'child', NULL, NULL, NULL),
        (4, 'adult', NULL, NULL, NULL), (5, 'adult', NULL, NULL, NULL), (6, 'child', 'ZOE', NULL, ['ZOE']),
        (7, 'child', 'A', NULL, ['A']), (8, 'child', 'CATHRINE', NULL, ['CATHRINE']), (9, 'child', 'CATHERINE', NULL, ['CATHERINE']),
        (10, 'child', 'ZOLA', NULL, ['ZOLA'])) t(unique_id, role, parent1_given, parent2_given, parent_given_forms)""")
    # the clustering guard's fields (clustering.separated_by_sql), unknown here
    for column, kind in (
        ("given_name", "VARCHAR"),
        ("middle_name", "VARCHAR"),
        ("family_name", "VARCHAR"),
        ("dob", "DATE"),
        ("birth_year", "INTEGER"),
        ("given_forms", "VARCHAR[]"),
        ("given_is_known", "BOOLEAN"),
        ("middle_forms", "VARCHAR[]"),
        ("middle_is_known", "BOOLEAN"),
        ("id_namespace", "VARCHAR"),
        ("person_id", "VARCHAR"),
    ):
        con.execute(f"ALTER TABLE rec ADD COLUMN {column} {kind}")
    con.execute("""CREATE TABLE pairs AS SELECT * FROM (VALUES
        (1, 2, 30.0, 0.9999999),   -- children, a parent agrees
        (1, 6, 30.0, 0.9999999),   -- children, parents disagree
        (2, 3, 30.0, 0.9999999),   -- children, one names no parent: the threshold alone decides
        (1, 7, 30.0, 0.9999999),   -- children, an initial stands for ANN
        (8, 9, 30.0, 0.9999999),   -- children, one keying slip in the parent's name
        (6, 10, 30.0, 0.9999999),  -- children, ZOE and ZOLA: two names, not a slip of one
        (4, 5, 30.0, 0.9999999),   -- adults: probability alone
        (3, 4, 5.0, 0.97),         -- below the conservative threshold
        (2, 5, 1.0, 0.3))          -- below both
        t(unique_id_l, unique_id_r, match_weight, match_probability)""")
    counts = flag_links(con, Thresholds(0.9999, 0.5, 0.9), "pairs", "rec", "links")
    rows = con.execute(
        "SELECT unique_id_l, unique_id_r, is_link_conservative, is_link_less_conservative FROM links ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        (1, 2, True, True),
        (1, 6, False, True),
        (1, 7, True, True),
        (2, 3, True, True),
        (3, 4, False, True),
        (4, 5, True, True),
        (6, 10, False, True),
        (8, 9, True, True),
    ]
    assert counts == {"links_conservative": 5, "links_less_conservative": 8}
