"""The open data package: Frictionless validation, the dictionary, and nothing identifying or
unprotected (the DCAT-US 1.1 catalog: test_dcat_us.py)."""

from __future__ import annotations

import csv
import json

import duckdb
import frictionless
import polars as pl
import pytest

from cmi_assets.community.schema import INDICATORS_TABLE
from cmi_assets.publish.disclosure import protect_indicator_table
from cmi_assets.publish.package import (
    CFSR_PUBLISHED_COLUMNS,
    INCIDENCE_PUBLISHED_COLUMNS,
    PUBLISHED_COLUMNS,
    PublishedTable,
    write_package,
)
from cmi_assets.publish.tables import protect_together
from cmi_assets_tests.publish.worlds import children_frame, long_table


def test_package_files_and_counts(package):
    out, files, published = package
    assert files == {"community_indicators.csv": published.height}
    assert sorted(p.name for p in out.iterdir()) == [
        "community_indicators.csv", "data.json", "data_dictionary.md", "datapackage.json"
    ]  # fmt: skip
    with open(out / "community_indicators.csv") as f:
        header = next(csv.reader(f))
    assert header == [c[0] for c in PUBLISHED_COLUMNS]
    back = pl.read_csv(
        out / "community_indicators.csv",
        schema_overrides={"geography_code": pl.String, "parent_code": pl.String, "group_value": pl.String},
    )
    assert back.filter(pl.col("suppressed"))["count"].null_count() == int(published["suppressed"].sum())
    assert int(published["suppressed"].sum()) > 0


def test_the_csv_flags_hidden_cells_but_not_why(package):
    out, _, published = package
    with open(out / "community_indicators.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert "suppressed" in header and "suppression_reason" not in header
    assert (published["suppression_reason"] == "complementary").any()  # the warehouse keeps it


def test_frictionless_validate_reports_no_errors(package):
    out, _, _ = package
    report = frictionless.validate(str(out / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert report.stats["tasks"] == 1


def test_frictionless_catches_a_broken_csv(package):
    out, _, _ = package
    (out / "community_indicators.csv").write_text("indicator,oops\nx,1\n")
    assert not frictionless.validate(str(out / "datapackage.json")).valid


def test_dictionary_names_every_column(package):
    out, _, _ = package
    text = (out / "data_dictionary.md").read_text()
    for name, _, _ in PUBLISHED_COLUMNS:
        assert f"| {name} |" in text
    assert "primary: a count of 1 to 10" in text


def test_identifying_or_unprotected_tables_are_refused(tmp_path):
    frame = pl.DataFrame({"person_key": ["a"], "suppressed": [False]})
    columns = [("person_key", "VARCHAR", "x"), ("suppressed", "BOOLEAN", "y")]
    table = PublishedTable("t", "t", "t", "s", "u", columns, frame)
    with pytest.raises(ValueError, match="identifying column person_key"):
        write_package(tmp_path, [table])
    plain = PublishedTable("t", "t", "t", "s", "u", [("n", "BIGINT", "x")], pl.DataFrame({"n": [1]}))
    with pytest.raises(ValueError, match="only disclosure-controlled"):
        write_package(tmp_path, [plain])


def test_cmi_publish(tmp_path):
    from click.testing import CliRunner

    from cmi_assets.cli import main

    # state, county and postcode x (all, F, M, decile 1): 12 rows
    rows = [("09001", "06001", s, 1, int(i < 15)) for s in "FM" for i in range(40)]
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    con.execute("create schema community")
    con.register("published", protect_indicator_table(long_table(children_frame(rows))).to_arrow())
    con.execute(f"create table {INDICATORS_TABLE} as select * from published")
    con.close()
    out = tmp_path / "open"
    result = CliRunner().invoke(main, ["publish", "--out", str(out), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "community_indicators.csv: 12 rows" in result.output
    assert frictionless.validate(str(out / "datapackage.json")).valid
    named = CliRunner().invoke(
        main,
        [
            "publish",
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--publisher",
            "State DCF",
            "--contact-email",
            "data@dcf.example.gov",
        ],
    )
    assert named.exit_code == 0, named.output
    dataset = json.loads((out / "data.json").read_text())["dataset"][0]
    assert dataset["publisher"]["name"] == "State DCF"
    assert dataset["contactPoint"]["hasEmail"] == "mailto:data@dcf.example.gov"
    bad = CliRunner().invoke(main, ["publish", "--out", str(out), "--data-dir", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2
    assert len(bad.output.strip().splitlines()) == 1 and "no warehouse" in bad.output


def test_package_of_every_table(linked_package):
    out, files, frames, world = linked_package
    assert files == {
        "community_indicators.csv": frames["community"].height,
        "cfsr_recurrence.csv": frames["cfsr"].height,
        "incidence_rates.csv": frames["incidence"].height,
    }
    report = frictionless.validate(str(out / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert report.stats["tasks"] == 3
    text = (out / "data_dictionary.md").read_text()
    for name, columns in (
        ("cfsr_recurrence", CFSR_PUBLISHED_COLUMNS),
        ("incidence_rates", INCIDENCE_PUBLISHED_COLUMNS),
        ("community_indicators", PUBLISHED_COLUMNS),
    ):
        assert f"## {name}.csv" in text
        for column, _, _ in columns:
            assert f"| {column} |" in text
        with open(out / f"{name}.csv") as f:
            assert next(csv.reader(f)) == [c[0] for c in columns]
    assert "| children | integer |" in text and "hidden where `suppressed`" in text
    catalog = json.loads((out / "data.json").read_text())
    assert [d["distribution"][0]["downloadURL"].rsplit("/", 1)[1] for d in catalog["dataset"]] == list(files)
    # the package is the warehouse's tables protected together (what the attacker tests read)
    together = protect_together(world.stored["community"], world.stored["cfsr"], world.stored["incidence"])
    for name, frame in together.items():
        assert frames[name].equals(frame)


def test_a_count_in_two_files_is_hidden_in_both_or_equal_in_both(linked_package):
    out, _, _, _ = linked_package
    community = pl.read_csv(out / "community_indicators.csv", infer_schema_length=None)
    cfsr = pl.read_csv(out / "cfsr_recurrence.csv")
    recurrence = community.filter(pl.col("indicator") == "cfsr_recurrence").select(
        "period", pl.col("geography_code").alias("area"), "count", "suppressed"
    )
    both = recurrence.join(cfsr, on=["period", "area"])
    assert both.height == recurrence.height > 0
    assert both["suppressed"].to_list() == both["suppressed_right"].to_list()
    shown = both.filter(~pl.col("suppressed"))
    assert shown["count"].to_list() == shown["numerator"].to_list()
    assert both["suppressed"].any()  # CT's recurrence shares the pooled rows with small states
