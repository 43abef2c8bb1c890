"""What the CFSR assets publish from a period's results: the suppressed tables with their
period columns, and the rows the Dagster UI shows (percent with 1 dp, "DQ" or "suppressed"
in place of a hidden count; CFSR R4 rules, section 4.2). Plain rows and frames: the assets
turn the rows into metadata tables. Light, so the definitions import it when they load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from cmi_assets.cfsr.ages import age_group_labels
from cmi_assets.cfsr.formatting import format_percent
from cmi_assets.cfsr.recurrence import RecurrenceResult, period_label
from cmi_assets.cfsr.suppression import (
    BY_STATE_VALUES,
    DQ,
    DQ_VALUES,
    RSP_VALUES,
    SUPPRESSED,
    suppress_national,
    suppress_small_cells,
)
from cmi_assets.cfsr.tables import BY_STATE_TABLE, DQ_TABLE, NATIONAL_TABLE

if TYPE_CHECKING:
    from cmi_assets.cfsr.rsp import RandomInterceptFit

STATUSES = ("better", "no different", "worse", DQ, SUPPRESSED)


def with_period(frame: pl.DataFrame, fy: int, label: bool = False) -> pl.DataFrame:
    """`period_fy` (and with `label`, the period's label) in front of a period's rows."""
    period = [pl.lit(period_label(fy)).alias("period")] if label else []
    return frame.select(pl.lit(fy, pl.Int64).alias("period_fy"), *period, pl.all())


@dataclass(frozen=True)
class PublishedRecurrence:
    """A period's recurrence as published: small cells suppressed (the pooled rows were
    computed from the full counts)."""

    fy: int
    by_state: pl.DataFrame
    national: pl.DataFrame
    dq: pl.DataFrame

    def tables(self) -> dict[str, pl.DataFrame]:
        """Table name -> the period's rows to store."""
        dq = self.dq.with_columns(period=pl.lit(period_label(self.fy)))
        return {
            BY_STATE_TABLE: with_period(self.by_state, self.fy),
            NATIONAL_TABLE: with_period(self.national, self.fy),
            DQ_TABLE: with_period(dq, self.fy),
        }

    @property
    def pooled(self) -> dict:
        return self.national.row(0, named=True)

    def states_where(self, condition: pl.Expr) -> list[str]:
        return self.by_state.filter(condition)["state"].to_list()


def published_recurrence(result: RecurrenceResult) -> PublishedRecurrence:
    return PublishedRecurrence(
        fy=result.fy,
        by_state=suppress_small_cells(result.by_state, BY_STATE_VALUES),
        national=suppress_national(result.national),
        dq=suppress_small_cells(result.dq, DQ_VALUES),
    )


def by_state_rows(by_state: pl.DataFrame) -> tuple[list[dict], list[str]]:
    """(rows, columns) of the published by_state table as the UI shows it."""
    rows = []
    for r in by_state.iter_rows(named=True):
        numerator = SUPPRESSED if r["suppressed"] else str(r["numerator"])
        shown = DQ if r["dq_status"] == DQ else (SUPPRESSED if r["suppressed"] else format_percent(r["observed"]))
        rows.append(
            {
                "state": r["state"],
                "denominator": r["denominator"],
                "numerator": numerator,
                "observed": shown,
                "DQ": r.get("dq_reason") or r["dq_status"],
            }
        )
    return rows, ["state", "denominator", "numerator", "observed", "DQ"]


def published_rsp(by_state: pl.DataFrame) -> pl.DataFrame:
    """cfsr_rsp's rows as published: a state under the threshold is modelled but suppressed."""
    return suppress_small_cells(by_state, RSP_VALUES, status="status")


def rsp_rows(by_state: pl.DataFrame) -> tuple[list[dict], list[str]]:
    """(rows, columns) of the data-profile view: observed, RSP with its interval and status
    per state (percent, 1 dp)."""
    rows = []
    for r in by_state.sort("state").iter_rows(named=True):
        if r["status"] in (DQ, SUPPRESSED):
            rows.append(
                {"state": r["state"], **dict.fromkeys(("observed", "RSP", "RSP interval", "status"), r["status"])}
            )
            continue
        interval = (
            "-" if r["rsp_lower"] is None else f"{format_percent(r['rsp_lower'])}-{format_percent(r['rsp_upper'])}"
        )
        rows.append(
            {
                "state": r["state"],
                "observed": format_percent(r["observed"]),
                "RSP": format_percent(r["rsp"]),
                "RSP interval": interval,
                "status": r["status"],
            }
        )
    return rows, ["state", "observed", "RSP", "RSP interval", "status"]


def states_by_status(by_state: pl.DataFrame) -> dict[str, list[str]]:
    """Each status (STATUSES) -> the states with it, in row order."""
    return {status: by_state.filter(pl.col("status") == status)["state"].to_list() for status in STATUSES}


def rsp_model_row(fit: RandomInterceptFit, fy: int, national_performance: float) -> pl.DataFrame:
    """The period's fitted random-intercept model, one row of cfsr.rsp_model."""
    return pl.DataFrame(
        {
            "period_fy": [fy],
            "period": [period_label(fy)],
            "alpha": [fit.alpha],
            "sigma": [fit.sigma],
            "beta": [json.dumps(fit.beta)],
            "loglik": [fit.loglik],
            "converged": [fit.converged],
            "national_performance": [national_performance],
        }
    )


def national_drilldown_rows(table: pl.DataFrame) -> tuple[list[dict], list[str]]:
    """(rows, columns) of the pooled drill-down, counties left out: age groups in age order
    (section 2.2), other dimensions' groups as they come."""
    order = {label: i for i, label in enumerate(age_group_labels("six_groups"))}
    national = table.filter((pl.col("state") == "national") & (pl.col("dimension") != "county")).with_row_index("_row")
    national = national.with_columns(
        _order=pl.col("group")
        .replace_strict(order, default=None, return_dtype=pl.Int64)
        .fill_null(pl.col("_row").cast(pl.Int64))
    ).sort("dimension", "_order", maintain_order=True)
    rows = [
        {
            "dimension": r["dimension"],
            "group": r["group"],
            "denominator": r["denominator"],
            "numerator": SUPPRESSED if r["suppressed"] else str(r["numerator"]),
            "observed": format_percent(r["observed"]),
        }
        for r in national.iter_rows(named=True)
    ]
    return rows, ["dimension", "group", "denominator", "numerator", "observed"]


def periods_waiting_for_files(period_fys: list[int], loaded_files: set[str], file_key) -> str:
    """Each period whose Child Files t and t+1 are not both in `loaded_files`, with the
    missing ones; `file_key` names a file year as the loaded ones are named (FY2021)."""
    waiting = []
    for fy in period_fys:
        missing = [file_key(year) for year in (fy, fy + 1) if file_key(year) not in loaded_files]
        if missing:
            waiting.append(f"{period_label(fy)} (needs {', '.join(missing)})")
    return "; ".join(waiting) or "none"


def profile_rows(profile, drop: tuple[str, ...] = ()) -> tuple[list[dict], list[str]]:
    """(rows, columns) of a report ProfileTable (text cells), without the `drop` columns."""
    return [dict(zip(profile.headers, row)) for row in profile.rows], [h for h in profile.headers if h not in drop]


def profile_by_first_column(profile) -> dict[str, dict[str, str]]:
    """A ProfileTable keyed by its first column's values (periods), each with the other
    headers' cells: transposed, a table of many measures stays narrow enough for the UI."""
    key, rest = profile.headers[0], profile.headers[1:]
    rows = [dict(zip(profile.headers, row)) for row in profile.rows]
    return {row[key]: {h: row[h] for h in rest} for row in rows}
