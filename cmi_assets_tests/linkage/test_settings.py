"""Each comparison's levels, evaluated in DuckDB on hand-made record pairs: the first level
whose SQL holds is the level Splink assigns."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage import settings


def _dtype(column: str) -> pl.DataType:
    name = column[:-2]
    if name == "dob":
        return pl.Date
    if name == "birth_year":
        return pl.Int32
    if name.endswith("forms") or name.endswith("parts"):
        return pl.List(pl.String)
    return pl.String


def _level_label(comparison: dict, left: dict, right: dict) -> str:
    con = duckdb.connect()
    columns = {f"{k}_l": v for k, v in left.items()} | {f"{k}_r": v for k, v in right.items()}
    frame = pl.DataFrame([columns], schema={c: _dtype(c) for c in columns})
    con.execute("CREATE TABLE p AS SELECT * FROM frame")
    for level in comparison["comparison_levels"]:
        if level["sql_condition"] == "ELSE":
            return level["label_for_charts"]
        if con.execute(f"SELECT coalesce(({level['sql_condition']}), FALSE) FROM p").fetchone()[0]:
            return level["label_for_charts"]
    raise AssertionError("no level matched")


def _given(name, middle=None, forms=None):
    return {"given_name": name, "middle_name": middle, "given_forms": forms or ([name] if name else None)}


@pytest.mark.parametrize(
    "left, right, label",
    [
        (_given("WILLIAM"), _given("WILLIAM"), "exact"),
        (_given("JAMES", "PAUL"), _given("PAUL", "JAMES"), "given/middle swapped"),
        (_given("BILL", forms=["BILL", "WILLIAM"]), _given("WILLIAM", forms=["WILLIAM", "BILL"]), "nickname or formal form"),
        (_given("JONATHAN"), _given("JONATHON"), "Jaro-Winkler >= 0.92"),
        (_given("W"), _given("WILLIAM"), "initial agrees"),
        (_given("MARY"), _given("SUSAN"), "all other"),
        (_given(None), _given("SUSAN"), "null"),
    ],
)
def test_given_name_levels(left, right, label):
    assert _level_label(settings.given_name_comparison(), left, right) == label


def _dob(d, year=None):
    return {"dob": d, "birth_year": year or (d.year if d else None), "dob_year_month": d.strftime("%Y-%m") if d else None}


@pytest.mark.parametrize(
    "left, right, label",
    [
        (_dob(dt.date(2010, 3, 4)), _dob(dt.date(2010, 3, 4)), "exact"),
        (_dob(dt.date(2010, 3, 4)), _dob(dt.date(2010, 4, 3)), "day and month transposed"),
        (_dob(dt.date(2010, 3, 4)), _dob(dt.date(2010, 3, 7)), "one character"),
        (_dob(dt.date(2010, 3, 24)), _dob(dt.date(2010, 3, 1)), "same year and month"),
        (_dob(None, year=2009), _dob(dt.date(2010, 3, 4)), "birth year within one"),  # age-only record
        (_dob(dt.date(2001, 3, 4)), _dob(dt.date(2010, 8, 19)), "all other"),
        (_dob(None), _dob(dt.date(2010, 8, 19)), "null"),
    ],
)
def test_dob_levels(left, right, label):
    assert _level_label(settings.dob_comparison(), left, right) == label


@pytest.mark.parametrize(
    "left, right, label",
    [
        ({"family_name": "SMITH", "family_parts": ["SMITH"]}, {"family_name": "SMITH JONES", "family_parts": ["SMITH", "JONES"]}, "a part agrees"),
        ({"family_name": "SMITH", "family_parts": ["SMITH"]}, {"family_name": "SMITH", "family_parts": ["SMITH"]}, "exact"),
        ({"family_name": "SMITH", "family_parts": ["SMITH"]}, {"family_name": "SMYTH", "family_parts": ["SMYTH"]}, "Jaro-Winkler >= 0.80"),
    ],
)
def test_family_name_levels(left, right, label):
    assert _level_label(settings.family_name_comparison(), left, right) == label


def test_agency_id_only_within_one_agency():
    comparison = settings.agency_id_comparison()
    same = {"person_id": "123", "id_namespace": "benefits"}
    assert _level_label(comparison, same, same) == "same ID"
    assert _level_label(comparison, same, {"person_id": "123", "id_namespace": "health"}) == "null"
    assert _level_label(comparison, same, {"person_id": "999", "id_namespace": "benefits"}) == "all other"


def test_parent_names_nickname_aware():
    comparison = settings.parent_given_names_comparison()
    assert _level_label(comparison, {"parent_given_forms": ["BETH", "ELIZABETH"]}, {"parent_given_forms": ["ELIZABETH"]}) == "a parent agrees"
    assert _level_label(comparison, {"parent_given_forms": ["ANN"]}, {"parent_given_forms": ["ZOE"]}) == "all other"


def test_settings_dictionary_is_valid_for_splink():
    from splink import DuckDBAPI, Linker

    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT 1::BIGINT AS unique_id")
    rules = list(settings.CANDIDATE_BLOCKING_RULES.values())
    s = settings.linkage_settings(rules)
    assert [c["output_column_name"] for c in s["comparisons"]] == [
        "given_name", "middle_name", "family_name", "dob", "sex", "parent_given_names", "postcode", "agency_id"]
    tf = [lv["tf_adjustment_column"] for c in s["comparisons"] for lv in c["comparison_levels"] if "tf_adjustment_column" in lv]
    assert tf == ["given_name", "family_name"]
    Linker(DuckDBAPI(con).register("r"), s, validate_settings=False)  # parses
