"""Standardised identity fields for linkage: upper-case names without punctuation, a
nickname-aware set of given-name forms, Soundex keys, and DOB-derived columns.

Name-level work (nickname forms, phonetic keys, "is this a known name") runs once per
distinct value, not per row: a million records hold only tens of thousands of names.
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from cmi_assets.reference.names import load_name_pools

# Letters -> Soundex digit (American Soundex; H and W do not separate equal codes).
_SOUNDEX_CODES = {
    **dict.fromkeys("BFPV", "1"),
    **dict.fromkeys("CGJKQSXZ", "2"),
    **dict.fromkeys("DT", "3"),
    "L": "4",
    **dict.fromkeys("MN", "5"),
    "R": "6",
}


def standard_name(expr: pl.Expr) -> pl.Expr:
    """Upper case, apostrophes and dots removed, other punctuation to spaces, spaces
    collapsed; empty -> null. "O'Brien" -> "OBRIEN", "Smith-Jones" -> "SMITH JONES"."""
    cleaned = (
        expr.cast(pl.String)
        .str.to_uppercase()
        .str.replace_all(r"['`.]", "")
        .str.replace_all(r"[^A-Z ]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned).otherwise(None)


def first_word(expr: pl.Expr) -> pl.Expr:
    """The first word of a standardised "GIVEN MIDDLE" value."""
    return expr.str.split(" ").list.first()


def after_first_word(expr: pl.Expr) -> pl.Expr:
    """Everything after the first word (the middle names), or null."""
    rest = expr.str.splitn(" ", 2).struct.field("field_1")
    return pl.when(rest.str.len_chars() > 0).then(rest).otherwise(None)


def soundex(name: str | None) -> str | None:
    """American Soundex of a standardised name ("ROBERT" -> "R163"); only letters count."""
    if not name:
        return None
    letters = [c for c in name.upper() if "A" <= c <= "Z"]
    if not letters:
        return None
    code = letters[0]
    previous = _SOUNDEX_CODES.get(letters[0], "")
    for c in letters[1:]:
        digit = _SOUNDEX_CODES.get(c, "")
        if digit and digit != previous:
            code += digit
            if len(code) == 4:
                break
        if c not in "HW":  # H/W do not reset the previous code; vowels do
            previous = digit
    return code.ljust(4, "0")


@lru_cache(maxsize=1)
def _known_given_names() -> frozenset[str]:
    pools = load_name_pools()
    known = set()
    for sex in ("M", "F"):
        known.update(str(n).upper() for n in pools._given[sex].names)  # noqa: SLF001 - read-only pool
    return frozenset(known)


def given_name_forms(name: str | None) -> list[str] | None:
    """The name and the formal names it may stand for (nickname lexicon): "BILL" ->
    [BILL, ROBERT, WILL, WILLIAM, WILLIS]. Two given names agree "by nickname" when their
    form sets intersect (NZ study para 97: informal names in care and protection)."""
    if not name:
        return None
    forms = {name}
    if len(name) > 1:
        forms.update(f.upper() for f in load_name_pools().canonical_forms(name))
    return sorted(forms)


def are_nickname_pair(a: str, b: str) -> bool:
    """True when one name is a recorded nickname or formal form of the other."""
    if not a or not b:
        return False
    pools = load_name_pools()
    return b in {f.upper() for f in pools.canonical_forms(a) + pools.nicknames_of(a)}


def is_known_given_name(name: str | None) -> bool:
    """A given name in the census pools (a keying slip rarely makes another real name)."""
    return bool(name) and name in _known_given_names()


def _map_distinct(frame: pl.DataFrame, column: str, func, dtype: pl.DataType) -> pl.DataFrame:
    """A (value, _v) mapping frame: a Python function applied once per distinct value."""
    values = frame.get_column(column).drop_nulls().unique().to_list()
    mapping = pl.DataFrame({column: values, "_v": [func(v) for v in values]}, schema={column: pl.String, "_v": dtype})
    return mapping


def add_guard_name_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the name keys the clustering guards compare (clustering.py) to a frame with
    standardised given_name and middle_name: <kind>_forms (nickname-aware forms) and
    <kind>_is_known (a census name) for the given and the middle name. Columns already
    present are kept."""
    for kind in ("given", "middle"):
        column = f"{kind}_name"
        if f"{kind}_forms" not in frame.columns:
            forms = _map_distinct(frame, column, given_name_forms, pl.List(pl.String)).rename({"_v": f"{kind}_forms"})
            frame = frame.join(forms, on=column, how="left", maintain_order="left")
        if f"{kind}_is_known" not in frame.columns:
            known = _map_distinct(frame, column, is_known_given_name, pl.Boolean).rename({"_v": f"{kind}_is_known"})
            frame = frame.join(known, on=column, how="left", maintain_order="left").with_columns(
                pl.col(f"{kind}_is_known").fill_null(False)
            )
    return frame


def add_name_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Add given_forms (nickname-aware), soundex keys and the known-name flags (the guard
    keys of add_guard_name_keys) to a frame with standardised given_name, middle_name,
    family_name and parent given-name columns."""
    given_sx = _map_distinct(frame, "given_name", soundex, pl.String).rename({"_v": "given_soundex"})
    family_first = frame.select(pl.col("family_name").str.split(" ").list.first().alias("family_first"))
    family_sx = _map_distinct(family_first, "family_first", soundex, pl.String).rename({"_v": "family_soundex"})
    out = (
        add_guard_name_keys(frame)
        .with_columns(pl.col("family_name").str.split(" ").list.first().alias("family_first"))
        .join(given_sx, on="given_name", how="left")
        .join(family_sx, on="family_first", how="left")
        .with_columns(pl.col("family_name").str.split(" ").alias("family_parts"))
    )
    parents = frame.select(pl.concat_list("parent1_given", "parent2_given").alias("p")).explode("p")
    parent_forms = _map_distinct(parents, "p", given_name_forms, pl.List(pl.String)).rename(
        {"_v": "forms", "p": "name"}
    )
    out = out.with_row_index("_row")
    exploded = (
        out.select("_row", pl.concat_list("parent1_given", "parent2_given").alias("name"))
        .explode("name")
        .drop_nulls("name")
        .join(parent_forms, on="name", how="left")
        .explode("forms")
        .group_by("_row")
        .agg(pl.col("forms").drop_nulls().unique().sort().alias("parent_given_forms"))
    )
    return out.join(exploded, on="_row", how="left").drop("_row", "family_first")
