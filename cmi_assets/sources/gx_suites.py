"""Great Expectations 1.x suites for the staged models, kept as data in
dbt_like_sql/expectations/<model>.yaml.

GX is imported inside `run_suite` only: its import costs seconds and the Dagster code
location must load fast. Results are reduced to counts (result format SUMMARY with no
unexpected values listed), so no identifying value leaves this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cmi_assets.sqlmodels import DBT_LIKE_SQL_DIR

SUITES_DIR = DBT_LIKE_SQL_DIR / "expectations"
# SUMMARY gives counts and percentages; partial_unexpected_count 0 keeps sample values out.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    columns: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None


@dataclass(frozen=True)
class SuiteOutcome:
    model: str
    success: bool
    evaluated: int
    successful: int
    outcomes: list[ExpectationOutcome]

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def suite_path(model: str, folder: Path = SUITES_DIR) -> Path:
    return folder / f"{model}.yaml"


def load_suite(model: str, folder: Path = SUITES_DIR) -> dict[str, Any] | None:
    path = suite_path(model, folder)
    return yaml.safe_load(path.read_text()) if path.exists() else None


def suite_columns(suite: dict[str, Any]) -> list[str]:
    """The columns a suite reads (only those are pulled out of DuckDB)."""
    columns: list[str] = []
    for expectation in suite.get("expectations", []):
        kwargs = expectation.get("kwargs", {})
        for key in ("column", "column_A", "column_B"):
            if key in kwargs and kwargs[key] not in columns:
                columns.append(kwargs[key])
        for column in kwargs.get("column_list", []):
            if column not in columns:
                columns.append(column)
    return columns


def _columns_label(kwargs: dict[str, Any]) -> str:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']} vs {kwargs['column_B']}"
    return ", ".join(kwargs.get("column_list", []))


def run_suite(frame, suite: dict[str, Any], model: str) -> SuiteOutcome:
    """Validate a pandas frame against a suite; counts only in the outcome."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(f"{model}_source")
        .add_dataframe_asset(model)
        .add_batch_definition_whole_dataframe("whole_table")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    expectations = []
    for spec in suite.get("expectations", []):
        cls = gx.expectations.registry.get_expectation_impl(spec["type"])
        expectations.append(cls(**spec.get("kwargs", {})))
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{model}_suite", expectations=expectations))
    result = batch.validate(gx_suite, result_format=RESULT_FORMAT).to_json_dict()
    outcomes = []
    for item in result["results"]:
        config = item["expectation_config"]
        counts = item.get("result") or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=config["type"],
                columns=_columns_label(config.get("kwargs", {})),
                success=bool(item["success"]),
                element_count=counts.get("element_count"),
                unexpected_count=counts.get("unexpected_count"),
                unexpected_percent=counts.get("unexpected_percent"),
            )
        )
    stats = result["statistics"]
    return SuiteOutcome(
        model=model,
        success=bool(result["success"]),
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        outcomes=outcomes,
    )


def outcome_markdown(outcome: SuiteOutcome) -> str:
    lines = ["| expectation | columns | ok | rows | unexpected | % |", "|---|---|---|---|---|---|"]
    for o in outcome.outcomes:
        pct = "" if o.unexpected_percent is None else f"{o.unexpected_percent:.2f}"
        lines.append(
            f"| {o.expectation} | {o.columns} | {'yes' if o.success else '**no**'} | "
            f"{'' if o.element_count is None else o.element_count} | "
            f"{'' if o.unexpected_count is None else o.unexpected_count} | {pct} |"
        )
    return "\n".join(lines)
