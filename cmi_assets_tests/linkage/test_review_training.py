"""Reviewers' match labels feed Splink's m estimation (estimate_m_from_pairwise_labels) when
there are enough of them, and leave the model exactly as it was when there are too few.
The labels are the mini world's true same-person identity pairs; the m of DOB's exact
level moves towards the share of those pairs whose DOBs are equal."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from cmi_assets.linkage.person_records import IDENTITIES_TABLE, PERSON_RECORDS_TABLE, build_person_records
from cmi_assets.linkage.train import train_model
from cmi_assets_tests.linkage.conftest import TEST_U_MAX_PAIRS


@pytest.fixture(scope="module")
def trained(mini_world):
    import duckdb

    from cmi_assets_tests.linkage.conftest import load_stg

    con = duckdb.connect()
    load_stg(con, mini_world)
    build_person_records(con)
    baseline = train_model(con, seed=3, u_max_pairs=TEST_U_MAX_PAIRS)
    yield con, baseline, mini_world["truth"]
    con.close()


def _true_identity_pairs(con, truth: pl.DataFrame) -> pl.DataFrame:
    records = con.sql(f"SELECT identity_id, agency, record_type, record_key, slot FROM {PERSON_RECORDS_TABLE}").pl()
    person = records.join(truth, on=["agency", "record_type", "record_key", "slot"]).select(
        "identity_id", "true_person_id"
    )
    rows = []
    for _, group in person.unique().group_by("true_person_id"):
        ids = sorted(group["identity_id"].to_list())
        rows += list(itertools.combinations(ids, 2))[:3]
    return pl.DataFrame(rows, schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64}, orient="row")


def _level_m(artefact: dict, comparison: str, label: str) -> float:
    [found] = [c for c in artefact["model"]["comparisons"] if c["output_column_name"] == comparison]
    [level] = [lv for lv in found["comparison_levels"] if lv.get("label_for_charts") == label]
    return level["m_probability"]


def test_enough_match_labels_set_the_m_values_too_few_change_nothing(trained):
    con, baseline, truth = trained
    labels = _true_identity_pairs(con, truth)
    assert labels.height >= 200
    relabelled = train_model(
        con, seed=3, u_max_pairs=TEST_U_MAX_PAIRS, match_labels=labels, min_match_labels=labels.height
    )
    assert relabelled["training"]["review_match_labels"] == labels.height
    assert relabelled["sha256"] != baseline["sha256"]
    # DOB's exact level: the labels estimate its m as the share of labelled pairs (outside
    # the null level) whose DOBs are equal
    ids = con.sql(f"SELECT unique_id, dob, birth_year FROM {IDENTITIES_TABLE}").pl()
    pairs = labels.join(ids.rename({c: f"{c}_l" for c in ids.columns}), left_on="unique_id_l", right_on="unique_id_l")
    pairs = pairs.join(ids.rename({c: f"{c}_r" for c in ids.columns}), left_on="unique_id_r", right_on="unique_id_r")
    null_level = (pl.col("dob_l").is_null() | pl.col("dob_r").is_null()) & (
        pl.col("birth_year_l").is_null() | pl.col("birth_year_r").is_null()
    )
    compared = pairs.filter(~null_level)
    share = compared.filter(pl.col("dob_l") == pl.col("dob_r")).height / compared.height
    before, after = _level_m(baseline, "dob", "exact"), _level_m(relabelled, "dob", "exact")
    # Splink takes each level's median over its training sessions (the EM passes and the
    # labels): the labels move the m towards their own share
    assert abs(after - share) < abs(before - share)

    too_few = train_model(
        con, seed=3, u_max_pairs=TEST_U_MAX_PAIRS, match_labels=labels, min_match_labels=labels.height + 1
    )
    assert too_few["sha256"] == baseline["sha256"]
    assert "review_match_labels" not in too_few["training"]
