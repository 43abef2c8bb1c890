"""The full run on the mini world, measured against its truth."""

import polars as pl

from cmi_assets.linkage.clustering import size_summary
from cmi_assets.linkage.quality import linkage_quality
from cmi_assets.linkage.spine import SPINE_TABLE, link_persons


def _report(linked):
    con = linked["con"]
    clusters = {
        level: con.sql(
            f"SELECT unique_id, record_ref, cluster_id FROM linkage.person_clusters WHERE level = '{level}'"
        ).pl()
        for level in ("conservative", "less_conservative")
    }
    return linkage_quality(
        con,
        clusters,
        linked["world"]["truth"],
        "linkage.person_records",
        linked["world"]["persons"],
        linked["artefact"]["blocking_rules"],
    )


def test_less_conservative_links_are_accurate(linked_mini):
    report = _report(linked_mini)
    pairs = report["less_conservative"]["pairs"]
    # a small, noisy world (CP noise at the default profile's rates): high but not perfect
    assert pairs["child"]["precision"] >= 0.98 and pairs["child"]["recall"] >= 0.97
    assert pairs["adult"]["precision"] >= 0.99 and pairs["adult"]["recall"] >= 0.97
    assert report["blocking"]["blocking_recall"] >= 0.98
    assert report["records_without_truth"] == 0


def test_conservative_level_trades_recall_for_precision(linked_mini):
    """NZ Table 4: the conservative linkage misses links the less conservative one makes
    (all its errors are missed links); it should not add false ones."""
    report = _report(linked_mini)
    cons, less = report["conservative"]["pairs"], report["less_conservative"]["pairs"]
    assert cons["child"]["recall"] < less["child"]["recall"]
    false_pairs = {
        level: p["child"]["predicted_pairs"] - p["child"]["correct_pairs"] for level, p in (("c", cons), ("l", less))
    }
    assert false_pairs["c"] <= false_pairs["l"]
    assert (
        report["conservative"]["clusters"]["person_agreement"]
        < report["less_conservative"]["clusters"]["person_agreement"]
    )


def test_both_levels_kept_for_every_record(linked_mini):
    con = linked_mini["con"]
    n = con.execute("SELECT count(*) FROM linkage.person_records").fetchone()[0]
    by_level = dict(
        con.execute(f"SELECT level, count(DISTINCT unique_id) FROM {SPINE_TABLE} GROUP BY level").fetchall()
    )
    assert by_level == {"conservative": n, "less_conservative": n}
    # a person at the conservative level never spans two less-conservative persons
    spans = con.execute(f"""SELECT max(n) FROM (SELECT c.person_key, count(DISTINCT l.person_key) n FROM {SPINE_TABLE} c
        JOIN {SPINE_TABLE} l USING (unique_id) WHERE c.level = 'conservative' AND l.level = 'less_conservative' GROUP BY 1)""").fetchone()[
        0
    ]
    assert spans == 1


def test_summary_cluster_sizes_are_the_spines(linked_mini):
    # the summary's sizes come from the identities' record counts, not from the spine
    con = linked_mini["con"]
    for level in ("conservative", "less_conservative"):
        sizes = con.execute(
            f"SELECT count(*) AS n FROM {SPINE_TABLE} WHERE level = ? GROUP BY cluster_id", [level]
        ).pl()["n"]
        expected = size_summary(sizes)
        summary = linked_mini["summary"][level]
        assert {k: summary[k] for k in expected} == expected
        assert expected["clusters"] == summary["persons"] and expected["max_size"] > 1


def test_rerun_keeps_every_key_and_summary_has_no_values(linked_mini):
    con = linked_mini["con"]
    before = con.sql(f"SELECT record_ref, level, person_key FROM {SPINE_TABLE}").pl()
    summary = link_persons(con, linked_mini["artefact"], b"test-secret", run_id="rerun")
    after = con.sql(f"SELECT record_ref, level, person_key FROM {SPINE_TABLE}").pl()
    joined = before.join(after, on=["record_ref", "level"], suffix="_after")
    assert joined.height == before.height == after.height
    assert (joined["person_key"] == joined["person_key_after"]).all()
    assert summary["less_conservative"]["events_new"] == 0 and summary["less_conservative"]["events_merge"] == 0
    # the summary holds counts and rates only: no name, DOB or ID from the data
    text = repr(summary).upper()
    names = pl.concat([linked_mini["world"]["stg_births_registrations"]["child_family_name"].str.to_uppercase()])
    assert not any(n in text for n in names.unique().to_list() if len(n) > 3)
