"""The CFSR data-profile view of recurrence of maltreatment, per state and national
(CFSR R4 rules, section 4.2 display conventions): for each period the RSP with its
interval against national performance, the status, the observed numerator and
denominator ("Data used": FY19-20 and so on), and the DQ page listing every check's
result by data period. A DQ period shows "DQ" and no observed value or RSP; a state
period or DQ cell with a denominator under the suppression threshold shows
"suppressed" instead of its numerator and rates (suppression.py; the inputs come
suppressed, this module only displays it).

Tables are built once (`ProfileTable`) and rendered both as markdown (the Dagster UI)
and as HTML (files under reports/cfsr/). Charts are PNGs drawn with matplotlib's Agg
backend and embedded as base64, so each HTML file stands alone. Inputs are state-level
counts and rates only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cmi_assets.cfsr.formatting import format_count, format_interval, format_percent
from cmi_assets.cfsr.recurrence import NATIONAL_PERFORMANCE
from cmi_assets.cfsr.suppression import SUPPRESS_BELOW, SUPPRESSED
from cmi_assets.cfsr.trend import PUBLISHED_STATUSES
from cmi_assets.charts import png_bytes, png_data_uri, pyplot
from cmi_assets.metadata import state_label, states_named

STATUS_COLOURS = {"better": "#1b7837", "no different": "#4d4d4d", "worse": "#b2182b"}
NATIONAL_FILE = "national.html"


# --- formatting ---------------------------------------------------------------------------


def _hidden_as(row: dict) -> str | None:
    """What a row shows instead of its numerator and rates: "DQ", "suppressed" or nothing."""
    if row.get("status") == "DQ" or row.get("dq_status") == "DQ":
        return "DQ"
    if row.get("suppressed") or row.get("status") == SUPPRESSED:
        return SUPPRESSED
    return None


@dataclass
class ProfileTable:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- tables -------------------------------------------------------------------------------


def rsp_table(trend_rows: pl.DataFrame, label_column: str = "period") -> ProfileTable:
    """Rows of `cfsr_trend` (one state's periods, or one period's states): RSP, interval,
    status and the observed numerator / denominator. A suppressed row shows its
    denominator only."""
    table = ProfileTable(
        [
            label_column.replace("_", " ").capitalize(),
            "RSP",
            "RSP interval",
            "Status",
            "Observed",
            "Numerator",
            "Denominator",
        ]
    )
    for row in trend_rows.iter_rows(named=True):
        hidden = _hidden_as(row)
        if hidden == SUPPRESSED:
            table.rows.append(
                [
                    str(row[label_column]),
                    *[SUPPRESSED] * 2,
                    row["status"],
                    *[SUPPRESSED] * 2,
                    format_count(row["denominator"]),
                ]
            )
            continue
        dq = hidden == "DQ"
        table.rows.append(
            [
                str(row[label_column]),
                format_percent(row["rsp"], dq),
                format_interval(row["rsp_lower"], row["rsp_upper"], dq),
                row["status"] or "-",
                format_percent(row["observed"], dq),
                format_count(row["numerator"], dq),
                format_count(row["denominator"], dq),
            ]
        )
    return table


def dq_table(dq_rows: pl.DataFrame) -> ProfileTable:
    """The DQ page: each check's rate and result by data period and file."""
    table = ProfileTable(["Period", "Check", "Files", "Numerator", "Denominator", "Rate", "Limit", "Result"])
    for row in dq_rows.sort("period_fy", "check", "files").iter_rows(named=True):
        limit = f"{'<' if row['fails_when'] == 'below' else '>'} {100 * row['limit']:.0f}%"
        suppressed = bool(row.get("suppressed"))
        table.rows.append(
            [
                row["period"],
                f"{row['check']}. {row['check_name']}",
                row["files"],
                SUPPRESSED if suppressed else format_count(row["numerator"]),
                format_count(row["denominator"]),
                SUPPRESSED if suppressed else format_percent(row["rate"]),
                f"DQ when {limit}",
                row["result"] or "not computed",
            ]
        )
    return table


def national_table(national_rows: pl.DataFrame) -> ProfileTable:
    table = ProfileTable(
        [
            "Period",
            "Pooled observed",
            "Numerator",
            "Denominator",
            "States",
            "Better",
            "No different",
            "Worse",
            "DQ",
            "Suppressed",
        ]
    )
    for row in national_rows.iter_rows(named=True):
        hidden = _hidden_as(row)
        table.rows.append(
            [
                row["period"],
                hidden or format_percent(row["observed"]),
                hidden or format_count(row["numerator"]),
                format_count(row["denominator"]),
                str(row["n_states"]),
                str(row["states_better"]),
                str(row["states_no_different"]),
                str(row["states_worse"]),
                str(row["states_dq"]),
                str(row.get("states_suppressed") or 0),
            ]
        )
    return table


# --- charts -------------------------------------------------------------------------------


def rsp_interval_chart(
    rows: pl.DataFrame, label_column: str, title: str, national_performance: float = NATIONAL_PERFORMANCE
) -> bytes:
    """PNG: one RSP point with its interval per row (periods of a state, or states of a
    period), coloured by status, against the national performance line; DQ rows are
    labelled "DQ" and suppressed rows "<11" with no point."""
    plt = pyplot()
    labels = [str(v) for v in rows[label_column].to_list()]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.45 * len(labels) + 2), 3.2), dpi=90)
    for position, row in enumerate(rows.iter_rows(named=True)):
        if row["status"] == "DQ" or row["rsp"] is None:
            label = f"<{SUPPRESS_BELOW}" if row["status"] == SUPPRESSED else "DQ"
            axes.text(
                position,
                0.5,
                label,
                ha="center",
                va="center",
                fontsize=8,
                rotation=90,
                transform=axes.get_xaxis_transform(),
            )
            continue
        colour = STATUS_COLOURS.get(row["status"], "#4d4d4d")
        rsp, lower, upper = (100 * row[c] if row[c] is not None else None for c in ("rsp", "rsp_lower", "rsp_upper"))
        if lower is not None and upper is not None:
            # A small state's log-scale interval can pass 100%; a percent of children cannot.
            axes.vlines(position, lower, min(upper, 100.0), colors=colour, linewidth=2)
        axes.plot(position, rsp, "o", color=colour, markersize=5)
    axes.axhline(
        100 * national_performance,
        color="#2166ac",
        linestyle="--",
        linewidth=1,
        label=f"national performance {100 * national_performance:.1f}%",
    )
    axes.legend(loc="best", fontsize=7, frameon=False)
    axes.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0, fontsize=8)
    axes.set_xlim(-0.7, len(labels) - 0.3)
    axes.set_ylim(bottom=0, top=min(axes.get_ylim()[1], 100.0))
    axes.set_ylabel("RSP (%), lower is better", fontsize=8)
    axes.set_title(title, fontsize=9)
    return png_bytes(figure)


# --- pages --------------------------------------------------------------------------------

PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:90%}"
    "th{background:#f0f0f0}"
)


def _html_page(title: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


NOTE = (
    "Recurrence of maltreatment, CFSR Round 4: of children with a substantiated or indicated report in the "
    "12-month period, the percent with another within 12 months. Lower is better. RSP = observed / expected "
    "x national performance ({np}); status compares the whole interval with {np}. DQ: the state failed an "
    "NCANDS data-quality check for the files used, so no observed value or RSP is shown. Suppressed: fewer than "
    f"{SUPPRESS_BELOW} children in the denominator, so only the denominator is shown."
)

RULES_SECTION = "CFSR R4 rules, section 4.1 (Model and formula)"
RSP_ABOVE_OBSERVED = (
    "Why a typical state's RSP sits above its observed rate: the expected count E is summed over the state's "
    "children with the state effect at zero (u = 0), the typical state of the random-intercept model, and the "
    "typical state's rate lies below the pooled rate (large states with high rates weigh in the pooled rate, not "
    "in the typical state). RSP = O / E x {np} then scales every state's observed rate by about {np} over the "
    'typical state\'s expected rate, so a state with exactly the pooled rate is "worse". This is the published '
    f"behaviour, not a bug ({RULES_SECTION}: the published RSP / observed ratios are 1.32-1.35 for MD and KY, and "
    "a state at the pooled national rate gets an RSP of about 12.5%)."
)


def rsp_to_observed(rows: pl.DataFrame) -> float | None:
    """The median state's RSP / observed ratio over rows with a published RSP and a
    non-zero observed rate (None when there are none)."""
    if not rows.height or "rsp" not in rows.columns:
        return None
    ratios = rows.filter(
        pl.col("status").is_in(PUBLISHED_STATUSES) & (pl.col("observed") > 0) & pl.col("rsp").is_not_null()
    ).select(pl.col("rsp") / pl.col("observed"))
    return float(ratios.to_series().median()) if ratios.height else None


def rsp_explanation(rows: pl.DataFrame, national_performance: float = NATIONAL_PERFORMANCE) -> str:
    """RSP_ABOVE_OBSERVED, with the median ratio of the rows' period when there is one."""
    text = RSP_ABOVE_OBSERVED.format(np=format_percent(national_performance))
    ratio = rsp_to_observed(rows)
    if ratio is not None:
        period = rows["period"][0] if "period" in rows.columns and rows.height else "this period"
        text += f" In {period} the median state's RSP is {ratio:.2f} times its observed rate."
    return text


def state_profile(
    state: str, trend_rows: pl.DataFrame, dq_rows: pl.DataFrame, national_performance: float = NATIONAL_PERFORMANCE
) -> tuple[str, str]:
    """(markdown, html) of one state's profile: RSP chart and table over periods, and
    the DQ page."""
    trend_rows = trend_rows.sort("period_fy")
    name = state_label(state)
    chart = png_data_uri(rsp_interval_chart(trend_rows, "period", f"{name}: RSP by period", national_performance))
    rsp, dq = rsp_table(trend_rows), dq_table(dq_rows)
    note = NOTE.format(np=format_percent(national_performance))
    why = RSP_ABOVE_OBSERVED.format(np=format_percent(national_performance))
    markdown = (
        f"## {name}: recurrence of maltreatment\n\n{note}\n\n{why}\n\n![RSP by period]({chart})\n\n"
        f"{rsp.markdown()}\n\n### Data quality\n\n{dq.markdown()}\n"
    )
    page = _html_page(
        f"CFSR Round 4 data profile, {name}: recurrence of maltreatment",
        [
            (
                "Risk-standardized performance",
                f"<p>{html.escape(note)}</p><p>{html.escape(why)}</p><img src='{chart}' alt='RSP by period'>"
                + rsp.html(),
            ),
            ("Data quality", dq.html()),
        ],
    )
    return markdown, page


@dataclass
class NationalView:
    """Every state's RSP for the newest period with a published RSP, and the pooled trend,
    in the pieces the Dagster UI shows separately (the chart alone, a one-line summary,
    the tables) and as one markdown page and one HTML page."""

    period: str
    png: bytes
    note: str
    states: ProfileTable
    pooled: ProfileTable
    summary: str
    explanation: str = ""  # why RSP sits above observed (rsp_explanation)
    headline: dict = field(default_factory=dict)  # national_headline

    def chart_markdown(self) -> str:
        return f"![All states: RSP and interval, {self.period}]({png_data_uri(self.png)})"

    def markdown(self) -> str:
        return (
            f"## Recurrence of maltreatment: all states, {self.period}\n\n{self.summary}\n\n{self.note}\n\n"
            f"{self.explanation}\n\n{self.chart_markdown()}\n\n"
            f"{self.states.markdown()}\n\n### Pooled observed performance by period\n\n{self.pooled.markdown()}\n"
        )

    def html(self) -> str:
        chart = f"<img src='{png_data_uri(self.png)}' alt='RSP intervals'>"
        return _html_page(
            "CFSR Round 4: recurrence of maltreatment, national view",
            [
                (
                    f"All states, {self.period}",
                    f"<p>{html.escape(self.summary.replace('**', ''))}</p><p>{html.escape(self.note)}</p>"
                    f"<p>{html.escape(self.explanation)}</p>{chart}" + self.states.html(),
                ),
                ("Pooled observed performance by period", self.pooled.html()),
            ],
        )


def national_summary(latest_period_rows: pl.DataFrame, national_rows: pl.DataFrame, national_performance: float) -> str:
    """One line: the period, how many states fall in each status, the pooled rate."""
    period = latest_period_rows["period"][0] if latest_period_rows.height else "-"
    counts = dict(latest_period_rows.group_by("status").len().iter_rows())
    statuses = ", ".join(f"{counts[s]} {s}" for s in (*PUBLISHED_STATUSES, "DQ", SUPPRESSED) if counts.get(s))
    pooled = national_rows.filter(pl.col("period") == period)
    observed = format_percent(pooled["observed"][0]) if pooled.height else "-"
    dq_states = sorted(latest_period_rows.filter(pl.col("status") == "DQ")["state"].to_list())
    return (
        f"**{period}**, {latest_period_rows.height} states: {statuses or 'none'}. Pooled observed {observed}; "
        f"national performance {format_percent(national_performance)}, lower is better."
        + (f" DQ: {states_named(dq_states)}." if dq_states else "")
    )


def national_headline(
    latest_period_rows: pl.DataFrame, national_rows: pl.DataFrame, national_performance: float = NATIONAL_PERFORMANCE
) -> dict:
    """The report's headline numbers for the newest period: pooled observed recurrence
    (proportion), its numerator and denominator, national performance, the status counts
    and the median RSP / observed ratio (unrounded; the asset rounds them for display)."""
    period = latest_period_rows["period"][0] if latest_period_rows.height else None
    pooled = national_rows.filter(pl.col("period") == period) if period is not None else national_rows.clear()
    row = pooled.row(0, named=True) if pooled.height else {}
    hidden = _hidden_as(row) if row else None
    counts = dict(latest_period_rows.group_by("status").len().iter_rows()) if latest_period_rows.height else {}
    return {
        "period": period,
        "pooled_observed": None if hidden else row.get("observed"),
        "pooled_numerator": None if hidden else row.get("numerator"),
        "pooled_denominator": row.get("denominator"),
        "national_performance": national_performance,
        "states_better": counts.get("better", 0),
        "states_no_different": counts.get("no different", 0),
        "states_worse": counts.get("worse", 0),
        "states_dq": counts.get("DQ", 0),
        "rsp_to_observed": rsp_to_observed(latest_period_rows),
    }


def national_profile(
    latest_period_rows: pl.DataFrame, national_rows: pl.DataFrame, national_performance: float = NATIONAL_PERFORMANCE
) -> NationalView:
    """Every state's RSP interval for the newest period with data, and the pooled trend."""
    rows = latest_period_rows.sort("state")
    period = rows["period"][0] if rows.height else "-"
    return NationalView(
        period=period,
        png=rsp_interval_chart(rows, "state", f"All states: RSP, {period}", national_performance),
        note=NOTE.format(np=format_percent(national_performance)),
        states=rsp_table(rows, "state"),
        pooled=national_table(national_rows),
        summary=national_summary(rows, national_rows, national_performance),
        explanation=rsp_explanation(rows, national_performance),
        headline=national_headline(rows, national_rows, national_performance),
    )


@dataclass
class CfsrReport:
    national: NationalView
    files: dict[str, Path]  # "national" and each state code -> HTML file

    @property
    def national_markdown(self) -> str:
        return self.national.markdown()

    @property
    def national_png(self) -> bytes:
        return self.national.png


def write_cfsr_report(
    out_dir: Path,
    trend: pl.DataFrame,
    dq: pl.DataFrame,
    national: pl.DataFrame,
    national_performance: float = NATIONAL_PERFORMANCE,
) -> CfsrReport:
    """Write national.html and <state>.html into `out_dir` from the trend table (every
    state and period), the DQ table of every period and the national trend. The
    national view shows the newest period that has any published RSP."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for state in sorted(trend["state"].unique().to_list()):
        _, page = state_profile(
            state, trend.filter(pl.col("state") == state), dq.filter(pl.col("state") == state), national_performance
        )
        files[state] = out_dir / f"{state}.html"
        files[state].write_text(page, encoding="utf-8")
    published = trend.filter(pl.col("status").is_in(PUBLISHED_STATUSES))
    latest = published["period_fy"].max() if published.height else trend["period_fy"].max()
    view = national_profile(trend.filter(pl.col("period_fy") == latest), national, national_performance)
    files["national"] = out_dir / NATIONAL_FILE
    files["national"].write_text(view.html(), encoding="utf-8")
    return CfsrReport(national=view, files=files)
