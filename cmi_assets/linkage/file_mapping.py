"""Person files and their mappings for `cmi link`: read a CSV or Parquet file, check the
mapping against it and turn its rows into the raw canonical person schema
(person_records.standardise_person_records).

Every problem is a FileInputError: one line naming the file path (and the row and field
where there is one), never a value from the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import yaml

# canonical field -> the compared field it feeds (settings.SPINE_FIELDS / FILE_FIELDS)
FIELD_FEEDS = {
    "given_names": "given_name",
    "given_name": "given_name",
    "middle_name": "middle_name",
    "family_name": "family_name",
    "dob": "dob",
    "age_years": "dob",
    "sex": "sex",
    "parent1_given_names": "parent_given",
    "parent2_given_names": "parent_given",
    "parent1_dob": None,
    "parent2_dob": None,
    "address": "address",
    "locality": "locality",
    "postcode": "postcode",
    "event_date": None,
    "person_id": "person_id",
    "shared_id": "shared_id",
}
MULTI_COLUMN_FIELDS = ("address", "locality")  # several columns joined into one line
OPTIONS = ("dob_format", "role", "duplicate_free")
SETTINGS = ("guards", "max_date_failures")  # for the whole run, top level only
FAMILY_FIELDS = ("parent1_given_names", "parent2_given_names", "parent1_dob", "parent2_dob")
DATE_FIELDS = ("dob", "parent1_dob", "parent2_dob", "event_date")
DEFAULT_DOB_FORMAT = "%Y-%m-%d"
# Above this share of a file's non-empty dates failing to parse, the format is wrong, not the
# data (a keying slip makes a month 13 now and then, not in every twentieth record).
MAX_DATE_FAILURES = 0.05


def in_files(column: str, labels: list[str]) -> str:
    """SQL: column is one of the file labels (FALSE for none: `x IN (NULL)` is never true,
    and its NOT is not true either)."""
    if not labels:
        return "FALSE"
    return f"{column} IN ({', '.join(chr(39) + label.replace(chr(39), chr(39) * 2) + chr(39) for label in labels)})"


class FileInputError(ValueError):
    """A file or mapping that cannot be linked; the message is one line naming the file."""


def load_mapping(mapping: dict[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(mapping, dict):
        return mapping
    path = Path(mapping)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FileInputError(f"{path}: not a readable YAML mapping ({type(error).__name__})") from None
    if not isinstance(loaded, dict):
        raise FileInputError(f"{path}: the mapping must be a YAML mapping of field: column")
    return loaded


def file_mappings(mapping: dict[str, Any], paths: list[Path]) -> list[dict[str, Any]]:
    """Each file's mapping: the top-level keys, overlaid by the file's own section (`left:`
    for the first file and `right:` for the second, or a section named by the file's name)."""
    sections = {"left": 0, "right": 1} | {Path(p).name: i for i, p in enumerate(paths)}
    shared = {k: v for k, v in mapping.items() if k not in sections and k not in SETTINGS}
    out = []
    for i, path in enumerate(paths):
        own: dict[str, Any] = {}
        for name, index in sections.items():
            if index == i and isinstance(mapping.get(name), dict):
                own.update(mapping[name])
            elif index == i and name in mapping:
                raise FileInputError(f"{path}: the mapping's section {name!r} must be a mapping of field: column")
        out.append({**shared, **own})
    return out


def read_person_file(path: Path) -> pl.DataFrame:
    """Every column as text, header names and values stripped of surrounding spaces, empty
    values as nulls."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt"):
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        else:
            raise FileInputError(f"{path}: unsupported file type (CSV or Parquet)")
    except FileInputError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's, said in one line
        raise FileInputError(
            f"{path}: cannot be read as {path.suffix.lstrip('.').upper()} ({type(error).__name__})"
        ) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_columns(pl.all().cast(pl.String).str.strip_chars().replace("", None))


def check_mapping(mapping: dict[str, Any], frame: pl.DataFrame, path: Path) -> None:
    """One line naming the file for the first problem: an unknown field, a value that is not
    a column name, a column the file lacks, a missing id, an unknown role."""
    if "id" not in mapping:
        raise FileInputError(f"{path}: the mapping needs an 'id' column (a unique record key)")
    unknown = sorted(k for k in mapping if k not in FIELD_FEEDS and k not in ("id", *OPTIONS))
    if unknown:
        raise FileInputError(f"{path}: unknown fields in the mapping: {', '.join(map(str, unknown))}")
    for field, value in mapping.items():
        if field in OPTIONS:
            continue
        columns = value if isinstance(value, list) and field in MULTI_COLUMN_FIELDS else [value]
        if not columns or not all(isinstance(c, str) for c in columns):
            kind = "a column name or a list of them" if field in MULTI_COLUMN_FIELDS else "one column name"
            raise FileInputError(f"{path}: field {field!r} in the mapping must be {kind}")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise FileInputError(f"{path}: field {field!r}: column {missing[0]!r} is not in the file")
    if mapping.get("role", "adult") not in ("child", "adult"):
        raise FileInputError(f"{path}: role must be child or adult")
    if not isinstance(mapping.get("duplicate_free", False), bool):
        raise FileInputError(f"{path}: duplicate_free must be true or false")
    if not isinstance(mapping.get("dob_format", DEFAULT_DOB_FORMAT), str):
        raise FileInputError(f"{path}: dob_format must be a strptime format such as '%d/%m/%Y'")


def compared_fields(mapping: dict[str, Any]) -> set[str]:
    """The compared fields a file's mapping feeds (settings.comparisons)."""
    fields = {FIELD_FEEDS[k] for k in mapping if FIELD_FEEDS.get(k)}
    if "given_names" in mapping:  # "GIVEN MIDDLE" in one column
        fields.add("middle_name")
    if "dob" in mapping:
        fields.add("dob_text")
    return fields


def has_family_fields(mapping: dict[str, Any]) -> bool:
    """Parents' names or DOBs, or a register of children: what the twin and sibling guards
    rest on."""
    return any(f in mapping for f in FAMILY_FIELDS) or (
        mapping.get("duplicate_free") is True and mapping.get("role") == "child"
    )


def _digits_as_written_sql(column: str, date_format: str) -> pl.Expr | None:
    """A DOB as YYYYMMDD digits read through the format's %Y, %m and %d positions, also
    where the date itself does not parse (19450493); None for formats with other fields."""
    pattern, groups = "", []
    for token in re.split(r"(%[A-Za-z])", date_format):
        if token in ("%Y", "%m", "%d"):
            pattern += r"(\d{4})" if token == "%Y" else r"(\d{1,2})"
            groups.append(token)
        elif token.startswith("%"):
            return None
        else:
            pattern += re.escape(token)
    if sorted(groups) != ["%Y", "%d", "%m"]:
        return None
    parts = {g: pl.col(column).str.extract(f"^{pattern}$", i + 1) for i, g in enumerate(groups)}
    return pl.concat_str(parts["%Y"], parts["%m"].str.zfill(2), parts["%d"].str.zfill(2))


def canonical_frame(
    frame: pl.DataFrame,
    mapping: dict[str, Any],
    label: str,
    path: Path,
    max_date_failures: float = MAX_DATE_FAILURES,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """A file's rows in the raw canonical person schema (person_records.RAW columns, and
    address, locality, shared_id, dob_text where mapped) and the count of non-empty dates
    that did not parse, by field. A field whose failures exceed max_date_failures stops the
    run: the format is wrong."""
    check_mapping(mapping, frame, path)
    date_format = mapping.get("dob_format", DEFAULT_DOB_FORMAT)
    failures: dict[str, int] = {}
    for field in DATE_FIELDS:
        if field in mapping:
            raw = pl.col(mapping[field])
            n_failed, n_given = frame.select(
                (raw.is_not_null() & raw.str.to_date(date_format, strict=False).is_null()).sum().alias("failed"),
                raw.is_not_null().sum().alias("given"),
            ).row(0)
            failures[field] = int(n_failed)
            if n_given and n_failed / n_given > max_date_failures:
                raise FileInputError(
                    f"{path}: field {field!r} (column {mapping[field]!r}): {n_failed} of {n_given} dates "
                    f"({n_failed / n_given:.1%}) do not parse as {date_format!r}; set dob_format in the mapping or --dob-format"
                )

    def column(field: str, dtype=pl.String) -> pl.Expr:
        name = mapping.get(field)
        if name is None:
            return pl.lit(None, dtype).alias(field)
        if isinstance(name, list):
            return pl.concat_str([pl.col(c) for c in name], separator=" ", ignore_nulls=True).alias(field)
        if field in DATE_FIELDS:
            return pl.col(name).str.to_date(date_format, strict=False).alias(field)
        if field == "age_years":
            return pl.col(name).cast(pl.Int64, strict=False).alias(field)
        return pl.col(name).alias(field)

    given = mapping.get("given_names") or mapping.get("given_name")
    extra = []
    if "locality" in mapping:
        extra.append(column("locality").alias("locality_raw"))
    if "shared_id" in mapping:
        extra.append(column("shared_id"))
    if "dob" in mapping:
        digits = _digits_as_written_sql(mapping["dob"], date_format)
        parsed = pl.col(mapping["dob"]).str.to_date(date_format, strict=False).dt.strftime("%Y%m%d")
        extra.append((parsed if digits is None else pl.coalesce(parsed, digits)).alias("dob_text"))
    out = frame.select(
        pl.lit(label).alias("agency"),
        pl.lit("file").alias("record_type"),
        pl.col(mapping["id"]).alias("record_key"),
        pl.lit("person").alias("slot"),
        pl.lit(mapping.get("role", "adult")).alias("spec_role"),
        column("person_id"),
        (pl.col(given) if given else pl.lit(None, pl.String)).alias("given_raw"),
        column("middle_name").alias("middle_raw"),
        column("family_name").alias("family_raw"),
        column("dob", pl.Date),
        column("age_years", pl.Int64),
        column("sex").str.to_uppercase().str.slice(0, 1).alias("sex_raw"),
        column("parent1_given_names").alias("parent1_given_raw"),
        column("parent1_dob", pl.Date),
        column("parent2_given_names").alias("parent2_given_raw"),
        column("parent2_dob", pl.Date),
        column("address").alias("address_raw"),
        column("postcode"),
        column("event_date", pl.Date),
        pl.lit("given_names" in mapping).alias("_given_names_combined"),
        *extra,
    )
    _check_record_keys(out["record_key"], mapping["id"], path)
    return out.with_columns(
        pl.when(pl.col("sex_raw").is_in(["M", "F"])).then(pl.col("sex_raw")).alias("sex_raw")
    ), failures


def _check_record_keys(keys: pl.Series, column: str, path: Path) -> None:
    """Keys present and unique; the first offending row named (row 2 is the first data row
    of a CSV, under its header)."""
    for problem, mask in (("record key is empty", keys.is_null()), ("record key is not unique", keys.is_duplicated())):
        if mask.any():
            raise FileInputError(f"{path}: row {int(mask.arg_true()[0]) + 2}, field {column!r}: {problem}")
