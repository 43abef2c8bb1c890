"""Markdown tables for Dagster metadata and reports: one way to print a cell (floats
rounded, NaN as "nan", missing as empty) for every group."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_cell(value, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence], digits: int = 4) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(markdown_cell(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_markdown(frame, digits: int = 4) -> str:
    """A polars frame as a markdown table; a frame without columns says so."""
    if frame.width == 0:
        return "_(empty)_"
    return markdown_table(frame.columns, frame.iter_rows(), digits)
