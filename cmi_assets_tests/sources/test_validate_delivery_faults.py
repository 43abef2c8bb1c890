"""The validation rules that catch delivery faults (files that are not delimited text,
headers that are data, quotes inside values, text that is too long, formulas, future dates
of birth) and the symbolic links landing never follows. End to end through Dagster they are
cases of cmi_assets_tests/reliability/; here each rule meets a hand-made example."""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from cmi_assets.sources.landing import file_sha256, landed_file
from cmi_assets.sources.load import ingest_extract
from cmi_assets.sources.quarantine import reason_path
from cmi_assets.sources.spec import SpecError, load_spec, parse_spec
from cmi_assets.sources.validate import MAX_TEXT_CHARS, ExtractError, read_extract, read_extract_bytes

BIRTHS = ("births", "registrations")
FILE = "births_registrations_2011.csv"


def _spec():
    return load_spec(*BIRTHS[:1]).record_types[BIRTHS[1]]


def _error(data: bytes) -> ExtractError:
    with pytest.raises(ExtractError) as caught:
        read_extract_bytes(data, FILE, _spec())
    return caught.value


def _where(error: ExtractError) -> tuple:
    return error.row, error.field, error.rule


def _file(tmp_path, valid_rows, write_extract, **changes) -> bytes:
    rows = valid_rows[BIRTHS]
    rows[1].update(changes)
    return write_extract(tmp_path / FILE, rows).read_bytes()


def test_a_file_without_its_header_names_no_field(tmp_path, valid_rows, write_extract):
    data = _file(tmp_path, valid_rows, write_extract)
    error = _error(data.split(b"\n", 1)[1])
    assert _where(error) == (1, None, "header")
    assert "B000000001" not in str(error) and "Smith" not in str(error)


def test_another_delimiter_is_named_as_the_likely_cause(tmp_path, valid_rows, write_extract):
    error = _error(_file(tmp_path, valid_rows, write_extract).replace(b",", b";"))
    assert _where(error) == (1, None, "header") and "not delimited by ','" in error.reason


@pytest.mark.parametrize("line", ['"Tom" Jr', 'To""m', 'To"m"'])
def test_a_quote_inside_an_unquoted_value_is_a_layout_error_not_a_parser_message(
    tmp_path, valid_rows, write_extract, line
):
    data = _file(tmp_path, valid_rows, write_extract).replace(b"Tom", line.encode(), 1)
    error = _error(data)
    assert _where(error) == (3, None, "layout")
    assert "Tom" not in str(error)


@pytest.mark.parametrize(
    "content, reason",
    [
        (gzip.compress(b"reg_number\nB000000001\n"), "gzip-compressed"),
        (b"PK\x03\x04" + bytes(20), "zip archive or spreadsheet"),
    ],
)
def test_compressed_files_say_what_they_are(content, reason):
    error = _error(content)
    assert _where(error) == (None, None, "encoding") and reason in error.reason


def test_a_real_xlsx_is_recognised(tmp_path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    assert "spreadsheet" in _error(path.read_bytes()).reason


def test_a_nul_byte_names_line_and_field(tmp_path, valid_rows, write_extract):
    error = _error(_file(tmp_path, valid_rows, write_extract, child_given_names="To\x00m"))
    assert _where(error) == (3, "child_given_names", "encoding")


def test_bare_cr_line_ends_are_named(tmp_path, valid_rows, write_extract):
    error = _error(_file(tmp_path, valid_rows, write_extract).replace(b"\n", b"\r"))
    assert _where(error) == (None, None, "layout") and "bare CR" in error.reason


def test_text_up_to_the_limit_passes_and_longer_text_does_not(tmp_path, valid_rows, write_extract):
    assert (
        read_extract(
            write_extract(tmp_path / "a" / FILE, [dict(valid_rows[BIRTHS][0], address_line="x" * MAX_TEXT_CHARS)]),
            _spec(),
        ).height
        == 1
    )
    error = _error(_file(tmp_path, valid_rows, write_extract, address_line="x" * (MAX_TEXT_CHARS + 1)))
    assert _where(error) == (3, "address_line", "length")


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", " =1+1"])
def test_free_text_starting_like_a_formula_is_rejected(tmp_path, valid_rows, write_extract, value):
    error = _error(_file(tmp_path, valid_rows, write_extract, child_family_name=value))
    assert _where(error) == (3, "child_family_name", "formula")
    assert value.strip() not in str(error)


def test_formula_characters_inside_a_name_are_fine(tmp_path, valid_rows, write_extract):
    rows = valid_rows[BIRTHS]
    rows[1].update(child_given_names="Anne-Marie", child_family_name="O'Neil+Smith", address_line="Flat 2 @ The Oaks")
    assert read_extract(write_extract(tmp_path / FILE, rows), _spec()).height == 2


def test_dates_of_birth_in_the_future_are_rejected_with_a_day_of_slack(tmp_path, valid_rows, write_extract):
    today = datetime.now(UTC).date()
    tomorrow, later = (today + timedelta(days=1)).isoformat(), (today + timedelta(days=3)).isoformat()
    rows = valid_rows[BIRTHS]
    rows[1].update(child_dob=tomorrow, reg_date=later)  # reg_date may lie ahead: only DOBs are not_future
    assert read_extract(write_extract(tmp_path / "a" / FILE, rows), _spec()).height == 2
    error = _error(_file(tmp_path, valid_rows, write_extract, child_dob=later))
    assert _where(error) == (3, "child_dob", "future") and later not in str(error)


def test_not_future_is_only_for_dates():
    document = {
        "agency": "x",
        "record_types": {
            "r": {"file_pattern": "*.csv", "key": ["a"], "columns": [{"name": "a", "type": "int", "not_future": True}]}
        },
    }
    with pytest.raises(SpecError, match="not_future is only allowed on date columns"):
        parse_spec(document)


def test_every_date_of_birth_of_the_person_agencies_is_not_future():
    for agency in ("births", "benefits", "child_protection", "corrections", "health"):
        for spec in load_spec(agency).record_types.values():
            for person in spec.persons:
                if person.dob and spec.name != "ncands_child":
                    assert spec.column(person.dob).not_future, (agency, spec.name, person.dob)


def test_a_symbolic_link_is_quarantined_unread(tmp_path, storage_env, valid_rows, write_extract):
    import duckdb

    outside = write_extract(tmp_path / "outside" / FILE, valid_rows[BIRTHS])
    link = storage_env.landing_dir / "births" / FILE
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    landed = landed_file(link, "births")
    with duckdb.connect() as con:
        result = ingest_extract(con, load_spec("births"), landed, storage_env.quarantine_dir)
    assert (result.loaded, result.error.rule, result.rows) == (False, "symlink", 0)
    assert result.quarantined_to.is_symlink() and not link.is_symlink()
    assert outside.read_bytes() == write_extract(tmp_path / "again" / FILE, valid_rows[BIRTHS]).read_bytes()
    assert f"sha256: {result.sha256}" in reason_path(result.quarantined_to).read_text()


def test_a_symbolic_link_is_hashed_by_its_target_path_not_followed(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "does-not-exist.csv")
    other = tmp_path / "other.csv"
    other.symlink_to(tmp_path / "elsewhere.csv")
    assert len(file_sha256(link)) == 64 and file_sha256(link) != file_sha256(other)
