"""A new extract linked into an existing spine without retraining."""

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.incremental import link_new_records
from cmi_assets.linkage.person_records import build_identities, build_person_records, write_person_records
from cmi_assets.linkage.quality import attach_truth, pair_metrics
from cmi_assets.linkage.spine import SPINE_TABLE, link_persons

SECRET = b"test-secret"


@pytest.fixture(scope="module")
def incremental_run(mini_world, linked_mini, stg_loader):
    """The mini world linked without the latest care and protection notifications, then
    those notifications (about 4% of records) added incrementally."""
    con = duckdb.connect()
    stg_loader(con, mini_world)
    build_person_records(con)
    records = con.sql("SELECT * EXCLUDE (unique_id) FROM linkage.person_records").pl()
    latest = records.filter(
        (pl.col("source_dataset") == "child_protection__notifications") & (pl.col("record_key") > "N0000000190")
    )
    write_person_records(con, records.join(latest, on="record_ref", how="anti"))
    build_identities(con)
    artefact = linked_mini["artefact"]
    link_persons(con, artefact, SECRET)
    before = con.sql(f"SELECT record_ref, level, cluster_id, person_key FROM {SPINE_TABLE}").pl()
    pairs_before = con.sql("SELECT * FROM linkage.person_pairs").pl()
    summary = link_new_records(con, artefact, latest, SECRET)
    after = con.sql(f"SELECT record_ref, level, cluster_id, person_key FROM {SPINE_TABLE}").pl()
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
