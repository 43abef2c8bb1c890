"""The incidence report of one birth cohort: the sentence a reader can quote, cumulative
incidence curves, an UpSet-style chart of which agencies recorded the same children, the
multiple-systems estimate with its interval beside the independence model (and the truth,
where the world has one), as markdown and as one self-contained HTML file (PNGs drawn with
matplotlib's Agg backend, embedded as base64 like the CFSR report). Every count shown has
been through the suppression rule (rates.published_*): a hidden cell reads "<11"."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cmi_assets.cfsr.suppression import SUPPRESS_BELOW
from cmi_assets.charts import png_bytes, png_data_uri, pyplot
from cmi_assets.incidence.sources import ANY, LISTS, SOURCE_LABELS, SOURCES
from cmi_assets.markdown import frame_markdown

LIST_LABELS = {"cp": "CP", "police_fv": "Police FV", "hospital": "Hospital"}
LEVEL_LABELS = {"conservative": "conservative", "less_conservative": "less conservative", "truth": "truth"}


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}"


def quotable_sentence(birth_year: int, headline: dict) -> str:
    """ "X per 1,000 children born in 2012 were known to at least one agency by age 5; an
    estimated Y more were not (95% interval A to B)."""
    known = _fmt(headline.get("known_per_1000"))
    lead = f"{known} per 1,000 children born in {birth_year} were known to at least one agency by age 5"
    if not headline.get("identifiable"):
        why = headline.get("why_not") or "the lists' overlaps are too sparse"
        return f"{lead}; how many more no agency saw cannot be estimated for this cohort ({why})."
    more = _fmt(headline.get("undetected_per_1000"))
    if headline.get("interval_finite"):
        lo, hi = _fmt(headline.get("undetected_lower_per_1000")), _fmt(headline.get("undetected_upper_per_1000"))
        return f"{lead}; an estimated {more} more per 1,000 were not (95% interval {lo} to {hi})."
    return f"{lead}; an estimated {more} more per 1,000 were not (the interval has no finite upper end)."


def curves_chart(curves: pl.DataFrame, title: str) -> bytes:
    """Two panels: cumulative incidence by source (all children), and of any agency by sex
    and by deprivation decile band. Suppressed points are not drawn."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4), dpi=90, sharey=True)
    overall = curves.filter(pl.col("group_type") == "all")
    for source in (*SOURCES, ANY):
        part = overall.filter(pl.col("source") == source).drop_nulls("cumulative_incidence")
        style = {"linewidth": 2.2, "color": "black"} if source == ANY else {"linewidth": 1.2}
        left.step(
            part["age_months"] / 12,
            1000 * part["cumulative_incidence"],
            where="post",
            label=SOURCE_LABELS[source],
            **style,
        )
    left.set_title("By source", fontsize=9)
    for group_type in ("sex", "deprivation_decile"):
        groups = curves.filter((pl.col("group_type") == group_type) & (pl.col("source") == ANY))
        for group in sorted(groups["group"].unique().to_list(), key=lambda g: (len(g), g)):
            if group_type == "deprivation_decile" and group not in ("1", "5", "10"):
                continue
            part = groups.filter(pl.col("group") == group).drop_nulls("cumulative_incidence")
            if part.is_empty():
                continue
            name = f"sex {group}" if group_type == "sex" else f"decile {group}"
            right.step(part["age_months"] / 12, 1000 * part["cumulative_incidence"], where="post", label=name)
    right.set_title("Any agency, by group", fontsize=9)
    for axes in (left, right):
        axes.set_xlabel("age (years)", fontsize=8)
        axes.legend(fontsize=7, frameon=False)
        axes.tick_params(labelsize=8)
    left.set_ylabel("children per 1,000 (Kaplan-Meier)", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return png_bytes(figure)


def upset_chart(overlap: pl.DataFrame, title: str) -> bytes:
    """UpSet-style: one bar per combination of lists (largest first) above a dot matrix of
    the lists in it; small cells drawn as "<11" without a bar."""
    plt = pyplot()
    lists = list(LISTS)
    cells = overlap.filter(pl.col("lists") > 0).sort("children", descending=True, nulls_last=True)
    figure, (bars, matrix) = plt.subplots(
        2, 1, figsize=(max(4.5, 0.7 * cells.height + 2), 4.0), dpi=90, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    for x, row in enumerate(cells.iter_rows(named=True)):
        count = row["children"]
        if count is None or 0 < count < SUPPRESS_BELOW:
            bars.text(x, 0, f"<{SUPPRESS_BELOW}", ha="center", va="bottom", fontsize=7)
        else:
            bars.bar(x, count, color="#4d4d4d", width=0.6)
            bars.text(x, count, f"{count:,}", ha="center", va="bottom", fontsize=7)
        for y, name in enumerate(lists):
            member = bool(row[name])
            matrix.plot(x, y, "o", color="black" if member else "#d9d9d9", markersize=7)
        ys = [y for y, name in enumerate(lists) if row[name]]
        if len(ys) > 1:
            matrix.plot([x, x], [min(ys), max(ys)], color="black", linewidth=1.5)
    bars.set_ylabel("children", fontsize=8)
    bars.set_xticks([])
    bars.set_title(title, fontsize=9)
    matrix.set_yticks(range(len(lists)), [LIST_LABELS[name] for name in lists], fontsize=8)
    matrix.set_xticks([])
    matrix.set_ylim(-0.6, len(lists) - 0.4)
    for axes in (bars, matrix):
        axes.set_xlim(-0.6, cells.height - 0.4)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
    return png_bytes(figure)


def estimate_chart(comparison: pl.DataFrame, title: str) -> bytes:
    """Per linkage level (and the truth): known, the headline (model-averaged) total with
    its interval, and the selected model's and the independence model's totals beside it,
    per 1,000 children."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 3.0), dpi=90)
    for y, row in enumerate(comparison.iter_rows(named=True)):
        per = 1000 / row["population"] if row["population"] else math.nan
        axes.plot(row["known"] * per, y, "s", color="#4d4d4d", label="known to an agency" if y == 0 else None)
        total = row.get("total")
        if total is not None and math.isfinite(total):
            lo, hi = row.get("total_lower"), row.get("total_upper")
            if lo is not None and hi is not None and math.isfinite(lo):
                axes.hlines(y, lo * per, (hi if math.isfinite(hi) else total * 3) * per, color="#b2182b")
            axes.plot(
                total * per, y, "o", color="#b2182b", label="estimated total (model-averaged)" if y == 0 else None
            )
        chosen = row.get("selected_total")
        if chosen is not None and math.isfinite(chosen):
            axes.plot(chosen * per, y, "|", color="#b2182b", markersize=10, label="selected model" if y == 0 else None)
        ind = row.get("independence_total")
        if ind is not None and math.isfinite(ind):
            axes.plot(ind * per, y, "x", color="#2166ac", label="independence model" if y == 0 else None)
    axes.set_yticks(range(comparison.height), [LEVEL_LABELS.get(v, v) for v in comparison["linkage_level"]], fontsize=8)
    axes.set_xlabel("children per 1,000 maltreated by age 5", fontsize=8)
    axes.set_ylim(-0.7, comparison.height - 0.3)
    axes.legend(fontsize=7, frameon=False, loc="lower right")
    axes.set_title(title, fontsize=9)
    return png_bytes(figure)


@dataclass
class IncidenceReport:
    birth_year: int
    sentence: str
    markdown: str
    curves_png: bytes
    upset_png: bytes
    estimate_png: bytes
    path: Path | None = None

    def image_markdown(self, which: str) -> str:
        png = {"curves": self.curves_png, "overlap": self.upset_png, "estimate": self.estimate_png}[which]
        return f"![{which}, children born in {self.birth_year}]({png_data_uri(png)})"


def comparison_markdown(comparison: pl.DataFrame) -> str:
    shown = comparison.select(
        pl.col("linkage_level").replace(LEVEL_LABELS).alias("level"),
        "population",
        pl.col("known_per_1000").round(1),
        pl.col("total_per_1000").round(1),
        pl.col("undetected_per_1000").round(1),
        pl.col("selected_model"),
    )
    return frame_markdown(shown, digits=1)


def estimate_markdown(headline: dict) -> str:
    """The headline beside the selected and the independence model, totals and intervals."""
    rows = [
        ("headline: model-averaged", "total", "total_lower", "total_upper"),
        (
            f"selected model ({headline.get('selected_model') or 'none'}), selection-aware interval",
            "selected_total",
            "selected_lower",
            "selected_upper",
        ),
        (
            "selected model, its own profile interval (ignores the choice of model)",
            "selected_total",
            "selected_profile_lower",
            "selected_profile_upper",
        ),
        ("independence model", "independence_total", "independence_lower", "independence_upper"),
    ]
    shown = pl.DataFrame(
        [
            {
                "estimate": label,
                "maltreated by age 5": _fmt(headline.get(total), 0),
                "95% interval": f"{_fmt(headline.get(lower), 0)} to {_fmt(headline.get(upper), 0)}",
            }
            for label, total, lower, upper in rows
        ]
    )
    return f"{headline.get('headline_method') or ''}\n\n{frame_markdown(shown)}"


def build_report(
    birth_year: int,
    headline: dict,
    curves: pl.DataFrame,
    overlap: pl.DataFrame,
    comparison: pl.DataFrame,
    rates_by_source: pl.DataFrame,
) -> IncidenceReport:
    """The report of one cohort from published (suppressed) tables of the conservative
    level, and the comparison across levels."""
    sentence = quotable_sentence(birth_year, headline)
    curves_png = curves_chart(curves, f"Children born in {birth_year}: first record by age")
    upset_png = upset_chart(overlap, f"Which agencies recorded the same children (born {birth_year}, by age 5)")
    estimate_png = estimate_chart(comparison, f"Maltreated by age 5, children born {birth_year}")
    text = "\n\n".join(
        [
            f"# Child maltreatment incidence, children born in {birth_year}",
            sentence,
            "## By source, by age 5 (conservative linkage)",
            frame_markdown(rates_by_source, digits=1),
            "## The estimate (conservative linkage)",
            estimate_markdown(headline),
            "## Linkage levels and the truth",
            comparison_markdown(comparison),
        ]
    )
    return IncidenceReport(birth_year, sentence, text, curves_png, upset_png, estimate_png)


def write_html(report: IncidenceReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"incidence_{report.birth_year}.html"
    body = [
        f"<h1>Child maltreatment incidence, children born in {report.birth_year}</h1>",
        f"<p><strong>{html.escape(report.sentence)}</strong></p>",
        f"<img src='{png_data_uri(report.curves_png)}' alt='cumulative incidence'>",
        f"<img src='{png_data_uri(report.upset_png)}' alt='overlap of agencies'>",
        f"<img src='{png_data_uri(report.estimate_png)}' alt='estimate'>",
        f"<pre>{html.escape(report.markdown)}</pre>",
    ]
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Incidence "
        f"{report.birth_year}</title></head><body>" + "\n".join(body) + "</body></html>"
    )
    report.path = path
    return path
