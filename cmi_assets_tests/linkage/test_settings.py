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
    con.register("frame", pl.DataFrame([columns], schema={c: _dtype(c) for c in columns}))
    con.execute("CREATE TABLE p AS SELECT * FROM frame")
    for level in comparison["comparison_levels"]:
        if level["sql_condition"] == "ELSE":
            return level["label_for_charts"]
        if con.execute(f"SELECT coalesce(({level['sql_condition']}), FALSE) FROM p").fetchone()[0]:
            return level["label_for_charts"]
    raise AssertionError("no level matched")


def _given(name, middle=None, forms=None, family="SMITH"):
    return {
        "given_name": name,
        "middle_name": middle,
        "given_forms": forms or ([name] if name else None),
        "family_name": family,
    }


@pytest.mark.parametrize(
    "left, right, label",
    [
        (_given("WILLIAM"), _given("WILLIAM"), "exact"),
        (_given("JAMES", "PAUL"), _given("PAUL", "JAMES"), "given/middle swapped"),
        (
            _given("BILL", forms=["BILL", "WILLIAM"]),
            _given("WILLIAM", forms=["WILLIAM", "BILL"]),
            "nickname or formal form",
        ),
        (_given("JONATHAN"), _given("JONATHON"), "Jaro-Winkler >= 0.92"),
        (_given("JONES", family="MARY"), _given("MARY", family="JONES"), "given/family swapped"),
        (_given("W"), _given("WILLIAM"), "initial agrees"),
        (_given("MARY"), _given("SUSAN"), "all other"),
        (_given(None), _given("SUSAN"), "null"),
    ],
)
def test_given_name_levels(left, right, label):
    assert _level_label(settings.given_name_comparison(), left, right) == label


def _dob(d, year=None):
    return {
        "dob": d,
        "birth_year": year or (d.year if d else None),
        "dob_year_month": d.strftime("%Y-%m") if d else None,
    }


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
        (
            {"family_name": "SMITH", "family_parts": ["SMITH"]},
            {"family_name": "SMITH JONES", "family_parts": ["SMITH", "JONES"]},
            "a part agrees",
        ),
        (
            {"family_name": "SMITH", "family_parts": ["SMITH"]},
            {"family_name": "SMITH", "family_parts": ["SMITH"]},
            "exact",
        ),
        (
            {"family_name": "SMITH", "family_parts": ["SMITH"]},
            {"family_name": "SMYTH", "family_parts": ["SMYTH"]},
            "Jaro-Winkler >= 0.80",
        ),
        (
            {"family_name": "ANN", "family_parts": ["ANN"], "given_name": "SMITH"},
            {"family_name": "SMITH", "family_parts": ["SMITH"]},
            "given/family swapped",
        ),
    ],
)
def test_family_name_levels(left, right, label):
    left, right = {"given_name": "ANN", **left}, {"given_name": "ANN", **right}
    assert _level_label(settings.family_name_comparison(), left, right) == label


def test_agency_id_only_within_one_agency():
    comparison = settings.agency_id_comparison()
    same = {"person_id": "123", "id_namespace": "benefits"}
    assert _level_label(comparison, same, same) == "same ID"
    assert _level_label(comparison, same, {"person_id": "123", "id_namespace": "health"}) == "null"
    assert _level_label(comparison, same, {"person_id": "999", "id_namespace": "benefits"}) == "all other"


def test_parent_names_nickname_aware():
    comparison = settings.parent_given_names_comparison()
    assert (
        _level_label(comparison, {"parent_given_forms": ["BETH", "ELIZABETH"]}, {"parent_given_forms": ["ELIZABETH"]})
        == "a parent agrees"
    )
    assert _level_label(comparison, {"parent_given_forms": ["ANN"]}, {"parent_given_forms": ["ZOE"]}) == "all other"


def test_comparisons_only_for_the_fields_given():
    """A file of names, DOB and address gets no middle-name, sex, parent or agency-ID
    comparison (and no level comparing a field it lacks), and gets address and locality."""
    fields = frozenset({"given_name", "family_name", "dob", "address", "locality", "postcode", "shared_id"})
    built = settings.comparisons(fields)
    assert [c["output_column_name"] for c in built] == [
        "given_name",
        "family_name",
        "dob",
        "address",
        "locality",
        "postcode",
        "shared_id",
    ]
    given_labels = [lv["label_for_charts"] for lv in built[0]["comparison_levels"]]
    assert "given/middle swapped" not in given_labels and "given/family swapped" in given_labels
    sql = " ".join(lv["sql_condition"] for c in built for lv in c["comparison_levels"])
    assert "middle_name" not in sql and "parent" not in sql and "person_id" not in sql
    assert "same_agency_id" not in settings.candidate_blocking_rules(fields)
    assert {"same_shared_id", "names_swapped"} <= set(settings.candidate_blocking_rules(fields))
    assert "l.shared_id = r.shared_id" in settings.training_blocking_rules(fields)


def test_settings_dictionary_is_valid_for_splink():
    from splink import DuckDBAPI, Linker

    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT 1::BIGINT AS unique_id")
    rules = list(settings.CANDIDATE_BLOCKING_RULES.values())
    s = settings.linkage_settings(rules)
    assert [c["output_column_name"] for c in s["comparisons"]] == [
        "given_name",
        "middle_name",
        "family_name",
        "dob",
        "sex",
        "parent_given_names",
        "postcode",
        "agency_id",
    ]
    tf = [
        lv["tf_adjustment_column"]
        for c in s["comparisons"]
        for lv in c["comparison_levels"]
        if "tf_adjustment_column" in lv
    ]
    assert tf == ["given_name", "family_name"]
    Linker(DuckDBAPI(con).register("r"), s, validate_settings=False)  # parses
