"""Clerical review: the weighted estimator by hand, and the sample's 95% interval against
the truth-based agreement on the mini world (the truth plays the reviewer)."""

import polars as pl
import pytest
from scipy import stats

from cmi_assets.linkage.clerical import (
    associated_adult_clusters,
    child_review_units,
    export_review_file,
    load_review_labels,
    review_pairs,
    stratified_sample,
    weighted_agreement,
)
from cmi_assets.linkage.quality import attach_truth


def test_weighted_agreement_by_hand():
    # stratum A: N=100, n=10, 9 agree; stratum B: N=300, n=10, 10 agree
    sample = pl.DataFrame(
        {
            "stratum": ["A"] * 10 + ["B"] * 10,
            "stratum_size": [100] * 10 + [300] * 10,
            "agrees": [True] * 9 + [False] + [True] * 10,
        }
    )
    out = weighted_agreement(sample)
    assert out["estimate"] == pytest.approx(0.25 * 0.9 + 0.75 * 1.0)
    var = 0.25**2 * (1 - 10 / 100) * 0.9 * 0.1 / 9
    n_eff = out["estimate"] * (1 - out["estimate"]) / var
    assert out["effective_n"] == pytest.approx(min(n_eff, 20))
    x = out["estimate"] * out["effective_n"]
    assert out["ci_low"] == pytest.approx(stats.beta.ppf(0.025, x, out["effective_n"] - x + 1))
    assert out["ci_low"] < out["estimate"] < out["ci_high"] <= 1.0


def test_all_agree_gives_an_interval_below_one():
    sample = pl.DataFrame({"stratum": ["A"] * 50, "stratum_size": [1000] * 50, "agrees": [True] * 50})
    out = weighted_agreement(sample)
    assert out["estimate"] == 1.0 and out["ci_high"] == 1.0
    assert out["ci_low"] == pytest.approx(stats.beta.ppf(0.025, 50, 1))  # Clopper-Pearson with 50 of 50


def _truth_agreement(linked, level):
    """Per cluster: does it hold exactly one true person's records, all of them?"""
    con, truth = linked["con"], linked["world"]["truth"]
    records = con.sql("SELECT unique_id, agency, record_type, record_key, slot FROM linkage.person_records").pl()
    clusters = con.sql(
        f"SELECT unique_id, identity_id, cluster_id FROM linkage.person_clusters WHERE level = '{level}'"
    ).pl()
    labelled = attach_truth(records, truth).join(clusters, on="unique_id")
    per_cluster = labelled.group_by("cluster_id").agg(
        pl.col("true_person_id").n_unique().alias("people"),
        pl.col("true_person_id").first().alias("pid"),
        pl.len().alias("n"),
    )
    per_person = labelled.group_by("true_person_id").len("person_n")
    agrees = per_cluster.join(per_person, left_on="pid", right_on="true_person_id").with_columns(
        ((pl.col("people") == 1) & (pl.col("n") == pl.col("person_n"))).alias("agrees")
    )
    return clusters, agrees.select("cluster_id", "agrees")


@pytest.mark.parametrize("level", ["conservative", "less_conservative"])
def test_clerical_interval_covers_truth_based_agreement(linked_mini, level):
    con = linked_mini["con"]
    clusters, agrees = _truth_agreement(linked_mini, level)
    units = child_review_units(con, clusters, "linkage.person_links", level)
    units = units.join(agrees, on="cluster_id")
    truth_rate = units["agrees"].mean()  # the whole cohort, which the sample estimates
    covered = 0
    for seed in range(5):
        sample = stratified_sample(units, ["weight_band"], n_total=150, seed=seed)
        assert sample["unit_id"].n_unique() == sample.height
        estimate = weighted_agreement(sample)
        covered += estimate["ci_low"] <= truth_rate <= estimate["ci_high"]
    assert covered >= 4  # a 95% interval: at most one miss in five draws


def test_table5_child_and_associated_adults(linked_mini):
    con = linked_mini["con"]
    clusters, agrees = _truth_agreement(linked_mini, "less_conservative")
    units = child_review_units(con, clusters, "linkage.person_links", "less_conservative").join(agrees, on="cluster_id")
    adults = associated_adult_clusters(con, clusters, units)
    assert adults.height > 0
    adult_agrees = (
        adults.join(agrees, left_on="adult_cluster_id", right_on="cluster_id")
        .group_by("unit_id")
        .agg(pl.col("agrees").all().alias("adults_agree"))
    )
    family = units.join(adult_agrees, on="unit_id", how="left").with_columns(
        (pl.col("agrees") & pl.col("adults_agree").fill_null(True)).alias("family_agrees")
    )
    # NZ Table 5: agreement for a child and all associated adults is below the child's alone
    assert family["family_agrees"].mean() <= family["agrees"].mean()


def test_review_file_roundtrip_and_splink_accuracy(linked_mini, tmp_path):
    from cmi_assets.linkage.clerical import accuracy_from_labels

    con = linked_mini["con"]
    clusters, _ = _truth_agreement(linked_mini, "less_conservative")
    units = child_review_units(con, clusters, "linkage.person_links", "less_conservative")
    sample = stratified_sample(units, ["weight_band"], n_total=20, seed=1)
    review = review_pairs(con, sample, clusters, "linkage.person_pairs")
    assert review.height > 0
    assert "given_name_l" in review.columns and "given_name_r" in review.columns
    assert not any(c.startswith("address") or c.startswith("person_id") for c in review.columns)  # compared fields only
    path = tmp_path / "review.csv"
    export_review_file(review, path)
    # the reviewer marks pairs above p = 0.5 as matches, the rest as non-matches
    reviewed = pl.read_csv(path).with_columns(
        (pl.col("match_probability") > 0.5).cast(pl.Float64).alias("clerical_match_score")
    )
    reviewed.write_csv(path)
    labels = load_review_labels(path)
    assert labels.columns == ["unique_id_l", "unique_id_r", "clerical_match_score"]
    table = accuracy_from_labels(con, linked_mini["artefact"], labels)
    assert {"precision", "recall"} <= set(table.columns)


def test_bad_label_names_row_not_value(tmp_path):
    path = tmp_path / "review.csv"
    pl.DataFrame({"unique_id_l": [1, 2], "unique_id_r": [3, 4], "clerical_match_score": ["1", "7"]}).write_csv(path)
    with pytest.raises(ValueError) as error:
        load_review_labels(path)
    assert "row 3" in str(error.value) and "7" not in str(error.value).replace("row 3", "")
