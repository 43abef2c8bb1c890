"""The two blocking checks that travel with every raw_<agency> asset.

Blocking: when a check fails with ERROR severity, assets downstream of raw_<agency>
in the same run do not start, so one bad extract cannot reach the staged tables.
"""

from __future__ import annotations

import dagster as dg

from cmi_assets.metadata import mapping_table
from cmi_assets.sources import IngestResult
from cmi_assets.sources.validate import DUPLICATE_KEY, ExtractError

SCHEMA_VALID = "schema_valid"
KEYS_UNIQUE = "keys_unique"
_LISTED = 20


def extract_check_specs(asset_key: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            SCHEMA_VALID,
            asset=asset_key,
            blocking=True,
            description="The extract meets its spec: encoding, header, layout, types, codes, patterns, required values.",
        ),
        dg.AssetCheckSpec(
            KEYS_UNIQUE,
            asset=asset_key,
            blocking=True,
            description="No two rows of the extract share the record type's key.",
        ),
    ]


def extract_check_results(result: IngestResult, key_columns: tuple[str, ...] = ()) -> list[dg.AssetCheckResult]:
    """Check results for one ingested file: locations and counts only, never values."""
    return [_schema_valid(result), _keys_unique(result, key_columns)]


def _passed_metadata(result: IngestResult, **extra) -> dict:
    return {
        "file": result.file_name,
        "record_type": result.record_type or "(none)",
        "rows_checked": result.rows,
        **extra,
    }


def _schema_valid(result: IngestResult) -> dg.AssetCheckResult:
    error = result.error
    count = sum(n for rule, n in error.counts.items() if rule != DUPLICATE_KEY) if error else 0
    if count == 0:
        return dg.AssetCheckResult(check_name=SCHEMA_VALID, passed=True, metadata=_passed_metadata(result))
    problems = _problems(error, exclude=DUPLICATE_KEY)
    return dg.AssetCheckResult(
        check_name=SCHEMA_VALID,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=_describe(result.file_name, problems, count),
        metadata=_failure_metadata(result, problems, {r: n for r, n in error.counts.items() if r != DUPLICATE_KEY}),
    )


def _keys_unique(result: IngestResult, key_columns: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    error = result.error
    if error is not None and not error.keys_checked:
        return dg.AssetCheckResult(
            check_name=KEYS_UNIQUE,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{result.file_name}: not checked, the file could not be read as a table (see {SCHEMA_VALID})",
            metadata={"file": result.file_name},
        )
    count = error.counts.get(DUPLICATE_KEY, 0) if error else 0
    if count == 0:
        key = {"key": ", ".join(key_columns)} if key_columns else {}
        return dg.AssetCheckResult(check_name=KEYS_UNIQUE, passed=True, metadata=_passed_metadata(result, **key))
    duplicates = [e for e in error.errors if e.rule == DUPLICATE_KEY]
    return dg.AssetCheckResult(
        check_name=KEYS_UNIQUE,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=_describe(result.file_name, duplicates, count),
        metadata=_failure_metadata(result, duplicates, {DUPLICATE_KEY: count}),
    )


def _problems(error: ExtractError, exclude: str) -> list[ExtractError]:
    return [e for e in error.errors if e.rule != exclude]


def _describe(file_name: str, listed: list[ExtractError], count: int) -> str:
    if not listed:  # all listed problems (the first by line) belong to the other check
        return f"{file_name}: {count} problem{'s' if count > 1 else ''} after the first lines listed"
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"{listed[0].location}: {listed[0].reason}{more}"


def _failure_metadata(result: IngestResult, problems: list[ExtractError], by_rule: dict[str, int]) -> dict:
    listed = "\n".join(f"- {p.location}: {p.reason}" for p in problems[:_LISTED])
    metadata = {
        "file": result.file_name,
        "problems": sum(by_rule.values()),
        "problems_by_rule": mapping_table(by_rule, "rule", "problems"),
        "first_problems": dg.MetadataValue.md(listed),
    }
    if result.quarantined_to is not None:
        metadata["quarantined_to"] = dg.MetadataValue.path(str(result.quarantined_to))
    return metadata
