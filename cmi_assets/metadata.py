"""Metadata values as a reader sees them in the Dagster UI: every value a number rounded
to what matters, a short text, or a table; never a JSON blob.

    headline = {"validation_auc": number(0.82446623)}          # 0.8245
    "sample_sizes": mapping_table(sizes, "sample", "children")  # a two-column table
    "selected_variables": text_list(names)                      # "a, b, c"
    "by_state": frame_table(frame)                              # polars frame -> table
    shown(anything)                                             # picks one of the above

Tables go in as `dg.MetadataValue.table`: the UI draws them inline, however many rows
(a markdown value over 1,000 characters is folded behind "[Show Markdown]"), but cuts
off what is wider than its value column, so keep them to a few short columns (measures
as rows, `transposed`). Keys stay short too (under 30 characters): a longer key runs
into the timestamp column.

States are named, not bare codes ("Oklahoma (OK)", never "OK", which reads as a status):
`state_label`, `states_named`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from cmi_assets.markdown import markdown_table

SIGNIFICANT_DIGITS = 4  # 0.9995, 4.773, 409.9, 1.637e-05: what a reader compares
MAX_KEY_LENGTH = 30
# About the characters a table can span in the UI's value column (a 1600-pixel window)
# before it is cut off, widening the column and cutting every other value with it.
MAX_TABLE_WIDTH = 70


def number(value, digits: int = SIGNIFICANT_DIGITS):
    """A float rounded to `digits` significant digits (ints, None and text unchanged; NaN
    and infinities become None, which the UI shows as empty)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return value
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}") if value else 0.0


def percent(value, decimals: int = 1) -> str:
    """A proportion as a percent with `decimals` decimals ("9.9%"); "-" when unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{100 * value:.{decimals}f}%"


def text_list(items: Iterable, empty: str = "none") -> dg.MetadataValue:
    """A list as one short line: "single_parent, parenting_demands"."""
    shown_items = [str(number(item)) for item in items]
    return dg.MetadataValue.text(", ".join(shown_items) if shown_items else empty)


def _column_type(values: Sequence) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {bool}:
        return "bool"
    if kinds and kinds <= {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "float"
    return "string"


def _cell(value, digits: int):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return number(value, digits)
    return str(value)


def table_width(cells: Sequence[Mapping], columns: Sequence[str]) -> int:
    """Characters the table spans: each column's widest cell or header, plus padding."""
    return sum(
        max([len(str(c))] + [len(str(row.get(c) if row.get(c) is not None else "")) for row in cells]) + 3
        for c in columns
    )


def table(
    rows: Sequence[Mapping],
    columns: Sequence[str] | None = None,
    digits: int = SIGNIFICANT_DIGITS,
    descriptions: Mapping[str, str] | None = None,
) -> dg.MetadataValue:
    """Rows (mappings) as a table; floats rounded, column types from the values. A table
    wider than MAX_TABLE_WIDTH goes in as markdown instead: the UI draws a short one
    compactly and opens a long one (over 1,000 characters) at full width in a dialog,
    where an inline table would be cut off."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    cells = [{c: _cell(row.get(c), digits) for c in columns} for row in rows]
    if table_width(cells, columns) > MAX_TABLE_WIDTH:
        shown_cells = [["" if r[c] is None else str(r[c]) for c in columns] for r in cells]
        return dg.MetadataValue.md(markdown_table(columns, shown_cells))
    descriptions = descriptions or {}
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(c, _column_type([r[c] for r in cells]), description=descriptions.get(c)) for c in columns
        ]
    )
    return dg.MetadataValue.table([dg.TableRecord(r) for r in cells], schema=schema)


def column_schema(columns: Iterable[Sequence[str]]) -> dg.TableSchema:
    """`dagster/column_schema` from a library's (name, type[, description]) tuples."""
    return dg.TableSchema(
        columns=[dg.TableColumn(c[0], c[1], description=c[2] if len(c) > 2 else None) for c in columns]
    )


def table_metadata(zone: str, table: str, columns: Iterable[Sequence[str]] | None = None) -> dict:
    """An asset's definition metadata for the table it writes: `dagster/table_name` in its
    zone, the zone, and `dagster/column_schema` from (name, type[, description]) tuples
    when given."""
    out = {"dagster/table_name": f"{zone}.{table}", "zone": zone}
    return {**out, "dagster/column_schema": column_schema(columns)} if columns is not None else out


def frame_table(frame, digits: int = SIGNIFICANT_DIGITS, descriptions: Mapping[str, str] | None = None):
    """A polars frame as a table (dates and other values as text)."""
    return table(list(frame.iter_rows(named=True)), frame.columns, digits, descriptions)


def mapping_table(
    mapping: Mapping, key: str = "name", value: str = "value", digits: int = SIGNIFICANT_DIGITS
) -> dg.MetadataValue:
    """A flat mapping as a two-column table: one row per key."""
    return table([{key: str(k), value: v} for k, v in mapping.items()], [key, value], digits)


def transposed(
    rows: Mapping[str, Mapping], measure: str = "measure", digits: int = SIGNIFICANT_DIGITS
) -> dg.MetadataValue:
    """{column name: {measure: value}} as a narrow table with measures as rows and one
    column per name (e.g. one per linkage level)."""
    names = list(rows)
    measures = list(dict.fromkeys(m for values in rows.values() for m in values))
    return table(
        [{measure: m, **{n: rows[n].get(m) for n in names}} for m in measures],
        [measure, *names],
        digits,
    )


def shown(value, digits: int = SIGNIFICANT_DIGITS):
    """Any value as metadata a person can read: a flat dict becomes a two-column table, a
    list of dicts a table, a list of scalars one line of text, a float a rounded number;
    dagster metadata values and everything else pass through."""
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, Mapping):
        if all(isinstance(v, Mapping) for v in value.values()) and value:
            return transposed(value, digits=digits)
        return mapping_table({k: v if not isinstance(v, (list, tuple)) else str(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            return table(list(value), digits=digits)
        return text_list(value)
    return number(value, digits)


def shown_all(metadata: Mapping, digits: int = SIGNIFICANT_DIGITS) -> dict:
    """`shown` on every value of a metadata dict, keeping its order."""
    return {key: shown(value, digits) for key, value in metadata.items()}


def is_blob(value) -> bool:
    """A metadata value a reader would see as a JSON blob: a JSON value, or text that is a
    dict or list written out."""
    if isinstance(value, dg.JsonMetadataValue):
        return True
    text = value.text if isinstance(value, dg.TextMetadataValue) else value if isinstance(value, str) else None
    return text is not None and text.strip()[:1] in ("{", "[") and text.strip()[-1:] in ("}", "]")


# --- states -------------------------------------------------------------------------------

STATE_NAMES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "PR": "Puerto Rico",
    "GU": "Guam",
    "VI": "U.S. Virgin Islands",
    "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}


def state_label(code: str) -> str:
    """ "Oklahoma (OK)"; an unknown code quoted ("'ZZ'") so it never reads as a word."""
    name = STATE_NAMES.get(str(code).upper())
    return f"{name} ({code})" if name else f"'{code}'"


def states_named(codes: Iterable[str], empty: str = "none") -> str:
    """ "Georgia (GA), Michigan (MI)", in the order given; `empty` when there are none."""
    labels = [state_label(c) for c in codes]
    return ", ".join(labels) if labels else empty


def short_key(key: str) -> str:
    """Checks a metadata key against MAX_KEY_LENGTH (for tests and asset code)."""
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"metadata key {key!r} is longer than {MAX_KEY_LENGTH} characters")
    return key
