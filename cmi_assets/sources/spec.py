"""Agency extract specs: the YAML contract in sources/specs/ as frozen dataclasses.

One YAML per agency (specs/README.md explains the format); onboarding an agency means
adding a file there, not code. Loading checks the spec itself (unknown keys, key
columns that do not exist, regexes that do not compile) so that a broken contract
fails at import time, not on the first extract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import yaml

SPECS_DIR = Path(__file__).parent / "specs"

COLUMN_TYPES = ("string", "int", "float", "date")
PERSON_ROLES = ("child", "adult", "by_age")

_COLUMN_KEYS = {
    "name",
    "type",
    "required",
    "codes",
    "multi_codes",
    "min",
    "max",
    "pattern",
    "date_format",
    "identifying",
    "not_future",
    "description",
}
_RECORD_TYPE_KEYS = {
    "file_pattern",
    "encoding",
    "delimiter",
    "date_format",
    "key",
    "columns",
    "persons",
}
# Person keys that name a column of the record type (the rest are constants or maps).
_PERSON_COLUMN_KEYS = (
    "person_id",
    "given_names",
    "given_name",
    "middle_name",
    "family_name",
    "dob",
    "age_years",
    "sex",
    "parent1_given_names",
    "parent1_dob",
    "parent2_given_names",
    "parent2_dob",
    "address",
    "postcode",
    "event_date",
)
_PERSON_KEYS = {"role", "sex_map", "sex_constant", *_PERSON_COLUMN_KEYS}


class SpecError(ValueError):
    """A spec YAML that breaks the format of specs/README.md."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an extract file and the rules its values must meet."""

    name: str
    type: str = "string"
    required: bool = False
    codes: tuple | None = None  # str codes for string columns, int codes for int columns
    multi_codes: str | None = None  # separator when a value is a list of codes
    min: float | None = None
    max: float | None = None
    pattern: str | None = None  # full match
    date_format: str | None = None  # resolved: the record type's default when not overridden
    identifying: bool = False  # a name, DOB, agency ID or address: never shown anywhere
    not_future: bool = False  # a date that cannot lie after the delivery (a date of birth)
    description: str = ""  # what the column holds, in words (the UI's column schema)


@dataclass(frozen=True)
class PersonSpec:
    """Identity columns of one person slot mapped onto the canonical person schema."""

    role: str
    person_id: str | None = None
    given_names: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    dob: str | None = None
    age_years: str | None = None
    sex: str | None = None
    sex_map: Mapping[str, str] | None = field(default=None, hash=False)
    sex_constant: str | None = None
    parent1_given_names: str | None = None
    parent1_dob: str | None = None
    parent2_given_names: str | None = None
    parent2_dob: str | None = None
    address: str | None = None
    postcode: str | None = None
    event_date: str | None = None


@dataclass(frozen=True)
class RecordTypeSpec:
    """One kind of extract file of an agency, loaded into raw.<agency>__<record_type>."""

    agency: str
    name: str
    file_pattern: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    encoding: str = "utf-8"
    delimiter: str = ","
    date_format: str = "%Y-%m-%d"
    persons: tuple[PersonSpec, ...] = ()

    @property
    def table_name(self) -> str:
        return f"{self.agency}__{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.table_name} has no column {name!r}")

    def matches(self, file_name: str) -> bool:
        return fnmatchcase(file_name, self.file_pattern)


@dataclass(frozen=True)
class AgencySpec:
    """Everything one agency delivers: its record types, in YAML order."""

    agency: str
    description: str
    record_types: Mapping[str, RecordTypeSpec] = field(hash=False)
    path: Path | None = None

    def record_type_for(self, file_name: str) -> RecordTypeSpec | None:
        """The record type whose file_pattern matches this file name, or None."""
        matches = [rt for rt in self.record_types.values() if rt.matches(file_name)]
        if len(matches) > 1:
            names = ", ".join(rt.name for rt in matches)
            raise SpecError(f"{self.agency}: file {file_name} matches several record types ({names})")
        return matches[0] if matches else None


def load_spec(agency: str) -> AgencySpec:
    """The spec of one agency, from specs/<agency>.yaml."""
    path = SPECS_DIR / f"{agency}.yaml"
    if not path.exists():
        known = ", ".join(sorted(all_specs()))
        raise SpecError(f"no spec for agency {agency!r} in {SPECS_DIR} (known: {known})")
    return _load_spec_file(path)


def all_specs() -> dict[str, AgencySpec]:
    """Every agency spec in specs/, by agency name (a new agency = a new YAML)."""
    specs = [_load_spec_file(path) for path in sorted(SPECS_DIR.glob("*.yaml"))]
    return {spec.agency: spec for spec in specs}


@cache
def _load_spec_file(path: Path) -> AgencySpec:
    return parse_spec(yaml.safe_load(path.read_text(encoding="utf-8")), path)


def parse_spec(document: dict, path: Path | None = None) -> AgencySpec:
    """Build and check an AgencySpec from a parsed YAML document."""
    where = path.name if path else "spec"
    if not isinstance(document, dict) or "agency" not in document:
        raise SpecError(f"{where}: top level must be a mapping with 'agency'")
    agency = str(document["agency"])
    if path is not None and path.stem != agency:
        raise SpecError(f"{where}: agency {agency!r} must match the file name")
    _reject_unknown(document, {"agency", "description", "record_types"}, where)
    record_types = {
        name: _parse_record_type(agency, str(name), body, f"{where} {name}")
        for name, body in (document.get("record_types") or {}).items()
    }
    if not record_types:
        raise SpecError(f"{where}: no record_types")
    return AgencySpec(
        agency=agency,
        description=" ".join(str(document.get("description", "")).split()),
        record_types=record_types,
        path=path,
    )


def _parse_record_type(agency: str, name: str, body: dict, where: str) -> RecordTypeSpec:
    _reject_unknown(body, _RECORD_TYPE_KEYS, where)
    for required in ("file_pattern", "key", "columns"):
        if required not in body:
            raise SpecError(f"{where}: missing {required!r}")
    default_date_format = body.get("date_format", "%Y-%m-%d")
    columns = tuple(_parse_column(c, default_date_format, where) for c in body["columns"])
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: duplicate column names")
    key = tuple(body["key"])
    for column in key:
        if column not in names:
            raise SpecError(f"{where}: key column {column!r} is not a column")
    persons = tuple(_parse_person(p, set(names), where) for p in body.get("persons") or ())
    return RecordTypeSpec(
        agency=agency,
        name=name,
        file_pattern=str(body["file_pattern"]),
        columns=columns,
        key=key,
        encoding=str(body.get("encoding", "utf-8")),
        delimiter=str(body.get("delimiter", ",")),
        date_format=default_date_format,
        persons=persons,
    )


def _parse_column(body: dict, default_date_format: str, where: str) -> ColumnSpec:
    _reject_unknown(body, _COLUMN_KEYS, where)
    name = str(body["name"])
    kind = body.get("type", "string")
    if kind not in COLUMN_TYPES:
        raise SpecError(f"{where} {name}: type {kind!r} not one of {COLUMN_TYPES}")
    if body.get("not_future") and kind != "date":
        raise SpecError(f"{where} {name}: not_future is only allowed on date columns")
    pattern = body.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SpecError(f"{where} {name}: pattern does not compile ({exc})") from None
    return ColumnSpec(
        name=name,
        type=kind,
        required=bool(body.get("required", False)),
        codes=_normalise_codes(body.get("codes"), kind, f"{where} {name}"),
        multi_codes=body.get("multi_codes"),
        min=body.get("min"),
        max=body.get("max"),
        pattern=pattern,
        date_format=body.get("date_format", default_date_format) if kind == "date" else None,
        identifying=bool(body.get("identifying", False)),
        not_future=bool(body.get("not_future", False)),
        description=" ".join(str(body.get("description", "")).split()),
    )


def _normalise_codes(codes, kind: str, where: str) -> tuple | None:
    # YAML reads 01 as the string "01" but 1 as an int: codes of string columns are
    # compared as upper-case text, codes of int columns as ints.
    if codes is None:
        return None
    if kind == "int":
        try:
            return tuple(int(c) for c in codes)
        except (TypeError, ValueError):
            raise SpecError(f"{where}: codes of an int column must be integers") from None
    if kind != "string":
        raise SpecError(f"{where}: codes are only allowed on string and int columns")
    return tuple(str(c).strip().upper() for c in codes)


def _parse_person(body: dict, column_names: set[str], where: str) -> PersonSpec:
    _reject_unknown(body, _PERSON_KEYS, f"{where} persons")
    if body.get("role") not in PERSON_ROLES:
        raise SpecError(f"{where} persons: role must be one of {PERSON_ROLES}")
    for key in _PERSON_COLUMN_KEYS:
        if key in body and body[key] not in column_names:
            raise SpecError(f"{where} persons: {key} names unknown column {body[key]!r}")
    return PersonSpec(**body)


def _reject_unknown(body: dict, allowed: set[str], where: str) -> None:
    if not isinstance(body, dict):
        raise SpecError(f"{where}: expected a mapping")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown}")
