"""The PRM feasibility report: the NZ study's tables rebuilt from our cohorts, as markdown
(Dagster metadata, review in a pull request) and as self-contained HTML (shared with people
without Dagster). Plain Python: sections in, text out; no Dagster, no database.

    sections = feasibility_sections(tables, notes=[...], model_card=card)
    markdown = report_markdown("PRM feasibility", sections)
    html = report_html("PRM feasibility", sections)

Table names follow the study: table1 (Table 1, one row per linkage level), table2 (top
1-20%), figure1 (PPV and sensitivity by age at the top 5%), table6 (conservative vs less
conservative linkage), table7 and table8 (composition of the referred group), figure4 (risk
markers by score band), calibration, oracle (the synthetic truth's own AUC, when known).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

# table name -> (section title, one-line explanation), in report order
TABLE_SECTIONS: dict[str, tuple[str, str]] = {
    "table1": ("Table 1: base model", "Cohort size and prevalence of the training cohort(s), modelling sample size, "
               "validation AUC with its DeLong 95% interval, misclassification rate and cumulative lift at the top 3%."),
    "table2": ("Table 2: referral thresholds", "Children referred at the top 1%..20% of scores in the scored cohort, "
               "with PPV, NPV, sensitivity and specificity against findings by age 5."),
    "figure1": ("Figure 1: outcomes by age at the top 5%", "The same referred group (top 5% of scores) against findings by age 1..5."),
    "table6": ("Table 6: conservative vs less conservative linkage", "AUC and accuracy at the top 5% when the cohort is linked each way."),
    "table7": ("Table 7: composition of the referred group", "Share of each group among all children, children with findings "
               "and the top 5% of scores (of known values)."),
    "table8": ("Table 8: profile of the referred group", "Percent of all children, of children with findings by age 2 and of the top 5%."),
    "figure4": ("Figure 4: risk markers by score band", "Share of children with 5 or more of the 11 risk markers in each band."),
    "calibration": ("Calibration", "Mean predicted probability and observed rate in equal-count bins of the score."),
    "oracle": ("Oracle", "The synthetic world's true risk as a score, beside the model's AUC."),
    "model_comparison": ("Second model family", "The alternative model beside the stepwise model on the same validation set."),
}


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    table: pl.DataFrame | None = None
    markdown: str | None = None  # an already-written markdown block (the model card), kept verbatim


def _cell(value, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


def frame_markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    if frame.width == 0:
        return "_(empty)_"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def frame_html(frame: pl.DataFrame, digits: int = 3) -> str:
    if frame.width == 0:
        return "<p><em>(empty)</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v, digits))}</td>" for v in row) + "</tr>" for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def feasibility_sections(
    tables: Mapping[str, pl.DataFrame], notes: Sequence[str] = (), model_card: str | None = None
) -> list[Section]:
    """One section per known table present in `tables` (report order), then the notes and
    the model card."""
    sections = [
        Section(title, text, tables[name]) for name, (title, text) in TABLE_SECTIONS.items() if name in tables
    ]
    if notes:
        sections.append(Section("Notes", "\n".join(f"- {note}" for note in notes)))
    if model_card:
        sections.append(Section("Model card", markdown=model_card))
    return sections


def report_markdown(title: str, sections: Sequence[Section]) -> str:
    parts = [f"# {title}"]
    for section in sections:
        parts.append(f"## {section.title}")
        if section.text:
            parts.append(section.text)
        if section.table is not None:
            parts.append(frame_markdown(section.table))
        if section.markdown:
            # demote the block's headings below the section's
            parts.append("\n".join("##" + line if line.startswith("#") else line for line in section.markdown.splitlines()))
    return "\n\n".join(parts) + "\n"


def _text_html(text: str) -> str:
    lines = text.splitlines()
    if lines and all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{html.escape(text)}</p>"


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}th{background:#eee}"
    "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}"
)


def report_html(title: str, sections: Sequence[Section]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(_text_html(section.text))
        if section.table is not None:
            parts.append(frame_html(section.table))
        if section.markdown:
            parts.append(f"<pre>{html.escape(section.markdown)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
