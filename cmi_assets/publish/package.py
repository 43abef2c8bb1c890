"""The open data package: the published tables of the analysis zone as CSV, a Frictionless
`datapackage.json` (a Table Schema per file), a DCAT-US 1.1 `data.json` catalog and a human
data dictionary (`data_dictionary.md`).

The tables (publish/tables.py): community indicators, CFSR recurrence by state and pooled,
and incidence rates, protected together by publish/disclosure.py (protect_tables: a count
published in two tables is hidden in both, and every table's margins count); a table with an
identifying column (person_key, a name, a date of birth, an agency ID) is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from cmi_assets.community.schema import INDICATOR_COLUMNS, INDICATORS_TABLE
from cmi_assets.publish.disclosure import SUPPRESS_BELOW
from cmi_assets.publish.tables import (
    CFSR_COLUMNS,
    CFSR_HIDE,
    INCIDENCE_COLUMNS,
    INCIDENCE_HIDE,
    cfsr_table,
    incidence_table,
    protect_together,
)

Column = tuple[str, str, str]  # name, DuckDB type, description

FRICTIONLESS_TYPES = {"VARCHAR": "string", "BOOLEAN": "boolean", "BIGINT": "integer", "DOUBLE": "number"}
FRICTIONLESS_TYPES["INTEGER"] = "integer"
IDENTIFYING = ("person_key", "name", "first_name", "last_name", "dob", "date_of_birth", "agency_id", "source_id")
DCAT_SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
DICTIONARY = "data_dictionary.md"
# Which hidden cells are primary stays inside: a reader told that a cell is complementary
# knows its count is 0 or at least the threshold, which pins cells in sparse areas.
UNPUBLISHED_COLUMNS = ("suppression_reason",)
PUBLISHED_COLUMNS = [c for c in INDICATOR_COLUMNS if c[0] not in UNPUBLISHED_COLUMNS]
CFSR_PUBLISHED_COLUMNS = [c for c in CFSR_COLUMNS if c[0] not in UNPUBLISHED_COLUMNS]
INCIDENCE_PUBLISHED_COLUMNS = [c for c in INCIDENCE_COLUMNS if c[0] not in UNPUBLISHED_COLUMNS]
CFSR_TABLES = ("cfsr.recurrence_by_state", "cfsr.recurrence_national")
INCIDENCE_RATES_TABLE = "incidence.rates"
COMMUNITY_HIDE = ("count", "rate_per_1000", "rate_lower", "rate_upper", "smoothed_rate_per_1000")


@dataclass(frozen=True)
class PublishedTable:
    """One CSV of the package and what the dictionary says of it."""

    name: str  # file stem and resource name (lower-case, dashes or underscores)
    title: str
    description: str
    source: str  # the warehouse table and the asset that wrote it
    unit: str
    columns: list[Column]
    frame: pl.DataFrame
    hidden: tuple[str, ...] = ()  # the columns null where `suppressed`


def suppression_rule(threshold: int = SUPPRESS_BELOW) -> str:
    return (
        f"primary: a count of 1 to {threshold - 1} or a population of 1 to {threshold - 1} is hidden; "
        "complementary: further cells are hidden until no hidden count follows from the published margins "
        "of every table together (group values to all, counties to the state, postcodes to their county, states "
        "to the pooled rows, ages to the next age) and from the counts two tables both publish, which are hidden "
        "in both or shown in both; a hidden cell shows its population, no count and no rate"
    )


def _check(table: PublishedTable) -> None:
    names = [c[0] for c in table.columns]
    if names != table.frame.columns:
        raise ValueError(f"{table.name}: columns {table.frame.columns} do not match its schema {names}")
    bad = [c for c in names if c.lower() in IDENTIFYING]
    if bad:
        raise ValueError(f"{table.name}: identifying column {', '.join(bad)} is never published")
    if "suppressed" not in names:
        raise ValueError(f"{table.name}: no `suppressed` column: only disclosure-controlled tables are published")


def _table_schema(table: PublishedTable) -> dict:
    return {
        "fields": [
            {"name": name, "type": FRICTIONLESS_TYPES[kind], "description": text} for name, kind, text in table.columns
        ]
    }


def _datapackage(tables: list[PublishedTable], title: str, modified: str) -> dict:
    return {
        "name": "cmi-open-data",
        "title": title,
        "created": f"{modified}T00:00:00Z",
        "resources": [
            {
                "name": t.name.replace("_", "-"),
                "path": f"{t.name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "title": t.title,
                "description": t.description,
                "schema": _table_schema(t),
            }
            for t in tables
        ],
    }


def _catalog(
    tables: list[PublishedTable], base_url: str, publisher: str, contact_name: str, contact_email: str, modified: str
) -> dict:
    base = base_url.rstrip("/") + "/"
    return {
        "@context": f"{DCAT_SCHEMA}/catalog.jsonld",
        "@type": "dcat:Catalog",
        "conformsTo": DCAT_SCHEMA,
        "describedBy": f"{DCAT_SCHEMA}/catalog.json",
        "dataset": [
            {
                "@type": "dcat:Dataset",
                "title": t.title,
                "description": t.description,
                "keyword": ["child welfare", "child maltreatment", "community indicators", t.name],
                "modified": modified,
                "publisher": {"@type": "org:Organization", "name": publisher},
                "contactPoint": {"@type": "vcard:Contact", "fn": contact_name, "hasEmail": f"mailto:{contact_email}"},
                "identifier": f"{base}{t.name}",
                "accessLevel": "public",
                "describedBy": f"{base}{DICTIONARY}",
                "describedByType": "text/markdown",
                "distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "title": t.title,
                        "downloadURL": f"{base}{t.name}.csv",
                        "mediaType": "text/csv",
                        "format": "CSV",
                        "describedBy": f"{base}datapackage.json",
                        "describedByType": "application/json",
                    }
                ],
            }
            for t in tables
        ],
    }


def _dictionary(tables: list[PublishedTable], threshold: int) -> str:
    lines = ["# Data dictionary", "", f"Suppression rule (every table): {suppression_rule(threshold)}.", ""]
    for t in tables:
        lines += [f"## {t.name}.csv: {t.title}", "", t.description, "", f"Source: {t.source}. Unit: {t.unit}.", ""]
        lines += ["| column | type | definition | source | unit | suppression rule |", "|---|---|---|---|---|---|"]
        for name, kind, text in t.columns:
            hidden = "hidden where `suppressed`" if name in t.hidden else "always shown"
            unit = t.unit if name in t.hidden else ""
            lines.append(
                f"| {name} | {FRICTIONLESS_TYPES[kind]} | {text.replace('|', '/')} | {t.source} | {unit} | {hidden} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_package(
    out_dir: Path,
    tables: list[PublishedTable],
    *,
    base_url: str | None = None,
    title: str = "Child maltreatment community indicators (open data)",
    publisher: str = "Child maltreatment evidence team",
    contact_name: str = "Open data contact",
    contact_email: str = "open-data@example.org",  # a placeholder: a publisher passes its own
    modified: str | None = None,
    threshold: int = SUPPRESS_BELOW,
) -> dict[str, int]:
    """Write the package into `out_dir`; returns {file name: data rows} for the CSVs."""
    if not tables:
        raise ValueError("nothing to publish: no disclosure-controlled table is there yet")
    for t in tables:
        _check(t)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    modified = modified or date.today().isoformat()
    base_url = base_url or out_dir.resolve().as_uri()
    rows = {}
    for t in tables:
        t.frame.write_csv(out_dir / f"{t.name}.csv")
        rows[f"{t.name}.csv"] = t.frame.height
    (out_dir / "datapackage.json").write_text(json.dumps(_datapackage(tables, title, modified), indent=2))
    catalog = _catalog(tables, base_url, publisher, contact_name, contact_email, modified)
    (out_dir / "data.json").write_text(json.dumps(catalog, indent=2))
    (out_dir / DICTIONARY).write_text(_dictionary(tables, threshold))
    return rows


def _present(con, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()[0]
    return bool(found)


def _read(con, table: str, columns: list[Column] | None = None) -> pl.DataFrame | None:
    if not _present(con, table):
        return None
    names = ", ".join(f'"{c[0]}"' for c in columns) if columns else "*"
    return con.execute(f"select {names} from {table}").pl()


def published_frames(con, threshold: int = SUPPRESS_BELOW) -> dict[str, pl.DataFrame]:
    """The warehouse's tables as the package publishes them, protected together
    (tables.protect_together), with `suppression_reason` still on: community, cfsr, incidence
    (those present)."""
    community = _read(con, INDICATORS_TABLE, INDICATOR_COLUMNS)
    by_state, national = (_read(con, t) for t in CFSR_TABLES)
    cfsr = cfsr_table(by_state, national) if by_state is not None and national is not None else None
    rates = _read(con, INCIDENCE_RATES_TABLE)
    incidence = incidence_table(rates) if rates is not None else None
    return protect_together(community, cfsr, incidence, threshold=threshold)


# What the dictionary says of each table published_frames may give (keyed as it keys them).
_DESCRIBED = {
    "community": dict(
        name="community_indicators",
        title="Community indicators by state, county and postcode",
        description="Counts, populations and rates per 1,000 children of each community indicator by "
        "period, geography and group (sex, ethnicity, deprivation decile), with exact Poisson intervals, an "
        "empirical-Bayes smoothed rate, a reliability flag and disclosure control.",
        source=f"{INDICATORS_TABLE} (asset community_indicators)",
        unit="children; rates per 1,000 children of the population",
        columns=PUBLISHED_COLUMNS,
        hidden=COMMUNITY_HIDE,
    ),
    "cfsr": dict(
        name="cfsr_recurrence",
        title="Recurrence of maltreatment within 12 months (CFSR Round 4), by state and pooled",
        description="Per 12-month period and state: children with a substantiated or indicated report "
        "(denominator), of them children with another within 12 months (numerator) and the observed "
        "proportion; the pooled rows sum the DQ-passing states and all states.",
        source=f"{', '.join(CFSR_TABLES)} (asset cfsr_recurrence)",
        unit="children; observed as a proportion 0-1",
        columns=CFSR_PUBLISHED_COLUMNS,
        hidden=CFSR_HIDE,
    ),
    "incidence": dict(
        name="incidence_rates",
        title="Incidence of a first maltreatment record per 1,000 children, by birth cohort",
        description="Per birth cohort and linkage level: children first recorded by each source and by any "
        "(each child once), by age 1-5 and in each year of age, overall and by sex, ethnicity, deprivation "
        "decile and county, with exact Poisson intervals and disclosure control.",
        source=f"{INCIDENCE_RATES_TABLE} (asset incidence_rates)",
        unit="children; rates per 1,000 children of the population",
        columns=INCIDENCE_PUBLISHED_COLUMNS,
        hidden=INCIDENCE_HIDE,
    ),
}


def warehouse_tables(con, threshold: int = SUPPRESS_BELOW) -> list[PublishedTable]:
    """The disclosure-controlled tables of the warehouse that exist now, protected together."""
    frames = published_frames(con, threshold)
    return [
        PublishedTable(**described, frame=frames[key].select(c[0] for c in described["columns"]))
        for key, described in _DESCRIBED.items()
        if key in frames
    ]


def publish_warehouse(con, out_dir: Path, **options) -> dict[str, int]:
    """write_package of warehouse_tables(con): what `cmi publish` and the open_data_package
    asset both run."""
    return write_package(out_dir, warehouse_tables(con), **options)
