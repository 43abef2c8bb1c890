"""`cmi link` engine: two person files in different layouts, linked against the truth."""

import polars as pl
import pytest

from cmi_assets.linkage.link_files import link_files, read_mapping


@pytest.fixture(scope="module")
def two_files(tmp_path_factory, mini_world):
    out = tmp_path_factory.mktemp("files")
    births = mini_world["stg_births_registrations"]
    left = births.select(
        pl.col("reg_number").alias("rec"), pl.col("child_given_names").alias("names"), pl.col("child_family_name").alias("surname"),
        pl.col("child_dob").dt.strftime("%d/%m/%Y").alias("born"), pl.col("child_sex").alias("sex"),
        pl.col("mother_given_names").alias("mum"))
    left.write_csv(out / "left.csv")
    cp = mini_world["stg_child_protection_notifications"]
    right = cp.select(
        pl.col("notification_id").alias("id"), pl.col("given_name").alias("first"), pl.col("family_name").alias("last"),
        pl.col("dob").alias("dob"), pl.col("sex").alias("gender"), pl.col("caregiver1_given_name").alias("carer"))
    right.write_parquet(out / "right.parquet")
    mapping = {
        "left": {"id": "rec", "given_names": "names", "family_name": "surname", "dob": "born", "dob_format": "%d/%m/%Y",
                 "sex": "sex", "parent1_given_names": "mum", "role": "child", "duplicate_free": True},
        "right": {"id": "id", "given_name": "first", "family_name": "last", "dob": "dob", "dob_format": "%Y-%m-%d",
                  "sex": "gender", "parent1_given_names": "carer", "role": "child"},
    }
    truth = mini_world["truth"]
    true_ids = {
        "left": truth.filter(pl.col("record_type") == "registrations", pl.col("slot") == "child").select(pl.col("record_key"), "true_person_id"),
        "right": truth.filter(pl.col("record_type") == "notifications", pl.col("slot") == "person").select(pl.col("record_key"), "true_person_id"),
    }
    return out, mapping, true_ids


def test_link_two_files_against_truth(two_files, tmp_path):
    folder, mapping, true_ids = two_files
    summary = link_files(folder / "left.csv", folder / "right.parquet", mapping, tmp_path / "out")
    assert summary["records_left"] == true_ids["left"].height and summary["records_right"] == true_ids["right"].height
    clusters = pl.read_parquet(tmp_path / "out" / "clusters.parquet")
    labelled = pl.concat([
        clusters.filter(pl.col("file") == side).join(true_ids[side], on="record_key") for side in ("left", "right")
    ])
    assert labelled.height == clusters.height
    # cross-file links: every CP notification of a registered child should join its registration
    right = labelled.filter(pl.col("file") == "right")
    registered = labelled.filter(pl.col("file") == "left").select("true_person_id", pl.col("cluster_id_less_conservative").alias("reg_cluster"))
    joined = right.join(registered, on="true_person_id")
    recall = (joined["cluster_id_less_conservative"] == joined["reg_cluster"]).mean()
    assert recall >= 0.90  # names, DOB, sex and one parent only: no address or IDs
    # no cluster holds two children
    purity = labelled.group_by("cluster_id_less_conservative").agg(pl.col("true_person_id").n_unique())
    assert (purity["true_person_id"] == 1).mean() >= 0.98
    pairs = pl.read_parquet(tmp_path / "out" / "pairs.parquet")
    assert {"match_probability", "file_l", "file_r", "is_link_less_conservative"} <= set(pairs.columns)
    assert "names" not in pairs.columns and "given_name_l" not in pairs.columns  # ids and scores only


def test_mapping_errors_name_the_column_not_values(two_files, tmp_path):
    folder, mapping, _ = two_files
    bad = {**mapping, "left": {**mapping["left"], "family_name": "no_such_column"}}
    with pytest.raises(ValueError, match="no_such_column"):
        link_files(folder / "left.csv", folder / "right.parquet", bad, tmp_path / "out")


def test_mapping_from_yaml(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("id: rid\ngiven_name: fn\nfamily_name: ln\ndob: d\ndob_format: '%Y%m%d'\n")
    left, right = read_mapping(path)
    assert left == right and left["dob_format"] == "%Y%m%d"
