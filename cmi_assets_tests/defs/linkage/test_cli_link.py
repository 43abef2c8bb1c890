"""`cmi link FILES... --mapping --out [--dob-format]`: the command calls link_files,
applies --dob-format where the mapping names none, prints counts only, and reports a bad
mapping as a usage error naming the field."""

from __future__ import annotations

import json

import polars as pl
import yaml
from click.testing import CliRunner

from cmi_assets.cli import main
from cmi_assets_tests.linkage.conftest import build_mini_world


def _files(tmp_path):
    world = build_mini_world(n_families=60, seed=4)
    births = world["stg_births_registrations"]
    births.select(
        pl.col("reg_number").alias("rec"),
        pl.col("child_given_names").alias("names"),
        pl.col("child_family_name").alias("surname"),
        pl.col("child_dob").dt.strftime("%d/%m/%Y").alias("born"),
        pl.col("child_sex").alias("sex"),
    ).write_csv(tmp_path / "left.csv")
    notes = world["stg_child_protection_notifications"]
    notes.select(
        pl.col("notification_id").alias("rec"),
        pl.col("given_name").alias("names"),
        pl.col("family_name").alias("surname"),
        pl.col("dob").dt.strftime("%d/%m/%Y").alias("born"),
        pl.col("sex").alias("sex"),
    ).write_csv(tmp_path / "right.csv")
    mapping = {
        "id": "rec",
        "given_names": "names",
        "family_name": "surname",
        "dob": "born",
        "sex": "sex",
        "role": "child",
    }
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return births, notes


def test_cmi_link_writes_pairs_and_clusters(tmp_path):
    births, notes = _files(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "link",
            str(tmp_path / "left.csv"),
            str(tmp_path / "right.csv"),
            "--mapping",
            str(tmp_path / "mapping.yaml"),
            "--out",
            str(out),
            "--dob-format",
            "%d/%m/%Y",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (
        summary["files"]["left.csv"]["records"] == births.height
        and summary["files"]["right.csv"]["records"] == notes.height
    )
    clusters = pl.read_parquet(out / "clusters.parquet")
    assert clusters.height == births.height + notes.height
    # the DOBs were parsed with --dob-format: almost every notification (all are of
    # registered children) joins a registration's cluster
    with_left = clusters.filter(pl.col("file") == "left.csv")["cluster_id_less_conservative"].implode()
    right = clusters.filter(pl.col("file") == "right.csv")
    assert right["cluster_id_less_conservative"].is_in(with_left).mean() > 0.9
    assert (out / "pairs.parquet").exists()
    assert not any(name in result.output for name in births["child_family_name"].drop_nulls().to_list()[:50])


def test_cmi_link_reports_a_bad_mapping(tmp_path):
    _files(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"id": "rec", "given_names": "no_such_column"}))
    result = CliRunner().invoke(
        main,
        [
            "link",
            str(tmp_path / "left.csv"),
            str(tmp_path / "right.csv"),
            "--mapping",
            str(tmp_path / "bad.yaml"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code != 0
    assert "no_such_column" in result.output and "Traceback" not in result.output
