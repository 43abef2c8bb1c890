from __future__ import annotations

import time
from datetime import datetime

import polars as pl
import pytest

from cmi_assets.sources.spec import load_spec
from cmi_assets.sources.validate import ROW_NUMBER, ExtractError, read_extract

BIRTHS = ("births", "registrations")
BIRTHS_FILE = "births_registrations_2011.csv"


def _spec(agency: str, record_type: str):
    return load_spec(agency).record_types[record_type]


def _expected_value(column, text: str):
    """An independent reading of one delivered value (stdlib only)."""
    if text == "":
        return None
    if column.type == "date":
        return datetime.strptime(text, column.date_format).date()
    if column.type == "int":
        return int(text)
    if column.type == "float":
        return float(text)
    return text


@pytest.mark.parametrize(
    "key",
    [
        ("births", "registrations"),
        ("benefits", "spells"),
        ("benefits", "children"),
        ("benefits", "addresses"),
        ("child_protection", "notifications"),
        ("child_protection", "investigations"),
        ("child_protection", "ncands_child"),
        ("corrections", "sentences"),
        ("health", "maternity"),
        ("health", "hospitalisations"),
        ("health", "mental_health"),
        ("reference", "areas"),
    ],
)
def test_valid_file_of_every_record_type_reads_typed(tmp_path, valid_rows, file_names, write_extract, key):
    spec = _spec(*key)
    rows = valid_rows[key]
    path = write_extract(tmp_path / file_names[key], rows, list(spec.column_names))
    assert spec.matches(path.name)

    frame = read_extract(path, spec)

    assert frame.columns == [*spec.column_names, ROW_NUMBER]
    expected_types = {"string": pl.Utf8, "int": pl.Int64, "float": pl.Float64, "date": pl.Date}
    for column in spec.columns:
        assert frame.schema[column.name] == expected_types[column.type], column.name
        assert frame[column.name].to_list() == [_expected_value(column, row[column.name]) for row in rows], column.name
    assert frame[ROW_NUMBER].to_list() == [2, 3]


def test_columns_may_come_in_any_order_with_crlf_and_bom(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    in_order = read_extract(write_extract(tmp_path / "a" / BIRTHS_FILE, rows, list(spec.column_names)), spec)
    reversed_path = write_extract(tmp_path / "b" / BIRTHS_FILE, rows, list(reversed(spec.column_names)))
    windows = b"\xef\xbb\xbf" + reversed_path.read_bytes().replace(b"\n", b"\r\n")
    reversed_path.write_bytes(windows)
    assert read_extract(reversed_path, spec).equals(in_order)


def test_values_are_judged_trimmed_and_codes_case_insensitively(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    rows[1].update(child_sex=" m ", ethnicity="white ; Asian", birth_weight_g=" 3100 ", child_dob=" 2011-02-14")
    frame = read_extract(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    # Strings stay as delivered (the staged model cleans them); numbers and dates are parsed.
    assert frame["child_sex"][1] == " m "
    assert frame["birth_weight_g"][1] == 3100
    assert frame["child_dob"][1] == datetime(2011, 2, 14).date()


def _read_error(path, spec) -> ExtractError:
    with pytest.raises(ExtractError) as caught:
        read_extract(path, spec)
    return caught.value


def _assert_no_value(error: ExtractError, *values: str):
    texts = [str(error), *(str(e) for e in error.errors), *(e.reason for e in error.errors)]
    for value in values:
        for text in texts:
            assert value not in text, "an error message shows a value"


# (column to change on the second data row = line 3, bad value, expected field, rule, reason fragment)
BAD_VALUES = [
    ("child_dob", "2011-13-45", "child_dob", "date", "not a date in format %Y-%m-%d"),
    ("child_sex", "ZZ9", "child_sex", "code", "allowed codes"),
    ("ethnicity", "WHITE;MARTIAN", "ethnicity", "code", "contains a code"),
    ("reg_number", "X12345678Z", "reg_number", "pattern", "does not match pattern B[0-9]{9}"),
    ("mother_given_names", "", "mother_given_names", "required", "required value missing"),
    ("birth_weight_g", "32OO", "birth_weight_g", "int", "not an integer"),
    ("birth_weight_g", "99999", "birth_weight_g", "range", "out of range [200, 7000]"),
    ("plurality", "   ", "plurality", "required", "required value missing"),
]


@pytest.mark.parametrize("column, bad, field, rule, reason", BAD_VALUES)
def test_bad_value_names_file_line_and_field_not_the_value(
    tmp_path, valid_rows, write_extract, column, bad, field, rule, reason
):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    rows[1][column] = bad
    error = _read_error(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    assert (error.file, error.row, error.field, error.rule) == (BIRTHS_FILE, 3, field, rule)
    assert reason in error.reason
    assert str(error).startswith(f"{BIRTHS_FILE} line 3, field {field}: ")
    if bad.strip():
        _assert_no_value(error, bad)


def test_missing_column(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    columns = [c for c in spec.column_names if c != "child_sex"]
    error = _read_error(write_extract(tmp_path / BIRTHS_FILE, valid_rows[BIRTHS], columns), spec)
    assert (error.row, error.field, error.rule) == (1, "child_sex", "header")
    assert "missing" in error.reason


def test_extra_column(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    for row in rows:
        row["favourite_colour"] = "Zanzibar green"
    error = _read_error(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    assert (error.row, error.field, error.rule) == (1, "favourite_colour", "header")
    _assert_no_value(error, "Zanzibar")


def test_unreadable_encoding_names_line_and_field(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    rows[1]["child_given_names"] = "Zoë"
    path = write_extract(tmp_path / BIRTHS_FILE, rows, encoding="latin-1")
    error = _read_error(path, spec)
    assert (error.row, error.field, error.rule) == (3, "child_given_names", "encoding")
    assert "utf-8" in error.reason
    _assert_no_value(error, "Zo")


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"\n\n", "empty file"), (None, "no data rows")],
)
def test_empty_file_and_header_only(tmp_path, content, reason):
    spec = _spec(*BIRTHS)
    path = tmp_path / BIRTHS_FILE
    path.write_bytes(content if content is not None else (",".join(spec.column_names) + "\n").encode())
    error = _read_error(path, spec)
    assert (error.file, error.row, error.rule) == (BIRTHS_FILE, None, "empty")
    assert reason in error.reason


def test_duplicate_key_points_at_the_first_line_not_the_value(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS] + [dict(valid_rows[BIRTHS][0], child_given_names="Other")]
    error = _read_error(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    assert (error.row, error.field, error.rule) == (4, "reg_number", "duplicate_key")
    assert error.reason == "duplicate key (first on line 2)"
    _assert_no_value(error, "B000000001")
    assert error.keys_checked


def test_composite_key_compares_codes_case_insensitively(tmp_path, valid_rows, write_extract):
    spec = _spec("child_protection", "investigations")
    rows = valid_rows[("child_protection", "investigations")]
    rows[1]["abuse_type"] = "physical"  # same as row 1's PHYSICAL once upper-cased
    error = _read_error(write_extract(tmp_path / "cp_investigations_2013.csv", rows), spec)
    assert (error.row, error.field, error.rule) == (3, "investigation_id+abuse_type", "duplicate_key")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("x,y", "expected 20 fields, found 2"),
        ("", "blank line"),
        ('B000000009,"2011-01-01', "quoted value not closed"),
    ],
)
def test_layout_problems_name_the_line(tmp_path, valid_rows, write_extract, line, reason):
    spec = _spec(*BIRTHS)
    path = write_extract(tmp_path / BIRTHS_FILE, valid_rows[BIRTHS])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], line, lines[2]]) + "\n")
    error = _read_error(path, spec)
    assert (error.row, error.rule) == (3, "layout")
    assert reason in error.reason
    assert not error.keys_checked


def test_many_problems_are_capped_but_counted(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    template = valid_rows[BIRTHS][0]
    rows = [dict(template, reg_number=f"B{i:09d}", child_dob="not-a-date") for i in range(50)]
    rows[40]["child_sex"] = "ZZ9"
    error = _read_error(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    assert len(error.errors) == 20
    assert error.total == 51
    assert error.counts == {"date": 50, "code": 1}
    assert [e.row for e in error.errors] == list(range(2, 22))  # ordered by line
    assert "(and 50 more problems)" in str(error)


def test_quoted_delimiters_and_quotes_are_values(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    rows = valid_rows[BIRTHS]
    rows[0]["address_line"] = 'Flat 2, "The Oaks", Town'
    frame = read_extract(write_extract(tmp_path / BIRTHS_FILE, rows), spec)
    assert frame["address_line"][0] == 'Flat 2, "The Oaks", Town'


def test_large_file_validates_in_seconds(tmp_path, valid_rows):
    """Vectorised: 200,000 rows x 20 columns well inside the budget (1 M rows take ~5 s)."""
    spec = _spec(*BIRTHS)
    n = 200_000
    template = valid_rows[BIRTHS][0]
    frame = pl.DataFrame({c: [template[c]] * n for c in spec.column_names}).with_columns(
        pl.format("B{}", pl.int_range(0, n).cast(pl.Utf8).str.zfill(9)).alias("reg_number")
    )
    path = tmp_path / BIRTHS_FILE
    frame.write_csv(path)
    started = time.monotonic()
    typed = read_extract(path, spec)
    assert time.monotonic() - started < 10
    assert typed.height == n
    assert typed[ROW_NUMBER][-1] == n + 1


def test_spaces_around_header_names_are_ignored(tmp_path, valid_rows, write_extract):
    spec = _spec(*BIRTHS)
    path = write_extract(tmp_path / BIRTHS_FILE, valid_rows[BIRTHS], list(spec.column_names))
    lines = path.read_text().splitlines()
    lines[0] = ", ".join(f" {name}" for name in spec.column_names)
    path.write_text("\n".join(lines) + "\n")
    assert read_extract(path, spec)["reg_number"].to_list() == ["B000000001", "B000000002"]
