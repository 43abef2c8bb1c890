"""Read an agency extract against its spec: a typed frame, or an ExtractError.

Every message names the file, the line and the field, never the value: values are
names, dates of birth and agency IDs (docs/DESIGN.md "Storage and privacy zones").

Validation is vectorised with polars expressions so that a million-row file takes
seconds. It runs in stages, and a stage that fails stops the later ones because
their results would be noise:
  1. encoding      text, not a compressed or binary file (no NUL byte), and the
                   bytes decode in the spec's encoding
  2. empty         a header line and at least one data line
  3. header        every spec column present once, no column outside the spec
  4. layout        one record per line, each with as many fields as the header, and
                   quotes only around whole values
  5. values        required, date, int, float, range, codes, pattern, not_future;
                   text no longer than MAX_TEXT_CHARS, free text not starting like a
                   spreadsheet formula; duplicate keys
Stage 4 makes "row = line number" exact: a quoted value spanning lines is rejected
rather than silently shifting every later line number. It also means the CSV parser
never meets a malformed line, so no parser message (which quotes the line) can reach
an error or a log.

Values are judged after trimming surrounding spaces, and codes case-insensitively:
the staged models (dbt_like_sql/stg_*.sql) trim strings and upper-case codes, so what
passes here is exactly what they can clean. Strings in the returned frame are kept as
delivered except that an empty string becomes null.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from cmi_assets.sources.spec import ColumnSpec, RecordTypeSpec

# Error rules; the first six are structural (the file could not be read as a table).
FILE_NAME = "file_name"  # the name matches no record type of the agency
SYMLINK = "symlink"  # a symbolic link in landing (never followed)
ENCODING = "encoding"
EMPTY = "empty"
HEADER = "header"
LAYOUT = "layout"
REQUIRED = "required"
DATE = "date"
INT = "int"
FLOAT = "float"
RANGE = "range"
CODE = "code"
PATTERN = "pattern"
FUTURE = "future"
LENGTH = "length"
FORMULA = "formula"
DUPLICATE_KEY = "duplicate_key"
STRUCTURAL_RULES = frozenset({FILE_NAME, SYMLINK, ENCODING, EMPTY, HEADER, LAYOUT})

# No name, address or alias in any agency's data comes near this; a longer value is a
# broken export (and would make every string comparison of the linkage crawl).
MAX_TEXT_CHARS = 1_000
# A cell starting with one of these is run as a formula when a reviewer opens a CSV in a
# spreadsheet (OWASP "CSV injection"); the clerical review file is such a CSV.
FORMULA_START = "=+-@"
# Dates marked not_future may fall on "today" in any time zone of the agency, so one day
# past today's UTC date is still accepted.
FUTURE_SLACK_DAYS = 1
# What a delivered file's first bytes say it is, when that is not delimited text.
_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip-compressed file, not text: decompress it before delivery",
    b"PK\x03\x04": "a zip archive or spreadsheet (.xlsx), not text: export it as delimited text",
}
_MASK = "\x00"  # stands for a quoted value while the layout is checked (NUL bytes are rejected first)

ROW_NUMBER = "_row_number"  # line number in the file (header = line 1), as in ExtractError.row
_QUOTE = '"'
_QUOTED_VALUE = r'"(?:[^"]|"")*"'
_POLARS_TYPES = {"string": pl.Utf8, "int": pl.Int64, "float": pl.Float64, "date": pl.Date}


class ExtractError(Exception):
    """An extract that breaks its spec. Names file, line and field; never a value.

    `errors` holds every problem found (up to max_errors), each an ExtractError;
    `total` counts all problems, including those beyond max_errors, and `counts` the
    same per rule. The error's own file / row / field / reason are those of the first
    problem.
    """

    def __init__(
        self,
        file: str,
        row: int | None,
        field: str | None,
        reason: str,
        rule: str = "invalid",
        errors: list[ExtractError] | None = None,
        total: int | None = None,
        counts: dict[str, int] | None = None,
    ):
        self.file = file
        self.row = row
        self.field = field
        self.reason = reason
        self.rule = rule
        self.errors = list(errors) if errors else [self]
        self.counts = dict(counts) if counts else _count_rules(self.errors)
        self.total = max(total or 0, len(self.errors), sum(self.counts.values()))
        super().__init__(self.message)

    @classmethod
    def from_errors(
        cls, errors: list[ExtractError], total: int | None = None, counts: dict[str, int] | None = None
    ) -> ExtractError:
        first = errors[0]
        return cls(first.file, first.row, first.field, first.reason, first.rule, errors, total, counts)

    @property
    def location(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f" line {self.row}")
        if self.field is not None:
            parts.append(f"{',' if self.row is not None else ''} field {self.field}")
        return "".join(parts)

    @property
    def message(self) -> str:
        more = self.total - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return f"{self.location}: {self.reason}{suffix}"

    @property
    def keys_checked(self) -> bool:
        """Whether key uniqueness was evaluated (not when the file was unreadable)."""
        return not any(error.rule in STRUCTURAL_RULES for error in self.errors)


def _count_rules(errors: list[ExtractError]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for error in errors:
        counts[error.rule] = counts.get(error.rule, 0) + 1
    return counts


def read_extract(path: Path, spec: RecordTypeSpec, max_errors: int = 20) -> pl.DataFrame:
    """The extract as a typed frame (spec column order, plus `_row_number`).

    Raises ExtractError listing up to `max_errors` problems.
    """
    path = Path(path)
    return read_extract_bytes(path.read_bytes(), path.name, spec, max_errors)


def read_extract_bytes(data: bytes, file_name: str, spec: RecordTypeSpec, max_errors: int = 20) -> pl.DataFrame:
    """read_extract on bytes already in memory (so the caller hashes what it validates)."""
    text = _decode(data, file_name, spec)
    lines = _physical_lines(text, file_name)
    header = _check_header(lines[0].rstrip("\r"), file_name, spec)
    _check_layout(lines, header, file_name, spec, max_errors)
    judged = _judged(_read_strings(text, header, len(lines) - 1, spec, file_name), spec)
    _check_values(judged, file_name, spec, max_errors)
    return _typed(judged, spec)


# ---- stage 1: encoding -------------------------------------------------------------


def _decode(data: bytes, file_name: str, spec: RecordTypeSpec) -> str:
    for signature, reason in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise ExtractError(file_name, None, None, reason, ENCODING)
    nul = data.find(b"\x00")
    if nul >= 0 and not spec.encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        line, field = _locate_byte(data, nul, spec)
        raise ExtractError(
            file_name, line, field, f"NUL byte: a binary or UTF-16 file, not {spec.encoding} text", ENCODING
        )
    try:
        text = data.decode(spec.encoding)
    except UnicodeDecodeError as exc:
        line, field = _locate_byte(data, exc.start, spec)
        raise ExtractError(file_name, line, field, f"not valid {spec.encoding} text", ENCODING) from None
    return text.removeprefix("\ufeff")


def _locate_byte(data: bytes, position: int, spec: RecordTypeSpec) -> tuple[int, str | None]:
    """Line number and (when unambiguous) column of the byte at `position`."""
    before = data[:position]
    line = before.count(b"\n") + 1
    if line == 1:
        return line, None
    header_text = data[: data.find(b"\n")].decode(spec.encoding, errors="replace").removeprefix("\ufeff")
    header = _split_header(header_text, spec.delimiter)
    segment = before[before.rfind(b"\n") + 1 :]
    if _QUOTE.encode() in segment:
        return line, None  # a quoted delimiter would miscount the column
    index = segment.count(spec.delimiter.encode())
    return line, header[index] if index < len(header) else None


# ---- stage 2: lines and emptiness --------------------------------------------------


def _physical_lines(text: str, file_name: str) -> pl.Series:
    """The file's lines, without line ends at the end of the file; line i+1 is item i."""
    text = text.rstrip("\r\n")
    if not text.strip():
        raise ExtractError(file_name, None, None, "empty file: no header line", EMPTY)
    if "\n" not in text and "\r" in text:
        raise ExtractError(
            file_name, None, None, "lines end in a bare CR (classic Mac): deliver LF or CRLF line ends", LAYOUT
        )
    if "\n" not in text:
        raise ExtractError(file_name, None, None, "no data rows after the header", EMPTY)
    return pl.Series("line", [text], dtype=pl.Utf8).str.split("\n").list.explode()


# ---- stage 3: header ---------------------------------------------------------------


def _split_header(header_line: str, delimiter: str) -> list[str]:
    fields = next(csv.reader([header_line], delimiter=delimiter), [])
    return [name.strip() for name in fields]


def _check_header(header_line: str, file_name: str, spec: RecordTypeSpec) -> list[str]:
    header = _split_header(header_line, spec.delimiter)
    if not set(header) & set(spec.column_names):
        # A first line with none of the spec's columns is data (a file without its header)
        # or not split by the spec's delimiter: its fields may be values, so none is named.
        raise ExtractError(
            file_name,
            1,
            None,
            f"no {spec.table_name} column in the first line: the header line is missing, "
            f"or the file is not delimited by {spec.delimiter!r}",
            HEADER,
        )
    errors = []
    seen: set[str] = set()
    for name in header:
        # Column names are the spec's vocabulary, not data, so naming them is safe.
        if not name:
            errors.append(ExtractError(file_name, 1, None, "blank column name in the header", HEADER))
        elif name in seen:
            errors.append(ExtractError(file_name, 1, name, "column appears twice in the header", HEADER))
        elif name not in spec.column_names:
            errors.append(ExtractError(file_name, 1, name, f"column not in the {spec.table_name} spec", HEADER))
        seen.add(name)
    for name in spec.column_names:
        if name not in seen:
            errors.append(ExtractError(file_name, 1, name, "column missing from the header", HEADER))
    if errors:
        raise ExtractError.from_errors(errors)
    return header


# ---- stage 4: layout ---------------------------------------------------------------


def _check_layout(lines: pl.Series, header: list[str], file_name: str, spec: RecordTypeSpec, max_errors: int) -> None:
    frame = pl.DataFrame({"text": lines}).with_row_index("index").slice(1)
    masked = pl.col("text").str.replace_all(_QUOTED_VALUE, _MASK)
    delimiter = re.escape(spec.delimiter)
    checks = frame.select(
        pl.col("index") + 1,
        blank=pl.col("text").str.strip_chars().str.len_chars() == 0,
        open_quote=pl.col("text").str.count_matches(_QUOTE, literal=True) % 2 == 1,
        # RFC 4180: a quote may only open and close a whole value ("a ""b"" c"), never
        # sit inside an unquoted one (a "b") or run on after the closing quote ("a" b).
        stray_quote=masked.str.contains(_QUOTE, literal=True)
        | masked.str.contains(f"[^{delimiter}]{_MASK}|{_MASK}[^{delimiter}\r]"),
        fields=masked.str.count_matches(spec.delimiter, literal=True) + 1,
    )
    problems = checks.filter(
        pl.col("blank") | pl.col("open_quote") | pl.col("stray_quote") | (pl.col("fields") != len(header))
    )
    if problems.is_empty():
        return
    errors = [
        ExtractError(file_name, line, None, _layout_reason(blank, open_quote, stray_quote, fields, len(header)), LAYOUT)
        for line, blank, open_quote, stray_quote, fields in problems.head(max_errors).iter_rows()
    ]
    raise ExtractError.from_errors(errors, total=problems.height, counts={LAYOUT: problems.height})


def _layout_reason(blank: bool, open_quote: bool, stray_quote: bool, fields: int, expected: int) -> str:
    if blank:
        return "blank line"
    if open_quote:
        return "quoted value not closed on its line (values may not span lines)"
    if stray_quote:
        return "a quote inside an unquoted value, or text after a closing quote"
    return f"expected {expected} fields, found {fields}"


# ---- stage 5: values ---------------------------------------------------------------


def _read_strings(text: str, header: list[str], n_rows: int, spec: RecordTypeSpec, file_name: str) -> pl.DataFrame:
    """Every column as delivered text (empty -> null), plus the line number."""
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=spec.delimiter,
            quote_char=_QUOTE,
            infer_schema=False,
            n_rows=n_rows,
            new_columns=header,  # the checked names, spaces around them trimmed
        )
    except pl.exceptions.PolarsError:
        # Stage 4 should have named the line; the parser's own message quotes values.
        raise ExtractError(file_name, None, None, "could not be parsed as delimited text", LAYOUT) from None
    return frame.select(
        *[pl.col(name).replace("", None) for name in spec.column_names],
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(ROW_NUMBER),
    )


def _text(name: str) -> str:
    return f"__text_{name}"


def _value(name: str) -> str:
    return f"__value_{name}"


def _judged(delivered: pl.DataFrame, spec: RecordTypeSpec) -> pl.DataFrame:
    """Per column the trimmed text (empty -> null) and the typed value, computed once."""
    texts = [pl.col(c.name).str.strip_chars().replace("", None).alias(_text(c.name)) for c in spec.columns]
    return (
        delivered.lazy()
        .with_columns(texts)
        .with_columns([_parse(c).alias(_value(c.name)) for c in spec.columns if c.type != "string"])
        .collect()
    )


def _parse(column: ColumnSpec) -> pl.Expr:
    """The column's typed value from its trimmed text (null where absent or unparsable)."""
    text = pl.col(_text(column.name))
    if column.type == "date":
        return text.str.strptime(pl.Date, column.date_format, strict=False)
    if column.type == "int":
        return text.cast(pl.Int64, strict=False)
    value = text.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


@dataclass(frozen=True)
class _Rule:
    column: str
    rule: str
    reason: str
    bad: pl.Expr


def _column_rules(column: ColumnSpec) -> list[_Rule]:
    """The checks of one column as (rule, reason, mask of bad rows)."""
    name = column.name
    text = pl.col(_text(name))
    value = pl.col(_value(name)) if column.type != "string" else text
    present = text.is_not_null()
    rules = []
    if column.required:
        rules.append(_Rule(name, REQUIRED, "required value missing", ~present))
    if column.type == "date":
        rules.append(_Rule(name, DATE, f"not a date in format {column.date_format}", present & value.is_null()))
    elif column.type == "int":
        rules.append(_Rule(name, INT, "not an integer", present & value.is_null()))
    elif column.type == "float":
        rules.append(_Rule(name, FLOAT, "not a finite number", present & value.is_null()))
    if column.type in ("int", "float") and (column.min is not None or column.max is not None):
        low = column.min if column.min is not None else float("-inf")
        high = column.max if column.max is not None else float("inf")
        out = value.is_not_null() & ((value < low) | (value > high))
        rules.append(_Rule(name, RANGE, f"out of range [{column.min}, {column.max}]", out))
    if column.not_future:
        latest = _latest_plausible_date()
        rules.append(_Rule(name, FUTURE, "date in the future", value.is_not_null() & (value > latest)))
    if column.codes is not None:
        rules.append(_Rule(name, CODE, _code_reason(column), present & ~_codes_allowed(column, text, value)))
    if column.pattern is not None and column.type == "string":
        full_match = text.str.contains(f"^(?:{column.pattern})$")
        rules.append(_Rule(name, PATTERN, f"does not match pattern {column.pattern}", present & ~full_match))
    if column.type == "string":
        too_long = text.str.len_chars() > MAX_TEXT_CHARS
        rules.append(_Rule(name, LENGTH, f"longer than {MAX_TEXT_CHARS} characters", present & too_long))
    if column.type == "string" and column.codes is None and column.pattern is None:
        # Free text only: codes and patterns already exclude a leading = + - @.
        formula = text.str.contains(f"^[{re.escape(FORMULA_START)}]")
        rules.append(_Rule(name, FORMULA, "starts like a spreadsheet formula (= + - @)", present & formula))
    return rules


def _latest_plausible_date() -> date:
    return datetime.now(UTC).date() + timedelta(days=FUTURE_SLACK_DAYS)


def _codes_allowed(column: ColumnSpec, text: pl.Expr, value: pl.Expr) -> pl.Expr:
    if column.type == "int":
        return value.is_null() | value.is_in(list(column.codes))
    if column.multi_codes:
        parts = text.str.split(column.multi_codes).list.eval(
            pl.element().str.strip_chars().str.to_uppercase().is_in(list(column.codes))
        )
        return parts.list.all()
    return text.str.to_uppercase().is_in(list(column.codes))


def _code_reason(column: ColumnSpec) -> str:
    what = "contains a code" if column.multi_codes else "code"
    return f"{what} not in the spec's {len(column.codes)} allowed codes"


def _key_columns(spec: RecordTypeSpec) -> list[pl.Expr]:
    # Keys compare as the staged models see them: trimmed, codes upper-cased.
    return [
        pl.col(_text(name)).str.to_uppercase() if spec.column(name).codes is not None else pl.col(_text(name))
        for name in spec.key
    ]


def _key_rule(spec: RecordTypeSpec) -> _Rule:
    key = _key_columns(spec)
    complete = pl.all_horizontal([k.is_not_null() for k in key])  # a missing key is REQUIRED's business
    distinct = key[0].is_first_distinct() if len(key) == 1 else pl.struct(key).is_first_distinct()
    return _Rule("+".join(spec.key), DUPLICATE_KEY, "duplicate key", complete & ~distinct)


def _check_values(judged: pl.DataFrame, file_name: str, spec: RecordTypeSpec, max_errors: int) -> None:
    rules = [rule for column in spec.columns for rule in _column_rules(column)]
    rules.append(_key_rule(spec))
    # One pass: for every rule the count of bad rows and the first max_errors lines.
    summary = (
        judged.lazy()
        .select(
            *[rule.bad.sum().alias(f"count_{i}") for i, rule in enumerate(rules)],
            *[
                pl.col(ROW_NUMBER).filter(rule.bad).head(max_errors).implode().alias(f"lines_{i}")
                for i, rule in enumerate(rules)
            ],
        )
        .collect()
        .row(0, named=True)
    )
    counts: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if summary[f"count_{i}"]:
            counts[rule.rule] = counts.get(rule.rule, 0) + summary[f"count_{i}"]
    total = sum(counts.values())
    if total == 0:
        return
    order = {name: i for i, name in enumerate(spec.column_names)}
    found = []
    for i, rule in enumerate(rules):
        for line in summary[f"lines_{i}"]:
            found.append((line, order.get(rule.column, len(order)), rule))
    found.sort(key=lambda item: item[:2])
    found = found[:max_errors]
    first_lines = _first_lines_of_keys(judged, spec, [line for line, _, rule in found if rule.rule == DUPLICATE_KEY])
    errors = [
        ExtractError(
            file_name,
            line,
            rule.column,
            f"duplicate key (first on line {first_lines[line]})" if rule.rule == DUPLICATE_KEY else rule.reason,
            rule.rule,
        )
        for line, _, rule in found
    ]
    raise ExtractError.from_errors(errors, total=total, counts=counts)


def _first_lines_of_keys(judged: pl.DataFrame, spec: RecordTypeSpec, lines: list[int]) -> dict[int, int]:
    """For duplicate-key lines, the line where that key first appeared (a line number, not a value)."""
    if not lines:
        return {}
    keyed = judged.select(ROW_NUMBER, *[k.alias(f"key_{i}") for i, k in enumerate(_key_columns(spec))])
    key = [f"key_{i}" for i in range(len(spec.key))]
    duplicates = keyed.filter(pl.col(ROW_NUMBER).is_in(lines))
    firsts = (
        keyed.join(duplicates.select(key).unique(), on=key).group_by(key).agg(pl.col(ROW_NUMBER).min().alias("first"))
    )
    return dict(duplicates.join(firsts, on=key).select(ROW_NUMBER, "first").iter_rows())


def _typed(judged: pl.DataFrame, spec: RecordTypeSpec) -> pl.DataFrame:
    """Spec columns typed: strings as delivered (empty -> null), others parsed."""
    return judged.select(
        *[
            (pl.col(c.name) if c.type == "string" else pl.col(_value(c.name))).cast(_POLARS_TYPES[c.type]).alias(c.name)
            for c in spec.columns
        ],
        pl.col(ROW_NUMBER),
    )
