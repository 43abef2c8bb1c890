"""A new extract linked into an existing spine without retraining."""

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.incremental import link_new_records
from cmi_assets.linkage.person_records import build_identities, build_person_records, write_person_records
from cmi_assets.linkage.quality import attach_truth, pair_metrics
from cmi_assets.linkage.review import decisions_honoured, record_decisions, review_constraints
from cmi_assets.linkage.spine import SPINE_TABLE, cluster_levels, link_persons
from cmi_assets.linkage.spine_run import replace_spine
from cmi_assets.linkage.tables import EVENTS_TABLE, LEVELS, PERSON_RECORDS_TABLE
from cmi_assets_tests.linkage.test_review_spine import _decisions

SECRET = b"test-secret"
SPINE_COLUMNS = "unique_id, record_ref, identity_id, level, cluster_id, person_key"


@pytest.fixture(scope="module")
def held_back(mini_world, linked_mini, stg_loader, tmp_path_factory):
    """A DuckDB file holding the mini world linked without the latest care and protection
    notifications (about 4% of records), and those notifications; each test opens a copy."""
    path = tmp_path_factory.mktemp("held_back") / "identified.duckdb"
    con = duckdb.connect(str(path))
    stg_loader(con, mini_world)
    build_person_records(con)
    records = con.sql("SELECT * EXCLUDE (unique_id) FROM linkage.person_records").pl()
    latest = records.filter(
        (pl.col("source_dataset") == "child_protection__notifications") & (pl.col("record_key") > "N0000000190")
    )
    write_person_records(con, records.join(latest, on="record_ref", how="anti"))
    build_identities(con)
    link_persons(con, linked_mini["artefact"], SECRET)
    con.close()
    return {"path": path, "latest": latest, "artefact": linked_mini["artefact"]}


def _open_copy(held_back, folder) -> duckdb.DuckDBPyConnection:
    copy = folder / "identified.duckdb"
    shutil.copy(held_back["path"], copy)
    return duckdb.connect(str(copy))


@pytest.fixture(scope="module")
def incremental_run(held_back, tmp_path_factory):
    """The held-back notifications added incrementally to a copy of the spine without them."""
    con = _open_copy(held_back, tmp_path_factory.mktemp("incremental"))
    artefact, latest = held_back["artefact"], held_back["latest"]
    before = con.sql(f"SELECT {SPINE_COLUMNS} FROM {SPINE_TABLE}").pl()
    pairs_before = con.sql("SELECT * FROM linkage.person_pairs").pl()
    summary = link_new_records(con, artefact, latest, SECRET)
    after = con.sql(f"SELECT {SPINE_COLUMNS} FROM {SPINE_TABLE}").pl()
    yield {
        "con": con,
        "artefact": artefact,
        "latest": latest,
        "before": before,
        "after": after,
        "summary": summary,
        "pairs_before": pairs_before,
    }
    con.close()


def test_new_records_join_the_spine(incremental_run):
    run = incremental_run
    assert run["summary"]["new_records"] == run["latest"].height > 0
    assert run["after"].height == run["before"].height + 2 * run["latest"].height
    assert run["summary"]["pairs_new_existing"] > 0


def test_persons_untouched_by_the_extract_keep_cluster_and_key(incremental_run):
    run = incremental_run
    for level in ("conservative", "less_conservative"):
        before = run["before"].filter(pl.col("level") == level)
        after = run["after"].filter(pl.col("level") == level)
        joined = before.join(after, on="record_ref", suffix="_after")
        assert (joined["person_key"] == joined["person_key_after"]).all()  # no merges/splits here: every old key stays
        relinked = run["summary"][level]["records_relinked"]
        untouched = joined.filter(pl.col("cluster_id") == pl.col("cluster_id_after"))
        assert untouched.height >= before.height - relinked


def test_incremental_scores_equal_a_full_predict(incremental_run, linked_mini):
    """Stored model and TF tables: a pair scores the same whether found incrementally or
    by the full run on all records (linked_mini)."""
    full = linked_mini["con"].sql("SELECT unique_id_l, unique_id_r, match_probability FROM linkage.person_pairs").pl()
    incremental = (
        incremental_run["con"].sql("SELECT unique_id_l, unique_id_r, match_probability FROM linkage.person_pairs").pl()
    )

    def norm(f: pl.DataFrame) -> pl.DataFrame:
        return f.select(
            pl.min_horizontal("unique_id_l", "unique_id_r").alias("a"),
            pl.max_horizontal("unique_id_l", "unique_id_r").alias("b"),
            "match_probability",
        )

    joined = norm(full).join(norm(incremental), on=["a", "b"], suffix="_incremental")
    assert joined.height == full.height == incremental.height
    assert (joined["match_probability"] - joined["match_probability_incremental"]).abs().max() < 1e-9


def test_incremental_quality_matches_the_full_run(incremental_run, linked_mini):
    truth = linked_mini["world"]["truth"]

    def child_recall(con):
        records = con.sql(
            "SELECT unique_id, agency, record_type, record_key, slot, role, source_dataset FROM linkage.person_records"
        ).pl()
        clusters = con.sql(
            "SELECT unique_id, cluster_id FROM linkage.person_clusters WHERE level = 'less_conservative'"
        ).pl()
        return pair_metrics(attach_truth(records, truth).join(clusters, on="unique_id"))["child"]

    full, incremental = child_recall(linked_mini["con"]), child_recall(incremental_run["con"])
    assert incremental["recall"] >= full["recall"] - 0.01
    assert incremental["precision"] >= full["precision"] - 0.01


def test_redelivered_records_are_skipped(incremental_run):
    run = incremental_run
    again = link_new_records(run["con"], run["artefact"], run["latest"], SECRET)
    assert again == {"new_records": 0}


# --- the clerical decisions bind an incremental run as they bind a full one ----------------------


def _touched_and_untouched(before: pl.DataFrame, after: pl.DataFrame, new_refs: list[str]):
    """From a run without decisions: the old records that share a cluster with a new record
    at both levels (touched), and the less conservative persons whose records no new
    record joined and whose cluster stayed as it was (untouched, by person_key)."""
    touched = None
    for level in LEVELS:
        at = after.filter(pl.col("level") == level)
        with_new = at.filter(pl.col("cluster_id").is_in(at.filter(pl.col("record_ref").is_in(new_refs))["cluster_id"]))
        old = set(with_new.filter(~pl.col("record_ref").is_in(new_refs))["unique_id"])
        touched = old if touched is None else touched & old
    loose = before.filter(pl.col("level") == "less_conservative")
    loose_after = after.filter(pl.col("level") == "less_conservative").select("unique_id", cluster_after="cluster_id")
    stayed = (
        loose.join(loose_after, on="unique_id")
        .group_by("person_key")
        .agg(pl.col("cluster_after").n_unique().alias("clusters"), pl.col("unique_id").is_in(list(touched)).any())
        .filter((pl.col("clusters") == 1) & ~pl.col("unique_id"))
    )
    whole = after.filter(pl.col("level") == "less_conservative").group_by("cluster_id").len()
    sizes = loose.group_by("person_key", "cluster_id").len().join(whole, on="cluster_id", suffix="_after")
    kept = sizes.filter(pl.col("len") == pl.col("len_after"))["person_key"]  # no record joined or left
    untouched = sorted(set(stayed["person_key"]) & set(kept))
    return touched, untouched


def test_incremental_relinking_honours_the_clerical_decisions(held_back, incremental_run, tmp_path):
    """A forced link honoured by the last full run, a forced non-link and a forced link
    recorded since, each between records whose persons the new extract touches (the link's
    other side in a person it does not touch): the incremental run keeps all three, names
    the decisions in its key events, and groups those records as a full run with the same
    decisions does. Without the decisions the same run leaves the non-linked records
    together and the linked ones apart."""
    probe_before, probe_after = incremental_run["before"], incremental_run["after"]
    new_refs = held_back["latest"]["record_ref"].to_list()
    touched, untouched = _touched_and_untouched(probe_before, probe_after, new_refs)
    cons = probe_before.filter(pl.col("level") == "conservative")
    loose = probe_before.filter(pl.col("level") == "less_conservative")
    loose_key = dict(zip(loose["unique_id"], loose["person_key"]))
    split = (
        cons.filter(pl.col("unique_id").is_in(list(touched)))
        .group_by("person_key")
        .agg(pl.col("identity_id").n_unique().alias("identities"))
        .filter(pl.col("identities") >= 2)
        .sort("person_key")["person_key"][0]
    )
    members = cons.filter(pl.col("person_key") == split).sort("unique_id")
    u = members["unique_id"][0]
    v = members.filter(pl.col("identity_id") != members["identity_id"][0])["unique_id"][0]
    touched_persons = sorted({loose_key[r] for r in touched} - {loose_key[u]})
    first = {k: min(loose.filter(pl.col("person_key") == k)["unique_id"]) for k in touched_persons[:2] + untouched[:2]}
    (x, x2), (y, y2) = [first[k] for k in touched_persons[:2]], [first[k] for k in untouched[:2]]
    probe = dict(zip(*probe_after.filter(pl.col("level") == "conservative").select("unique_id", "cluster_id")))
    probe_loose = dict(
        zip(*probe_after.filter(pl.col("level") == "less_conservative").select("unique_id", "cluster_id"))
    )
    assert probe[u] == probe[v] and probe_loose[x] != probe_loose[y] and probe_loose[x2] != probe_loose[y2]

    con = _open_copy(held_back, tmp_path)
    try:
        identity_of = dict(con.execute(f"SELECT unique_id, identity_id FROM {PERSON_RECORDS_TABLE}").fetchall())
        monday, tuesday = dt.datetime(2026, 12, 7, 9), dt.datetime(2026, 12, 8, 9)
        record_decisions(con, _decisions([(x, y, "match")], identity_of), "A. Reviewer", "one.csv", now=monday)
        replace_spine(con, SECRET, "reviewed")
        later = record_decisions(
            con,
            _decisions([(u, v, "non_match"), (x2, y2, "match")], identity_of),
            "B. Reviewer",
            "two.csv",
            now=tuesday,
        )
        non_match_id, match_id = later["decision_id"].to_list()
        link_new_records(con, held_back["artefact"], held_back["latest"], SECRET, run_id="incremental")

        honoured = decisions_honoured(con)
        assert [(r["matches"], r["matches_together"], r["non_matches"], r["non_matches_apart"]) for r in honoured] == [
            (2, 2, 1, 1)
        ] * len(LEVELS)
        spine = con.sql(f"SELECT unique_id, identity_id, level, cluster_id FROM {SPINE_TABLE}").pl()
        full = cluster_levels(con, review=review_constraints(con))  # a full run's clusters, same decisions
        for level in LEVELS:
            at = spine.filter(pl.col("level") == level)
            cluster_of = dict(zip(at["identity_id"], at["cluster_id"]))
            full_of = dict(zip(*full[level].select("unique_id", "cluster_id")))
            for record in (u, v, x, y, x2, y2):
                identity = identity_of[record]
                incremental_group = {i for i, c in cluster_of.items() if c == cluster_of[identity]}
                full_group = {i for i, c in full_of.items() if c == full_of[identity]}
                assert incremental_group == full_group, (level, record)
            events = con.sql(
                f"SELECT event, decision_id, cause FROM {EVENTS_TABLE} WHERE run_id = 'incremental' AND level = '{level}'"
            ).pl()
            assert events.filter(pl.col("event") == "split")["decision_id"].to_list() == [non_match_id]
            assert (pl.Series([match_id]).is_in(events.filter(pl.col("event") == "merge")["decision_id"])).all()
            assert set(events.filter(pl.col("decision_id").is_not_null())["cause"]) == {
                "review_match",
                "review_non_match",
            }
    finally:
        con.close()
