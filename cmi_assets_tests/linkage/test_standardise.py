import polars as pl
import pytest

from cmi_assets.linkage import standardise as std


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("O'Brien", "OBRIEN"),
        ("  mary-jane  ", "MARY JANE"),
        ("Smith-Jones", "SMITH JONES"),
        ("J.", "J"),
        ("", None),
        ("--", None),
        (None, None),
    ],
)
def test_standard_name(raw, expected):
    out = pl.DataFrame({"n": [raw]}, schema={"n": pl.String}).select(std.standard_name(pl.col("n")))["n"][0]
    assert out == expected


def test_first_word_and_rest():
    frame = pl.DataFrame({"n": ["ANNA MARIE LOUISE", "TOM", None]})
    out = frame.select(std.first_word(pl.col("n")).alias("a"), std.after_first_word(pl.col("n")).alias("b"))
    assert out["a"].to_list() == ["ANNA", "TOM", None]
    assert out["b"].to_list() == ["MARIE LOUISE", None, None]


@pytest.mark.parametrize(
    "name, code",
    # American Soundex reference values (US National Archives examples)
    [
        ("ROBERT", "R163"),
        ("RUPERT", "R163"),
        ("RUBIN", "R150"),
        ("ASHCRAFT", "A261"),
        ("TYMCZAK", "T522"),
        ("PFISTER", "P236"),
        ("HONEYMAN", "H555"),
        ("LEE", "L000"),
        (None, None),
    ],
)
def test_soundex(name, code):
    assert std.soundex(name) == code


def test_given_name_forms_know_nicknames():
    assert "WILLIAM" in std.given_name_forms("BILL")
    assert set(std.given_name_forms("BILL")) & set(std.given_name_forms("WILLIAM"))
    assert std.given_name_forms("J") == ["J"]  # an initial has no forms
    assert std.are_nickname_pair("BILL", "WILLIAM")
    assert not std.are_nickname_pair("JASON", "JACOB")


def test_known_names():
    assert std.is_known_given_name("MARY")
    assert not std.is_known_given_name("MRAY")
