"""The feasibility report for the current model: the study tables in the report's layout, every
note, what changed since the previous model and the model card, as markdown and
self-contained HTML (report.py renders the sections)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cmi_assets.prm.artefact import model_card_markdown
from cmi_assets.prm.oracle_table import oracle_note
from cmi_assets.prm.registry import ModelRegistry
from cmi_assets.prm.report import (
    change_commentary,
    feasibility_sections,
    headline_markdown,
    headline_numbers,
    model_summary,
    report_html,
    report_markdown,
    transpose_for_display,
)

STUDY_TABLE_KEYS = {"table9": "model", "table10": "target", "table11": "variant"}  # the model each row is


@dataclass(frozen=True)
class FeasibilityReport:
    version: str | None  # the current model's, None when there is no model
    tables: dict[str, pl.DataFrame]
    numbers: dict
    commentary: list[str]
    markdown: str
    html: str

    @property
    def stem(self) -> str:
        return f"feasibility_{self.version}" if self.version else "feasibility_no_model"

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """(html, markdown) under out_dir, also as latest.html and latest.md."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for stem in (self.stem, "latest"):
            (out_dir / f"{stem}.md").write_text(self.markdown, encoding="utf-8")
            (out_dir / f"{stem}.html").write_text(self.html, encoding="utf-8")
        return out_dir / f"{self.stem}.html", out_dir / f"{self.stem}.md"


def display_tables(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The non-empty tables in the study's layout (Tables 9-11: one column per model)."""
    tables = {name: table for name, table in tables.items() if table.height}
    if "table8" in tables:
        tables["table8"] = tables["table8"].drop("row")
    for name, key in STUDY_TABLE_KEYS.items():
        if name in tables:
            tables[name] = transpose_for_display(tables[name], key)
    return tables


def feasibility_report(
    tables: Mapping[str, pl.DataFrame], study_notes: list[str], models: ModelRegistry
) -> FeasibilityReport:
    artefact, path = models.current()
    tables = display_tables(tables)
    notes = [] if artefact else ["no PRM model yet: prm_model found too few positives or no complete cohort"]
    commentary: list[str] = []
    if artefact:
        notes += list(artefact.document["metadata"].get("notes", []))
        previous, _ = models.previous()
        current_summary = model_summary(artefact.document, artefact.version, models.read_evaluation(artefact.version))
        previous_summary = (
            model_summary(previous.document, previous.version, models.read_evaluation(previous.version))
            if previous is not None and previous.version != artefact.version
            else None
        )
        commentary = change_commentary(current_summary, previous_summary)
    notes += study_notes
    if "oracle" not in tables:
        notes.append(oracle_note(False))
    card = model_card_markdown(path.read_text(encoding="utf-8")) if artefact else None
    title = f"PRM feasibility report ({'model ' + artefact.version if artefact else 'no model'})"
    numbers = headline_numbers(tables)
    sections = feasibility_sections(
        tables, notes=notes, model_card=card, commentary=commentary, headline=headline_markdown(numbers)
    )
    return FeasibilityReport(
        version=artefact.version if artefact else None,
        tables=tables,
        numbers=numbers,
        commentary=commentary,
        markdown=report_markdown(title, sections),
        html=report_html(title, sections),
    )
