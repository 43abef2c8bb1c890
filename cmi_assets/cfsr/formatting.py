"""How the CFSR data profile shows a rate, an interval and a count (CFSR R4 rules, section 4.2
display conventions), in one place for the HTML report and the Dagster UI's metadata. Light:
no model or plotting libraries, so the asset definitions can import it when they load."""

from __future__ import annotations


def format_percent(value: float | None, dq: bool = False) -> str:
    """Recurrence is shown as a percent with 1 dp; "DQ" for a DQ period, "-" for none."""
    if dq:
        return "DQ"
    return "-" if value is None else f"{100 * value:.1f}%"


def format_interval(lower: float | None, upper: float | None, dq: bool = False) -> str:
    if dq:
        return "DQ"
    if lower is None or upper is None:
        return "-"
    return f"{100 * lower:.1f}%-{100 * upper:.1f}%"


def format_count(value: int | None, dq: bool = False) -> str:
    return "DQ" if dq else ("-" if value is None else f"{value:,}")
