"""The Child File of one submission year: element list, code values, missing states,
the extracts fingerprint and the hand-over to the rules engine."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from cmi_assets.cfsr.child_file import (
    CFSR_ELEMENTS,
    extracts_fingerprint,
    for_rules,
    invalid_code_counts,
    missing_elements,
    states_missing_from,
)


def test_missing_elements_are_named():
    con = duckdb.connect()
    con.execute("create schema stg")
    columns = ", ".join(f"{e.lower()} varchar" for e in CFSR_ELEMENTS if e not in ("INCIDDT", "MALDEATH"))
    con.execute(f"create table stg.stg_child_protection_ncands_child ({columns})")
    assert missing_elements(con) == ["MALDEATH", "INCIDDT"]


def test_values_outside_the_code_lists_are_counted():
    frame = pl.DataFrame({"mal1lev": ["1", "2", "7", "X", None], "chage": [3, 77, 99, 30, None], "chsex": ["1"] * 5})
    counts = invalid_code_counts(frame)
    assert counts["MAL1LEV"] == 1 and counts["CHAGE"] == 1 and counts["CHSEX"] == 0


def test_states_missing_since_last_year():
    assert states_missing_from(["CA", "TX"], ["CA", "KY", "TX", "AL"]) == ["AL", "KY"]
    assert states_missing_from(["CA"], []) == []


def test_fingerprint_follows_the_extracts_not_the_row_order():
    frame = pl.DataFrame({"_extract_file": ["a.csv", "a.csv", "b.csv"], "_extract_sha256": ["1", "1", "2"]})
    assert extracts_fingerprint(frame) == extracts_fingerprint(frame.reverse())
    redelivered = pl.when(pl.col("_extract_file") == "b.csv").then(pl.lit("3")).otherwise("_extract_sha256")
    changed = frame.with_columns(redelivered.alias("_extract_sha256"))
    assert extracts_fingerprint(changed) != extracts_fingerprint(frame)


def test_rules_get_upper_case_names_and_types():
    frame = pl.DataFrame({"subyr": [2019], "staterr": ["CA"], "rptdt": [dt.date(2019, 1, 2)], "chage": [4]})
    out = for_rules(frame)
    assert out.columns == ["SUBYR", "STATERR", "RPTDT", "CHAGE"]
    assert out.schema["SUBYR"] == pl.Int64 and out.schema["RPTDT"] == pl.Date
