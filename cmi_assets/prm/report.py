"""The PRM feasibility report: the NZ study's tables rebuilt from our cohorts, as markdown
(Dagster metadata, review in a pull request) and as self-contained HTML (shared with people
without Dagster). Plain Python: sections in, text out; no Dagster, no database.

    sections = feasibility_sections(tables, notes=[...], model_card=card)
    markdown = report_markdown("PRM feasibility", sections)
    html = report_html("PRM feasibility", sections)

Table names follow the study: table1 (Table 1, one row per linkage level), table2 (top
1-20%), figure1 (PPV and sensitivity by age at the top 5%), table6 (conservative vs less
conservative linkage), table7 and table8 (composition of the referred group), table9
(separate models per group), table10 (alternative targets), table11 (agency data drawn on),
figure3 (variables across models), figure4 (risk markers by score band), figure5 (children
observed by weeks since birth), calibration, oracle (the synthetic truth's own AUC, when
known).

The report opens with "what changed since the last model": `model_summary` condenses a
model artefact's document and its evaluation, `change_commentary` compares two summaries.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from cmi_assets.markdown import frame_markdown as metadata_frame_markdown
from cmi_assets.markdown import markdown_cell

# table name -> (section title, one-line explanation), in report order
TABLE_SECTIONS: dict[str, tuple[str, str]] = {
    "table1": (
        "Table 1: base model",
        "Cohort size and prevalence of the training cohort(s), modelling sample size, "
        "validation AUC with its DeLong 95% interval, misclassification rate and cumulative lift at the top 3%.",
    ),
    "table2": (
        "Table 2: referral thresholds",
        "Children referred at the top 1%..20% of scores in the scored cohort, "
        "with PPV, NPV, sensitivity and specificity against findings by age 5.",
    ),
    "table3": (
        "Table 3: referral thresholds for one group",
        "The Table 2 thresholds (set on every child) counted among "
        "the children of one group (column `group`; the study's Maori children, here AIAN children by default).",
    ),
    "figure1": (
        "Figure 1: outcomes by age at the top 5%",
        "The same referred group (top 5% of scores) against findings by age 1..5.",
    ),
    "table6": (
        "Table 6: conservative vs less conservative linkage",
        "AUC and accuracy at the top 5% when the cohort is linked each way.",
    ),
    "table7": (
        "Table 7: composition of the referred group",
        "Share of each group among all children, children with findings and the top 5% of scores (of known values).",
    ),
    "table8": (
        "Table 8: profile of the referred group",
        "Percent of all children, of children with findings by age 2 and of the top 5%.",
    ),
    "table9": (
        "Table 9: separate models per group",
        "Separate models for each group, the top 5% drawn from each group in "
        "proportion to its children with findings by age 2, against findings by age 5 (status says why a split was not fitted).",
    ),
    "table10": (
        "Table 10: alternative targets",
        "A model per target A-E: validation AUC, measures at the threshold nearest "
        "each target's prevalence by age 2, and the top 5% against the target and against findings by age 5.",
    ),
    "table11": (
        "Table 11: agency data drawn on",
        "The model with health data added (A), the base model (B), and without births "
        "(C, children on benefit by 3 months) and corrections data (D); referred-group profile in percent of known values.",
    ),
    "figure3": (
        "Figure 3: main predictors across models",
        "How many of the models fitted select each variable, and its mean "
        "entry rank where selected (1 = entered first); a split variable counts as appearing in its group models.",
    ),
    "figure4": (
        "Figure 4: risk markers by score band",
        "Share of children with 5 or more of the 11 risk markers in each band.",
    ),
    "figure5": (
        "Figure 5: children observed by weeks since birth",
        "Percent of the cohort's children (seen in either source, "
        "less conservative linkage) observed in birth registration, in benefit data and in either, by week.",
    ),
    "calibration": ("Calibration", "Mean predicted probability and observed rate in equal-count bins of the score."),
    "oracle": (
        "Oracle",
        "The synthetic world's true risk as a score, beside the model's AUC on the same children "
        "(validation sample and scored cohort); the gap is what a better model could still gain.",
    ),
    "model_comparison": (
        "Second model family",
        "The alternative model beside the stepwise model on the same validation set.",
    ),
    "selection_frequency": (
        "Bootstrap selection frequencies",
        "Share of bootstrap resamples of the training sample in which "
        "stepwise selection keeps each variable, and its mean entry step (Austin and Tu 2004: stepwise "
        "selection is unstable; a variable kept in few resamples is a weak finding).",
    ),
}


def in_report_order(names) -> list[str]:
    """Table names in the report's order (Table 2 before Table 10), unknown names last."""
    order = {name: rank for rank, name in enumerate(TABLE_SECTIONS)}
    return sorted(names, key=lambda name: (order.get(name, len(order)), name))


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    table: pl.DataFrame | None = None
    markdown: str | None = None  # an already-written markdown block (the model card), kept verbatim


def frame_markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    """The report's tables carry three decimals (metadata tables four)."""
    return metadata_frame_markdown(frame, digits)


def transpose_for_display(frame: pl.DataFrame, key: str, digits: int = 3) -> pl.DataFrame:
    """Measures as rows and one column per value of `key` (the study's layout for Tables
    9-11, where each model is a column), every cell shown as text."""
    if not frame.height:
        return frame
    names = [str(v) for v in frame[key].to_list()]
    rows = [
        {"measure": column, **{n: markdown_cell(v, digits) for n, v in zip(names, frame[column].to_list())}}
        for column in frame.columns
        if column != key
    ]
    return pl.DataFrame(rows, schema={"measure": pl.String, **{n: pl.String for n in names}})


def frame_html(frame: pl.DataFrame, digits: int = 3) -> str:
    if frame.width == 0:
        return "<p><em>(empty)</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(markdown_cell(v, digits))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- headline ------------------------------------------------------------------------------

HEADLINE_TITLE = "Headline"
HEADLINE_LEVEL = "conservative"  # the study's main linkage


def _level_row(frame: pl.DataFrame | None, level: str = HEADLINE_LEVEL) -> dict:
    if frame is None or not frame.height:
        return {}
    if "linkage_level" in frame.columns:
        frame = frame.filter(pl.col("linkage_level") == level)
    return frame.row(0, named=True) if frame.height else {}


def headline_numbers(tables: Mapping[str, pl.DataFrame]) -> dict:
    """The findings a reader looks for first, at the conservative linkage, unrounded (the
    asset rounds them for display): validation AUC with its DeLong 95% interval (Table 1),
    and on the scored cohort the AUC with its interval, PPV and sensitivity at the top 5%
    of scores (Table 6). Missing tables give no entries."""
    numbers: dict = {}
    table1, table6 = _level_row(tables.get("table1")), _level_row(tables.get("table6"))
    for key, name in (
        ("auc_validation", "validation_auc"),
        ("auc_ci_low", "validation_auc_ci_low"),
        ("auc_ci_high", "validation_auc_ci_high"),
    ):
        if table1.get(key) is not None:
            numbers[name] = float(table1[key])
    if table6:
        share = table6.get("share_referred")
        if share is not None:
            numbers["top_share"] = float(share)
        for key, name in (
            ("auc", "scored_auc"),
            ("auc_ci_low", "scored_auc_ci_low"),
            ("auc_ci_high", "scored_auc_ci_high"),
            ("ppv", "ppv_top_5pct"),
            ("sensitivity", "sensitivity_top_5pct"),
        ):
            if table6.get(key) is not None:
                numbers[name] = float(table6[key])
    return {k: v for k, v in numbers.items() if v == v}


def _interval(numbers: Mapping, prefix: str) -> str:
    low, high = numbers.get(f"{prefix}_ci_low"), numbers.get(f"{prefix}_ci_high")
    return f" (95% CI {low:.3f}-{high:.3f})" if low is not None and high is not None else ""


def headline_markdown(numbers: Mapping) -> str:
    """One short paragraph of the headline numbers (`headline_numbers`)."""
    parts = []
    if "validation_auc" in numbers:
        parts.append(f"**Validation AUC {numbers['validation_auc']:.3f}**{_interval(numbers, 'validation_auc')}")
    if "scored_auc" in numbers:
        parts.append(f"scored cohort AUC {numbers['scored_auc']:.3f}{_interval(numbers, 'scored_auc')}")
    if "ppv_top_5pct" in numbers:
        top = f"{100 * numbers.get('top_share', 0.05):g}%"
        measured = f"**PPV {100 * numbers['ppv_top_5pct']:.1f}%**"
        if "sensitivity_top_5pct" in numbers:
            measured += f", sensitivity {100 * numbers['sensitivity_top_5pct']:.1f}%"
        parts.append(f"at the top {top} of scores {measured} (findings by age 5)")
    if not parts:
        return "No headline numbers yet: no validated model or scored cohort (see the notes)."
    return "; ".join(parts) + f" ({HEADLINE_LEVEL.replace('_', ' ')} linkage)."


def feasibility_sections(
    tables: Mapping[str, pl.DataFrame],
    notes: Sequence[str] = (),
    model_card: str | None = None,
    commentary: Sequence[str] = (),
    headline: str | None = None,
) -> list[Section]:
    """The headline (first, when given), the commentary on what changed, one section per
    known table present in `tables` (report order), then the notes and the model card."""
    sections = [Section(HEADLINE_TITLE, headline)] if headline else []
    sections += [Section(CHANGES_TITLE, "\n".join(f"- {line}" for line in commentary))] if commentary else []
    sections += [Section(title, text, tables[name]) for name, (title, text) in TABLE_SECTIONS.items() if name in tables]
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
            parts.append(
                "\n".join("##" + line if line.startswith("#") else line for line in section.markdown.splitlines())
            )
    return "\n\n".join(parts) + "\n"


def _text_html(text: str) -> str:
    lines = text.splitlines()
    if lines and all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines) + "</ul>"
    return "<p>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text)) + "</p>"


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}th{background:#eee}"
    "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}"
)


def report_html(title: str, sections: Sequence[Section]) -> str:
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
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


# --- what changed since the last model ----------------------------------------------------------

CHANGES_TITLE = "What changed since the last model"
TOP_SHIFTS_SHOWN = 3


def model_summary(document: Mapping, version: str, evaluation: Mapping | None = None) -> dict:
    """What the commentary compares, from a model artefact's JSON document (artefact.py)
    and the summary prm_evaluation saved for it (None when it was never evaluated)."""
    metrics = document.get("validation_metrics") or {}
    sizes = document.get("sample_sizes") or {}
    evaluation = evaluation or {}
    return {
        "version": version,
        "training_cohort": document.get("training_cohort"),
        "training_children": sizes.get("population"),
        "training_positives": sizes.get("population_positives"),
        "variables": [v["name"] for v in document.get("variables", [])],
        "validation_auc": metrics.get("auc_validation"),
        "oracle_gap": metrics.get("oracle_gap_validation"),
        "calibration_slope": metrics.get("calibration_slope"),
        "scored_birth_year": evaluation.get("scored_birth_year"),
        "share_referred": evaluation.get("share_referred"),
        "ppv": evaluation.get("ppv"),
        "sensitivity": evaluation.get("sensitivity"),
        "group_shares": dict(evaluation.get("top_share_by_group") or {}),
    }


def _known(*values) -> bool:
    return all(v is not None and v == v for v in values)


def _change(
    label: str, now, before, scale: float = 1.0, digits: int = 3, unit: str = "", delta_unit: str = ""
) -> str | None:
    """ "label 0.812 (was 0.801, +0.011)"; None when the current value is unknown."""
    if not _known(now):
        return None
    shown = f"{label} {scale * now:.{digits}f}{unit}"
    if not _known(before):
        return shown + " (not measured for the previous model)"
    return shown + f" (was {scale * before:.{digits}f}{unit}, {scale * (now - before):+.{digits}f}{delta_unit})"


def change_commentary(current: Mapping, previous: Mapping | None) -> list[str]:
    """Short sentences on what changed from the previous model to the current one: the
    training cohort, the variables entered and dropped, validation AUC and the gap to the
    oracle, PPV and sensitivity at the top share of the scored cohort, and the largest
    shifts in groups' shares of that top share. Both arguments come from `model_summary`."""
    if previous is None:
        return [f"Model {current['version']} is the first model: there is nothing to compare with yet."]
    if current["version"] == previous["version"]:
        return [f"Model {current['version']} is unchanged since the last refresh (same data, same model)."]
    lines = [f"Model {current['version']} replaces model {previous['version']}."]
    cohort = f"Trained on cohort(s) {current['training_cohort']}"
    if current["training_cohort"] != previous["training_cohort"]:
        cohort += f" (was {previous['training_cohort']})"
    if _known(current["training_children"], previous["training_children"]):
        cohort += (
            f": {current['training_children']:,} children, {current['training_positives']:,} with the outcome "
            f"(was {previous['training_children']:,} and {previous['training_positives']:,})"
        )
    lines.append(cohort + ".")
    entered = [v for v in current["variables"] if v not in previous["variables"]]
    dropped = [v for v in previous["variables"] if v not in current["variables"]]
    if entered or dropped:
        parts = [
            f"entered: {', '.join(entered)}" if entered else "",
            f"dropped: {', '.join(dropped)}" if dropped else "",
        ]
        lines.append(
            f"Variables {'; '.join(p for p in parts if p)} ({len(current['variables'])} selected now, "
            f"{len(previous['variables'])} before)."
        )
    else:
        lines.append(f"The same {len(current['variables'])} variables were selected.")
    measured = [
        _change("Validation AUC", current["validation_auc"], previous["validation_auc"]),
        _change("gap to the oracle AUC on the same children", current["oracle_gap"], previous["oracle_gap"]),
        _change("calibration slope", current["calibration_slope"], previous["calibration_slope"], digits=2),
    ]
    measured = [m for m in measured if m]
    if measured:
        lines.append("; ".join(measured) + ".")
    if _known(current["ppv"]):
        share = current["share_referred"] or 0.0
        scored = f"cohort {current['scored_birth_year']}"
        if previous["scored_birth_year"] not in (None, current["scored_birth_year"]):
            scored += f", was cohort {previous['scored_birth_year']}"
        lines.append(
            f"At the top {100 * share:g}% of the scored {scored}: "
            + "; ".join(
                m
                for m in (
                    _change("PPV", current["ppv"], previous["ppv"], 100, 1, "%", " points"),
                    _change("sensitivity", current["sensitivity"], previous["sensitivity"], 100, 1, "%", " points"),
                )
                if m
            )
            + "."
        )
    shifts = {
        g: current["group_shares"][g] - previous["group_shares"][g]
        for g in current["group_shares"]
        if _known(current["group_shares"][g], previous["group_shares"].get(g))
    }
    if shifts:
        largest = sorted(shifts, key=lambda g: (-abs(shifts[g]), g))[:TOP_SHIFTS_SHOWN]
        lines.append(
            "Largest shifts in group shares of the top-scored children: "
            + "; ".join(
                f"{g} {100 * current['group_shares'][g]:.1f}% (was {100 * previous['group_shares'][g]:.1f}%, "
                f"{100 * shifts[g]:+.1f} points)"
                for g in largest
            )
            + "."
        )
    return lines
