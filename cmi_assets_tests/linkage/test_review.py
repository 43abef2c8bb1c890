"""Forced links and non-links in the clustering, on hand-built nodes (no guard separates
them: one name and DOB throughout), and the attribution of key events to decisions, on a
hand-worked pair of spines."""

from __future__ import annotations

import datetime as dt

import polars as pl

from cmi_assets.linkage.clustering import ReviewPairs, cluster_frame
from cmi_assets.linkage.review import attribute_events
from cmi_assets_tests.linkage.test_clustering import D, _edges, _records


def _nodes(ids, registrations=()):
    return _records(
        [
            (i, f"r{i}", *(("births", "registrations", "child") if i in registrations else ("cp", "n", "person")))
            + (D, "LEE", "AMY", None)
            for i in ids
        ]
    )


def _pairs(rows):
    return pl.DataFrame(rows, schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64}, orient="row")


def _groups(out: pl.DataFrame) -> set[frozenset]:
    return {frozenset(g) for g in out.group_by("cluster_id").agg("unique_id")["unique_id"].to_list()}


def test_a_non_link_cuts_the_weakest_link_between_its_two_records():
    nodes, edges = _nodes([1, 2, 3, 4]), _edges([(1, 2, 0.95), (2, 3, 0.6), (3, 4, 0.9)])
    assert _groups(cluster_frame(nodes, edges)) == {frozenset({1, 2, 3, 4})}
    apart = ReviewPairs(links=_pairs([]), non_links=_pairs([(1, 4)]))
    assert _groups(cluster_frame(nodes, edges, apart)) == {frozenset({1, 2}), frozenset({3, 4})}


def test_a_forced_link_joins_even_where_a_register_refuses():
    nodes, edges = _nodes([1, 2, 3, 5], registrations=(1, 2)), _edges([(1, 3, 0.9)])
    # two birth registrations never merge by the clustering; a reviewer's match joins them
    assert _groups(cluster_frame(nodes, edges)) == {frozenset({1, 3}), frozenset({2}), frozenset({5})}
    review = ReviewPairs(links=_pairs([(1, 2)]), non_links=_pairs([]))
    assert _groups(cluster_frame(nodes, edges, review)) == {frozenset({1, 2, 3}), frozenset({5})}


def test_contradicting_decisions_the_non_link_holds():
    """1 = 5 and 5 = 3 but 1 != 3: the links go latest decision first, and the one that
    would put 1 and 3 together is refused."""
    nodes, edges = _nodes([1, 2, 3, 5]), _edges([])
    review = ReviewPairs(links=_pairs([(1, 5), (5, 3)]), non_links=_pairs([(1, 3)]))
    assert _groups(cluster_frame(nodes, edges, review)) == {frozenset({1, 5}), frozenset({3}), frozenset({2})}


def test_events_carry_the_decision_that_explains_them_the_latest_where_several_do():
    at = dt.datetime(2026, 12, 1)
    decisions = pl.DataFrame(
        {
            "decision_id": [1, 2, 3],
            "decision": ["match", "match", "non_match"],
            "decided_at": [at, at + dt.timedelta(days=1), at],
        }
    )
    keys = {"decision_id": pl.Int64, "level": pl.String, "key_l": pl.String, "key_r": pl.String}
    # decisions 1 and 2 both join persons A and B (A survives); decision 3 parts C into C and D
    before = pl.DataFrame([(1, "x", "A", "B"), (2, "x", "B", "A"), (3, "x", "C", "C")], schema=keys, orient="row")
    after = pl.DataFrame([(1, "x", "A", "A"), (2, "x", "A", "A"), (3, "x", "D", "C")], schema=keys, orient="row")
    events = pl.DataFrame(
        [
            ("x", "merge", "A", "B", 3),
            ("x", "split", "C", "D", 1),
            ("x", "new", "D", None, 1),
            ("x", "new", "E", None, 1),
        ],
        schema={
            "level": pl.String,
            "event": pl.String,
            "person_key": pl.String,
            "other_person_key": pl.String,
            "records": pl.Int64,
        },
        orient="row",
    )
    out = attribute_events(events, decisions, before, after)
    assert out["decision_id"].to_list() == [2, 3, 3, None]
    assert out["cause"].to_list() == ["review_match", "review_non_match", "review_non_match", None]
