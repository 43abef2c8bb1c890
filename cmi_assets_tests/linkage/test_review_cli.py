"""`cmi review export` -> a reviewer fills the decisions (the mini world's truth plays the
reviewer) -> `cmi review import`, through the command line (click's CliRunner) on a real
identified zone (a DuckDB file holding the linked mini world); then a real spine run
honours the decisions. A bad row is rejected naming the file, row and field, and nothing
is recorded."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from cmi_assets.cli import main
from cmi_assets.linkage.review import DECISION_FILE_COLUMNS, UNCERTAIN_BAND_WEIGHT, probability_to_weight
from cmi_assets.linkage.spine_run import replace_spine
from cmi_assets.linkage.tables import (
    PAIRS_TABLE,
    PERSON_RECORDS_TABLE,
    REVIEW_DECISIONS_TABLE,
    SPINE_TABLE,
    THRESHOLDS_TABLE,
)

SECRET = b"test-secret"
SCORE_WORDS = ("weight", "probability", "score", "cluster", "is_link", "person_key", "stratum", "band")


@pytest.fixture
def data_dir(linked_mini, tmp_path, monkeypatch):
    """A data folder whose identified zone is a copy of the linked mini world (and no
    Dagster instance for the import to observe on)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    source = linked_mini["con"]
    source.execute(f"ATTACH '{folder / 'identified.duckdb'}' AS review_copy")
    try:
        source.execute("COPY FROM DATABASE memory TO review_copy")
    finally:
        source.execute("DETACH review_copy")
    return folder


def _truth_decisions(exported: pl.DataFrame, data_dir, truth: pl.DataFrame) -> pl.DataFrame:
    """The truth as the reviewer: match where both shown records are one true person,
    non_match otherwise; every third pair left undecided, one pair unsure."""
    with duckdb.connect(str(data_dir / "identified.duckdb"), read_only=True) as con:
        records = con.sql(f"SELECT unique_id, agency, record_type, record_key, slot FROM {PERSON_RECORDS_TABLE}").pl()
    person = records.join(truth, on=["agency", "record_type", "record_key", "slot"]).select(
        "unique_id", "true_person_id"
    )
    out = exported.join(
        person.rename({"unique_id": "record_id_l", "true_person_id": "p_l"}), on="record_id_l", how="left"
    ).join(person.rename({"unique_id": "record_id_r", "true_person_id": "p_r"}), on="record_id_r", how="left")
    decision = pl.when(pl.col("p_l") == pl.col("p_r")).then(pl.lit("match")).otherwise(pl.lit("non_match"))
    out = out.with_row_index("i").with_columns(
        pl.when(pl.col("i") % 3 == 2)
        .then(pl.lit(""))
        .when(pl.col("i") == 0)
        .then(pl.lit("unsure"))
        .otherwise(decision)
        .alias("decision"),
        pl.lit("compared names and DOB").alias("reason"),
    )
    return out.drop("i", "p_l", "p_r")


def test_export_fill_import_round_trip_and_the_spine_follows(data_dir, linked_mini, tmp_path):
    runner = CliRunner()
    out = tmp_path / "review" / "pairs.csv"
    result = runner.invoke(
        main, ["review", "export", "--out", str(out), "--data-dir", str(data_dir), "--children", "40"]
    )
    assert result.exit_code == 0, result.output
    exported = pl.read_csv(out, infer_schema=False)
    assert exported.height > 20
    # blind: no score, weight, link or cluster column, and the order is not the score's
    assert not [c for c in exported.columns if any(word in c for word in SCORE_WORDS)]
    assert exported["pair_id"].n_unique() == exported.height
    for column in ("given_name", "family_name", "dob", "sex", "address", "postcode", "agency", "record_type"):
        assert f"{column}_l" in exported.columns and f"{column}_r" in exported.columns
    with duckdb.connect(str(data_dir / "identified.duckdb"), read_only=True) as con:
        pairs = con.sql(f"SELECT unique_id_l, unique_id_r, match_weight FROM {PAIRS_TABLE}").pl()
        threshold = con.sql(f"SELECT less_conservative_min_probability FROM {THRESHOLDS_TABLE}").fetchone()[0]
    weights = exported.select(pl.col("unique_id_l", "unique_id_r").cast(pl.Int64)).with_row_index("position")
    weights = weights.join(pairs, on=["unique_id_l", "unique_id_r"], how="left").sort("position")
    assert weights["match_weight"].null_count() == 0  # every exported pair is a scored pair
    rho = np.corrcoef(weights["position"].rank().to_numpy(), weights["match_weight"].rank().to_numpy())[0, 1]
    assert abs(rho) < 0.3
    # the uncertain band is in the file, and its README names the band
    centre = probability_to_weight(threshold)
    in_band = weights.filter((pl.col("match_weight") - centre).abs() <= UNCERTAIN_BAND_WEIGHT)
    assert in_band.height > 0
    readme = (out.parent / "pairs.csv.README.txt").read_text()
    assert f"{centre - UNCERTAIN_BAND_WEIGHT:.2f} and {centre + UNCERTAIN_BAND_WEIGHT:.2f}" in readme

    filled = _truth_decisions(
        exported.with_columns(pl.col("record_id_l", "record_id_r").cast(pl.Int64)),
        data_dir,
        linked_mini["world"]["truth"],
    )
    decisions_file = tmp_path / "review" / "pairs_decided.csv"
    filled.write_csv(decisions_file)
    decided = filled.filter(pl.col("decision") != "")
    result = runner.invoke(
        main, ["review", "import", str(decisions_file), "--reviewer", "J. Smith", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    assert f"{decided.height} decisions recorded" in result.output

    with duckdb.connect(str(data_dir / "identified.duckdb")) as con:
        audit = con.sql(f"SELECT * FROM {REVIEW_DECISIONS_TABLE} ORDER BY decision_id").pl()
        assert audit.height == decided.height
        assert audit["decision_id"].to_list() == list(range(1, decided.height + 1))
        assert set(audit["reviewer"]) == {"J. Smith"} and set(audit["source_file"]) == {"pairs_decided.csv"}
        assert audit["decided_at"].null_count() == 0
        assert sorted(audit["pair_id"]) == sorted(decided["pair_id"])
        kinds = dict(audit.group_by("decision").len().iter_rows())
        assert kinds["unsure"] == 1 and kinds["match"] > 0 and kinds["non_match"] > 0

        # the next spine run honours them: matches together, non-matches apart, at both levels
        replace_spine(con, SECRET, "after-import")
        spine = con.sql(f"SELECT identity_id, level, person_key FROM {SPINE_TABLE}").pl().unique()
    acting = audit.filter(pl.col("decision") != "unsure")
    for level in ("conservative", "less_conservative"):
        key = dict(spine.filter(pl.col("level") == level).select("identity_id", "person_key").iter_rows())
        for row in acting.iter_rows(named=True):
            together = key[row["unique_id_l"]] == key[row["unique_id_r"]]
            assert together == (row["decision"] == "match"), (level, row["decision_id"])


def test_a_bad_row_names_file_row_and_field_and_records_nothing(data_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "pairs.csv"
    assert runner.invoke(main, ["review", "export", "--out", str(out), "--data-dir", str(data_dir)]).exit_code == 0
    exported = pl.read_csv(out, infer_schema=False)
    decisions = ["match"] * exported.height
    decisions[3] = "maybe"  # file row 5: the header is row 1
    bad = exported.with_columns(pl.Series("decision", decisions))
    bad_file = tmp_path / "bad_decisions.csv"
    bad.write_csv(bad_file)
    result = runner.invoke(
        main, ["review", "import", str(bad_file), "--reviewer", "J. Smith", "--data-dir", str(data_dir)]
    )
    assert result.exit_code != 0
    assert "bad_decisions.csv: row 5, field decision" in result.output
    assert "nothing recorded" in result.output
    assert "maybe" not in result.output  # the value is not echoed

    edited = exported.with_columns(pl.lit("match").alias("decision"))
    ids = edited["unique_id_r"].to_list()
    ids[0] = edited["unique_id_r"][1]  # an id edited by hand: the pair_id no longer fits
    edited = edited.with_columns(pl.Series("unique_id_r", ids))
    edited_file = tmp_path / "edited.csv"
    edited.write_csv(edited_file)
    result = runner.invoke(
        main, ["review", "import", str(edited_file), "--reviewer", "J. Smith", "--data-dir", str(data_dir)]
    )
    assert result.exit_code != 0
    assert re.search(r"edited\.csv: row 2, field (pair_id|unique_id_r)", result.output)
    with duckdb.connect(str(data_dir / "identified.duckdb"), read_only=True) as con:
        tables = con.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'linkage'").pl()
        assert REVIEW_DECISIONS_TABLE.split(".")[1] not in tables["table_name"].to_list()


def test_the_html_page_is_offline_and_saves_the_decisions_file(data_dir, tmp_path):
    out = tmp_path / "pairs.html"
    result = CliRunner().invoke(
        main, ["review", "export", "--out", str(out), "--format", "html", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    csv_out = tmp_path / "pairs.csv"
    CliRunner().invoke(main, ["review", "export", "--out", str(csv_out), "--data-dir", str(data_dir)])
    exported = pl.read_csv(csv_out, infer_schema=False)
    # the same pairs, each with the three choices and a reason field
    assert page.count('class="pair"') == exported.height
    assert all(f'data-pair-id="{p}"' in page for p in exported["pair_id"])
    assert page.count('type="radio"') == 3 * exported.height
    assert page.count('class="reason"') == exported.height
    assert 'class="differ"' in page  # fields that differ between the two records are shaded
    # nothing fetched: no URL, no external script, style or image
    assert not re.search(r"https?://|<link|\bsrc=|@import|url\(", page)
    assert "default-src 'none'" in page
    # the saved CSV has the columns the import reads, in order
    assert f"const COLUMNS = {list(DECISION_FILE_COLUMNS)}".replace("'", '"') in page
    assert "link.download = FILE_NAME" in page and '"pairs_decisions.csv"' in page


def test_accuracy_against_the_decisions_counts_the_labelled_pairs(data_dir, linked_mini, tmp_path):
    """linkage_model's precision and recall against the reviewers' decisions, checked by
    counting the decided pairs' own match weights at each threshold."""
    from cmi_assets.linkage.review import accuracy_from_review

    runner = CliRunner()
    out = tmp_path / "pairs.csv"
    assert runner.invoke(main, ["review", "export", "--out", str(out), "--data-dir", str(data_dir)]).exit_code == 0
    exported = pl.read_csv(out, infer_schema=False).with_columns(pl.col("record_id_l", "record_id_r").cast(pl.Int64))
    filled = _truth_decisions(exported, data_dir, linked_mini["world"]["truth"])
    filled.write_csv(tmp_path / "decided.csv")
    args = ["review", "import", str(tmp_path / "decided.csv"), "--reviewer", "J. Smith", "--data-dir", str(data_dir)]
    assert runner.invoke(main, args).exit_code == 0
    with duckdb.connect(str(data_dir / "identified.duckdb")) as con:
        rows = accuracy_from_review(con, linked_mini["artefact"])
        pairs = con.sql(f"SELECT unique_id_l, unique_id_r, match_weight FROM {PAIRS_TABLE}").pl()
    decided = filled.filter(pl.col("decision").is_in(["match", "non_match"])).select(
        pl.col("unique_id_l", "unique_id_r").cast(pl.Int64), (pl.col("decision") == "match").alias("is_match")
    )
    scored = decided.join(pairs, on=["unique_id_l", "unique_id_r"])
    assert scored.height == decided.height and rows
    for row in rows:
        assert row["labels"] == decided.height
        # Splink rounds the weights to the nearest 0.1 and keeps its thresholds as 32-bit floats
        predicted = (scored["match_weight"] * 10).round() / 10 >= row["match_weight_threshold"] - 1e-6
        tp = int((predicted & scored["is_match"]).sum())
        fp = int((predicted & ~scored["is_match"]).sum())
        fn = int((~predicted & scored["is_match"]).sum())
        if tp + fp:
            assert row["precision"] == pytest.approx(tp / (tp + fp), abs=1e-9)
        assert row["recall"] == pytest.approx(tp / (tp + fn), abs=1e-9)
