"""Clerical decisions change the next spine: on the mini world linked once (a real DuckDB
file holding its linkage tables), a `match` between two records of different persons and a
`non_match` between two records of one person, then a real spine run. Exactly the persons
the decisions touch change key; the key events name the decisions; the audit table keeps
who decided and when."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.review import current_decisions, pair_id, record_decisions, review_constraints
from cmi_assets.linkage.spine_run import replace_spine
from cmi_assets.linkage.tables import EVENTS_TABLE, LEVELS, PERSON_RECORDS_TABLE, REVIEW_DECISIONS_TABLE, SPINE_TABLE

SECRET = b"test-secret"  # linked_mini's spine was keyed with it


@pytest.fixture
def linked_file(linked_mini, tmp_path):
    """A DuckDB file holding a copy of the linked mini world (linked_mini stays untouched)."""
    path = tmp_path / "identified.duckdb"
    source = linked_mini["con"]
    source.execute(f"ATTACH '{path}' AS review_copy")
    try:
        source.execute("COPY FROM DATABASE memory TO review_copy")
    finally:
        source.execute("DETACH review_copy")
    con = duckdb.connect(str(path))
    yield con
    con.close()


def _spine(con) -> pl.DataFrame:
    return con.sql(f"SELECT unique_id, identity_id, level, person_key FROM {SPINE_TABLE}").pl()


def _pick_pairs(spine: pl.DataFrame) -> tuple[tuple[int, int], tuple[int, int]]:
    """A non_match pair: two records of different identities in one conservative person;
    a match pair: two records of two persons apart at the less conservative level, neither
    person the first pair's."""
    cons = spine.filter(pl.col("level") == "conservative")
    multi = (
        cons.group_by("person_key")
        .agg(pl.col("identity_id").n_unique().alias("identities"), pl.len().alias("n"))
        .filter(pl.col("identities") >= 2)
        .sort("n", "person_key")
    )
    key = multi["person_key"][0]
    members = cons.filter(pl.col("person_key") == key).sort("unique_id")
    u = members.row(0, named=True)
    v = members.filter(pl.col("identity_id") != u["identity_id"]).row(0, named=True)
    loose = spine.filter(pl.col("level") == "less_conservative")
    apart_from = set(loose.filter(pl.col("unique_id").is_in([u["unique_id"], v["unique_id"]]))["person_key"])
    sizes = loose.group_by("person_key").len().filter(pl.col("len") >= 2).sort("len", "person_key")
    others = [k for k in sizes["person_key"].to_list() if k not in apart_from][:2]
    x = loose.filter(pl.col("person_key") == others[0]).sort("unique_id")["unique_id"][0]
    y = loose.filter(pl.col("person_key") == others[1]).sort("unique_id")["unique_id"][0]
    return (int(u["unique_id"]), int(v["unique_id"])), (int(x), int(y))


def _decisions(rows: list[tuple[int, int, str]], identity_of: dict[int, int]) -> pl.DataFrame:
    """Decisions on pairs of records (record ids), as an imported file gives them: the two
    records' identities, the records shown and the decision."""
    ids = [(identity_of[a], identity_of[b]) for a, b, _ in rows]
    return pl.DataFrame(
        {
            "pair_id": [pair_id(a, b) for a, b in ids],
            "unique_id_l": [a for a, _ in ids],
            "unique_id_r": [b for _, b in ids],
            "record_id_l": [a for a, _, _ in rows],
            "record_id_r": [b for _, b, _ in rows],
            "decision": [d for _, _, d in rows],
            "reason": ["checked by hand"] * len(rows),
            "decided_at": [None] * len(rows),
        },
        schema={
            "pair_id": pl.String,
            "unique_id_l": pl.Int64,
            "unique_id_r": pl.Int64,
            "record_id_l": pl.Int64,
            "record_id_r": pl.Int64,
            "decision": pl.String,
            "reason": pl.String,
            "decided_at": pl.Datetime("us"),
        },
    )


def _identities(con) -> dict[int, int]:
    return dict(con.execute(f"SELECT unique_id, identity_id FROM {PERSON_RECORDS_TABLE}").fetchall())


def test_decisions_change_exactly_the_persons_they_touch(linked_file):
    con = linked_file
    before = _spine(con)
    (u, v), (x, y) = _pick_pairs(before)
    at = dt.datetime(2026, 12, 7, 9, 30)
    recorded = record_decisions(
        con,
        _decisions([(x, y, "match"), (u, v, "non_match")], _identities(con)),
        "A. Reviewer",
        "decisions.csv",
        now=at,
    )
    match_id, non_match_id = recorded["decision_id"].to_list()

    replace_spine(con, SECRET, "after-review")
    after = _spine(con)

    joined = before.join(after, on=["unique_id", "level"], suffix="_new")
    assert joined.height == before.height == after.height
    for level in LEVELS:
        rows = joined.filter(pl.col("level") == level)
        key = dict(zip(rows["unique_id"], rows["person_key_new"]))
        old = dict(zip(rows["unique_id"], rows["person_key"]))
        assert key[x] == key[y] and old[x] != old[y]  # the match joined two persons
        assert key[u] != key[v] and old[u] == old[v]  # the non_match split one
        touched = {old[x], old[y], old[u]}
        changed = rows.filter(pl.col("person_key") != pl.col("person_key_new"))
        # every record whose key changed belonged to a person a decision touched, and every
        # record of any other person kept its key
        assert set(changed["person_key"]) <= touched
        untouched = rows.filter(~pl.col("person_key").is_in(list(touched)))
        assert untouched.height > 0.9 * rows.height
        assert (untouched["person_key"] == untouched["person_key_new"]).all()
        # the merged person holds exactly both persons' records; the split person's records
        # now carry two keys, the old one and one new key
        merged = set(rows.filter(pl.col("person_key_new") == key[x])["unique_id"])
        assert merged == set(rows.filter(pl.col("person_key").is_in([old[x], old[y]]))["unique_id"])
        split = rows.filter(pl.col("person_key") == old[u])
        assert set(split["person_key_new"]) == {old[u], key[v] if key[u] == old[u] else key[u]}

        events = con.sql(
            f"SELECT event, person_key, other_person_key, decision_id, cause FROM {EVENTS_TABLE} "
            f"WHERE run_id = 'after-review' AND level = '{level}' ORDER BY event"
        ).pl()
        merges = events.filter(pl.col("event") == "merge")
        assert merges.height == 1 and merges["decision_id"][0] == match_id
        assert merges["cause"][0] == "review_match"
        assert {merges["person_key"][0], merges["other_person_key"][0]} == {old[x], old[y]}
        splits = events.filter(pl.col("event") == "split")
        assert splits.height == 1 and splits["decision_id"][0] == non_match_id
        assert splits["person_key"][0] == old[u] and splits["cause"][0] == "review_non_match"
        # nothing else happened: the split-off part's new key is the only other event
        assert sorted(events["event"]) == ["merge", "new", "split"]
        assert events.filter(pl.col("event") == "new")["decision_id"].to_list() == [non_match_id]

    audit = con.sql(f"SELECT * FROM {REVIEW_DECISIONS_TABLE} ORDER BY decision_id").pl()
    assert audit["decision"].to_list() == ["match", "non_match"]
    assert set(audit["reviewer"]) == {"A. Reviewer"}
    assert audit["decided_at"].to_list() == [at, at]
    assert set(audit["source_file"]) == {"decisions.csv"}


def test_a_later_decision_supersedes_and_both_rows_stay(linked_file):
    con = linked_file
    identity_of = _identities(con)
    a, b = sorted(identity_of)[:2]
    record_decisions(con, _decisions([(a, b, "match")], identity_of), "first", "one.csv", now=dt.datetime(2026, 1, 1))
    record_decisions(con, _decisions([(b, a, "unsure")], identity_of), "second", "two.csv", now=dt.datetime(2026, 2, 1))
    assert con.execute(f"SELECT count(*) FROM {REVIEW_DECISIONS_TABLE}").fetchone()[0] == 2
    current = current_decisions(con)
    assert current.height == 1
    assert current.row(0, named=True)["decision"] == "unsure"
    assert current.row(0, named=True)["reviewer"] == "second"


def test_decisions_the_spine_cannot_apply_are_counted_and_left_out(linked_file):
    con = linked_file
    identity_of = _identities(con)
    shared = (
        con.sql(
            f"SELECT identity_id, min(unique_id) AS a, max(unique_id) AS b FROM {PERSON_RECORDS_TABLE} "
            "GROUP BY identity_id HAVING count(*) > 1 ORDER BY identity_id LIMIT 1"
        )
        .pl()
        .row(0, named=True)
    )
    gone = max(identity_of) + 1  # no such record or identity
    identity_of[gone] = gone
    first, second = sorted(identity_of)[:2]
    decisions = _decisions(
        [(shared["a"], shared["b"], "non_match"), (gone, first, "match"), (first, second, "unsure")], identity_of
    )
    record_decisions(con, decisions, "A. Reviewer", "three.csv")
    constraints = review_constraints(con)
    assert constraints.counts["review_non_match_within_one_identity"] == 1
    assert constraints.counts["review_on_absent_records"] == 1
    assert constraints.counts["review_unsure"] == 1
    assert constraints.counts["review_forced_links"] == constraints.counts["review_forced_non_links"] == 0
    assert constraints.pairs.links.is_empty() and constraints.pairs.non_links.is_empty()
