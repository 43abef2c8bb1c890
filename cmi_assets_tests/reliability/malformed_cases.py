"""The malformed extracts of the reliability tests: what each case delivers and what it
expects. Each case starts from three rows of the small world's 2019 file of one record
type (keys made unique to the case) and breaks them one way; the planted person (a name
and date of birth no world holds) sits in the broken row, so that a test can show that
neither reaches an error, a reason file or a log.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cmi_assets.sources.spec import RecordTypeSpec
from cmi_assets_tests.reliability.harness import PLANTED_DOB, PLANTED_FAMILY_NAME, PLANTED_GIVEN_NAME

SOURCE_YEAR = 2019
ROWS_PER_FILE = 3
BAD = 1  # the broken row: the second data row, line 3 of the file
BAD_LINE = BAD + 2


# ---- expectations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """The first problem listed (line and field None where the file as a whole is wrong)."""

    line: int | None
    field: str | None
    rule: str
    also_fields: tuple[str, ...] = ()  # further fields the reason file must name

    def describe(self) -> str:
        where = ", ".join(
            p for p in (f"line {self.line}" if self.line else "", f"field {self.field}" if self.field else "") if p
        )
        return (
            f"rejected: {where or 'the whole file'}, rule {self.rule}; quarantined with a reason; nothing else changes"
        )


@dataclass(frozen=True)
class Accepted:
    """Loaded as delivered; `why` is what a state agency's data engineer would expect."""

    why: str

    def describe(self) -> str:
        return f"accepted ({self.why}): every row loaded with its values as delivered, and staged"


# ---- the rows a case starts from ------------------------------------------------------------


def to_csv(columns: list[str], rows: list[dict[str, str]], delimiter: str = ",", line_end: str = "\n") -> str:
    """An extract as an agency's exporter writes it: RFC 4180 quoting only where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(columns)
    writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    return buffer.getvalue()


def planted_dob_texts() -> set[str]:
    dob = date(*PLANTED_DOB)
    return {dob.strftime(f) for f in ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%m%d%Y")}


@dataclass
class Extract:
    """Rows of one record type for one case: the world's, keys unique to the case, and the
    planted person in the broken row."""

    agency: str
    spec: RecordTypeSpec
    number: int
    rows: list[dict[str, str]]
    secrets: set[str] = field(default_factory=set)

    @property
    def columns(self) -> list[str]:
        return list(self.spec.column_names)

    def file_name(self, tag: str = "") -> str:
        return self.spec.file_pattern.replace("*", f"{SOURCE_YEAR}_case{self.number:02d}{tag}", 1)

    def text(self, rows=None, columns=None, **options) -> str:
        return to_csv(columns or self.columns, self.rows if rows is None else rows, **options)

    def data(self, **options) -> bytes:
        return self.text(**options).encode("utf-8")

    def plant(self, index: int = BAD) -> dict[str, str]:
        """Put the planted person into one row (name and DOB columns of its first person)."""
        row = self.rows[index]
        person = self.spec.persons[0] if self.spec.persons else None
        if person is not None:
            for column in (person.given_name, person.given_names):
                if column:
                    row[column] = PLANTED_GIVEN_NAME
            if person.family_name:
                row[person.family_name] = PLANTED_FAMILY_NAME
            if person.dob:
                row[person.dob] = date(*PLANTED_DOB).strftime(self.spec.column(person.dob).date_format)
        self.secrets |= {PLANTED_GIVEN_NAME, PLANTED_FAMILY_NAME, *planted_dob_texts()}
        self.secrets |= {row[c.name] for c in self.spec.columns if c.identifying and len(row[c.name]) >= 6}
        return row


def _tagged_key(value: str, number: int, index: int) -> str:
    # Same pattern as the world's key (letters then digits), unique to this case and row.
    return value[:-7] + f"7{number:02d}{index:04d}"


def source_rows(source_landing: Path, agency: str, spec: RecordTypeSpec, number: int) -> list[dict[str, str]]:
    path = next(
        p for p in sorted((source_landing / agency).glob(spec.file_pattern)) if p.stem.endswith(str(SOURCE_YEAR))
    )
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(ROWS_PER_FILE), csv.DictReader(handle))]
    key = spec.key[0]
    for index, row in enumerate(rows):
        row[key] = _tagged_key(row[key], number, index)
    return rows


# ---- deliveries ------------------------------------------------------------------------------


@dataclass
class Delivery:
    name: str
    content: bytes | None = None
    link_to: Path | None = None  # a symbolic link instead of a file
    rows: list[dict[str, str]] | None = None  # what an accepted file delivers


def bad_value(column: str, value: str) -> Callable[[Extract], Delivery]:
    def build(extract: Extract) -> Delivery:
        extract.plant()[column] = value
        extract.secrets.add(value)
        return Delivery(extract.file_name(), extract.data())

    return build


def missing_column(column: str):
    def build(extract: Extract) -> Delivery:
        extract.plant()
        return Delivery(extract.file_name(), extract.data(columns=[c for c in extract.columns if c != column]))

    return build


def extra_column(extract: Extract) -> Delivery:
    extract.plant()
    for row in extract.rows:
        row["favourite_colour"] = "Zanzibar green"
    extract.secrets.add("Zanzibar green")
    return Delivery(extract.file_name(), extract.data(columns=[*extract.columns, "favourite_colour"]))


def renamed_column(old: str, new: str):
    def build(extract: Extract) -> Delivery:
        extract.plant()
        for row in extract.rows:
            row[new] = row.pop(old)
        return Delivery(extract.file_name(), extract.data(columns=[new if c == old else c for c in extract.columns]))

    return build


def reordered_columns(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), extract.data(columns=list(reversed(extract.columns))), rows=extract.rows)


def with_bom(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), b"\xef\xbb\xbf" + extract.data(), rows=extract.rows)


def crlf_line_ends(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), extract.data(line_end="\r\n"), rows=extract.rows)


def renamed_file(tag: str):
    def build(extract: Extract) -> Delivery:
        return Delivery(extract.file_name(tag), extract.data(), rows=extract.rows)

    return build


def quotes_inside_a_value(column: str):
    def build(extract: Extract) -> Delivery:
        extract.rows[BAD][column] = 'Flat 2, "The Oaks", Hill Road'
        return Delivery(extract.file_name(), extract.data(), rows=extract.rows)

    return build


def newline_inside_a_value(column: str):
    def build(extract: Extract) -> Delivery:
        extract.plant()[column] = "3 Preston Avenue\nApartment 4"
        return Delivery(extract.file_name(), extract.data())

    return build


def text_after_closing_quote(column: str):
    def build(extract: Extract) -> Delivery:
        row = extract.plant()
        lines = extract.text().split("\n")
        lines[BAD + 1] = lines[BAD + 1].replace(row[column], f'"{row[column]}" Jr', 1)
        return Delivery(extract.file_name(), "\n".join(lines).encode("utf-8"))

    return build


def zero_bytes(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), b"")


def blank_lines_only(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), b"\n\n\n")


def header_only(extract: Extract) -> Delivery:
    return Delivery(extract.file_name(), extract.data(rows=[]))


def no_header_line(extract: Extract) -> Delivery:
    extract.plant(0)  # the first line is data: its values would be the "column names"
    return Delivery(extract.file_name(), "".join(extract.text().splitlines(keepends=True)[1:]).encode("utf-8"))


def other_delimiter(extract: Extract) -> Delivery:
    extract.plant()
    return Delivery(extract.file_name(), extract.data(delimiter=";"))


def gzip_named_csv(extract: Extract) -> Delivery:
    extract.plant()
    return Delivery(extract.file_name(), gzip.compress(extract.data(), mtime=0))


def latin1_name(column: str):
    def build(extract: Extract) -> Delivery:
        extract.plant()[column] = PLANTED_FAMILY_NAME.replace("e", "\u00eb")
        extract.secrets.add(extract.rows[BAD][column])
        return Delivery(extract.file_name(), extract.text().encode("latin-1"))

    return build


def invalid_utf8(extract: Extract) -> Delivery:
    extract.plant()
    broken = PLANTED_FAMILY_NAME.encode().replace(b"ew", b"e\xc3\x28w", 1)  # \xc3 must start a 2-byte sequence
    return Delivery(extract.file_name(), extract.data().replace(PLANTED_FAMILY_NAME.encode(), broken, 1))


def nul_byte(column: str):
    def build(extract: Extract) -> Delivery:
        extract.plant()[column] = "Zebe\x00diah"
        return Delivery(extract.file_name(), extract.data())

    return build


def blank_line(extract: Extract) -> Delivery:
    extract.plant()
    lines = extract.text().splitlines(keepends=True)
    return Delivery(extract.file_name(), "".join([*lines[: BAD + 1], "\n", *lines[BAD + 1 :]]).encode("utf-8"))


def bare_cr_line_ends(extract: Extract) -> Delivery:
    extract.plant()
    return Delivery(extract.file_name(), extract.data(line_end="\r"))


def truncated_last_line(extract: Extract) -> Delivery:
    extract.plant(len(extract.rows) - 1)
    data = extract.data()
    last_line_start = data.rstrip(b"\n").rfind(b"\n") + 1
    return Delivery(extract.file_name(), data[: last_line_start + (len(data) - last_line_start) // 2])


def null_key(extract: Extract) -> Delivery:
    extract.plant()[extract.spec.key[0]] = ""
    return Delivery(extract.file_name(), extract.data())


def duplicate_key(lower_case_codes: bool = False):
    def build(extract: Extract) -> Delivery:
        last = extract.plant(len(extract.rows) - 1)
        for column in extract.spec.key:
            value = extract.rows[0][column]
            last[column] = value.lower() if lower_case_codes and extract.spec.column(column).codes else value
        return Delivery(extract.file_name(), extract.data())

    return build


def symlink_to_outside(extract: Extract) -> Delivery:
    # A link to a valid extract outside landing: it would load if it were followed.
    return Delivery(extract.file_name(), extract.data(), link_to=Path("outside") / extract.file_name())


def unknown_record_type(extract: Extract) -> Delivery:
    extract.plant()
    return Delivery(f"{extract.agency}_pharmacy_{SOURCE_YEAR}.csv", extract.data())


FUTURE = "2090-06-23"
FORMULA = '=HYPERLINK("http://example.invalid/?q=Quixotewell","Quixotewell")'
DDE = "+cmd|' /C calc'!A0"


@dataclass(frozen=True)
class Case:
    name: str
    agency: str
    record_type: str
    build: Callable[[Extract], Delivery]
    expected: Rejected | Accepted


CASES = [
    # births: the column layout
    Case("missing column", "births", "registrations", missing_column("child_sex"), Rejected(1, "child_sex", "header")),
    Case("extra column", "births", "registrations", extra_column, Rejected(1, "favourite_colour", "header")),
    Case(
        "renamed column",
        "births",
        "registrations",
        renamed_column("child_dob", "child_date_of_birth"),
        Rejected(1, "child_date_of_birth", "header", also_fields=("child_dob",)),
    ),
    Case(
        "reordered columns",
        "births",
        "registrations",
        reordered_columns,
        Accepted("the spec names columns, so their order carries no meaning; exporters reorder them"),
    ),
    Case(
        "no header line (the first line is data)",
        "births",
        "registrations",
        no_header_line,
        Rejected(1, None, "header"),
    ),
    # births: values
    Case(
        "bad date (day/month/year where the spec says ISO)",
        "births",
        "registrations",
        bad_value("reg_date", "08/01/2019"),
        Rejected(BAD_LINE, "reg_date", "date"),
    ),
    Case(
        "impossible date (30 February)",
        "births",
        "registrations",
        bad_value("child_dob", "2019-02-30"),
        Rejected(BAD_LINE, "child_dob", "date"),
    ),
    Case(
        "future date of birth",
        "births",
        "registrations",
        bad_value("child_dob", FUTURE),
        Rejected(BAD_LINE, "child_dob", "future"),
    ),
    Case("wrong code", "births", "registrations", bad_value("child_sex", "Q"), Rejected(BAD_LINE, "child_sex", "code")),
    Case(
        "numeric overflow (beyond 64-bit)",
        "births",
        "registrations",
        bad_value("birth_weight_g", "99999999999999999999"),
        Rejected(BAD_LINE, "birth_weight_g", "int"),
    ),
    Case(
        "very long field (2,700 characters)",
        "births",
        "registrations",
        bad_value("child_given_names", "Zebediah " * 300),
        Rejected(BAD_LINE, "child_given_names", "length"),
    ),
    Case(
        "spreadsheet formula in a name (=HYPERLINK)",
        "births",
        "registrations",
        bad_value("child_family_name", FORMULA),
        Rejected(BAD_LINE, "child_family_name", "formula"),
    ),
    Case(
        "embedded newline in a quoted value",
        "births",
        "registrations",
        newline_inside_a_value("address_line"),
        Rejected(BAD_LINE, None, "layout"),
    ),
    Case(
        "embedded quotes in a quoted value",
        "births",
        "registrations",
        quotes_inside_a_value("address_line"),
        Accepted(
            'RFC 4180 quoting ("" inside a quoted value) is how every exporter writes a quote; the value keeps it'
        ),
    ),
    # births: the file
    Case("0-byte file", "births", "registrations", zero_bytes, Rejected(None, None, "empty")),
    Case("header-only file", "births", "registrations", header_only, Rejected(None, None, "empty")),
    Case(
        "UTF-8 byte order mark",
        "births",
        "registrations",
        with_bom,
        Accepted("Excel and Windows tools write a BOM; it is not part of the first column's name"),
    ),
    Case(
        "file name with spaces",
        "births",
        "registrations",
        renamed_file(" resent copy"),
        Accepted("the name still matches the spec's pattern; spaces are common in names people type"),
    ),
    # benefits
    Case(
        "CRLF line ends",
        "benefits",
        "spells",
        crlf_line_ends,
        Accepted("Windows exports end lines in CRLF; the CR is not part of the last value"),
    ),
    Case(
        "Latin-1 encoded name", "benefits", "spells", latin1_name("surname"), Rejected(BAD_LINE, "surname", "encoding")
    ),
    Case(
        "ISO date where the spec says day/month/year",
        "benefits",
        "spells",
        bad_value("spell_start", "2019-01-01"),
        Rejected(BAD_LINE, "spell_start", "date"),
    ),
    Case("null key", "benefits", "children", null_key, Rejected(BAD_LINE, "inclusion_id", "required")),
    Case(
        "spreadsheet formula in a name (+cmd)",
        "benefits",
        "children",
        bad_value("child_first_name", DDE),
        Rejected(BAD_LINE, "child_first_name", "formula"),
    ),
    Case("duplicate key", "benefits", "addresses", duplicate_key(), Rejected(4, "address_id", "duplicate_key")),
    # child protection
    Case("truncated last line", "child_protection", "notifications", truncated_last_line, Rejected(4, None, "layout")),
    Case(
        "invalid UTF-8",
        "child_protection",
        "notifications",
        invalid_utf8,
        Rejected(BAD_LINE, "family_name", "encoding"),
    ),
    Case(
        "text after a closing quote",
        "child_protection",
        "notifications",
        text_after_closing_quote("given_name"),
        Rejected(BAD_LINE, None, "layout"),
    ),
    Case(
        "file name with non-ASCII letters",
        "child_protection",
        "notifications",
        renamed_file("_M\u0101ori_\u00e9t\u00e9"),
        Accepted("file systems and Dagster partition keys are Unicode; the name matches the spec's pattern"),
    ),
    Case(
        "duplicate composite key (codes differing in case)",
        "child_protection",
        "investigations",
        duplicate_key(lower_case_codes=True),
        Rejected(4, "investigation_id+abuse_type", "duplicate_key"),
    ),
    Case(
        "wrong code in a finding",
        "child_protection",
        "investigations",
        bad_value("finding", "MAYBE"),
        Rejected(BAD_LINE, "finding", "code"),
    ),
    # corrections
    Case("blank line inside the file", "corrections", "sentences", blank_line, Rejected(BAD_LINE, None, "layout")),
    Case("semicolon-delimited file", "corrections", "sentences", other_delimiter, Rejected(1, None, "header")),
    Case(
        "NUL byte in a name",
        "corrections",
        "sentences",
        nul_byte("given_names"),
        Rejected(BAD_LINE, "given_names", "encoding"),
    ),
    Case("symbolic link in landing", "corrections", "sentences", symlink_to_outside, Rejected(None, None, "symlink")),
    # health
    Case("gzip file named .csv", "health", "maternity", gzip_named_csv, Rejected(None, None, "encoding")),
    Case(
        "value out of range",
        "health",
        "maternity",
        # a value no timestamp or pid in the event log can equal as a whole token by chance
        bad_value("plurality", "987654321"),
        Rejected(BAD_LINE, "plurality", "range"),
    ),
    Case(
        "future date of birth (hospital patient)",
        "health",
        "hospitalisations",
        bad_value("dob", FUTURE),
        Rejected(BAD_LINE, "dob", "future"),
    ),
    Case(
        "code not matching its pattern",
        "health",
        "hospitalisations",
        bad_value("diagnosis_code", "T7.41"),
        Rejected(BAD_LINE, "diagnosis_code", "pattern"),
    ),
    Case(
        "bare CR line ends (classic Mac)", "health", "mental_health", bare_cr_line_ends, Rejected(None, None, "layout")
    ),
    Case("empty file (blank lines only)", "health", "mental_health", blank_lines_only, Rejected(None, None, "empty")),
    Case(
        "file name matching no record type",
        "health",
        "maternity",
        unknown_record_type,
        Rejected(None, None, "file_name"),
    ),
]
