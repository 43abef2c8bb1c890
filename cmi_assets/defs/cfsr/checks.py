"""Checks that travel with the CFSR assets.

ncands_child_file (blocking: a broken year must not reach the indicator):
  elements_and_codes  the CFSR elements exist and hold only the spec's codes;
  states_complete     every state with a file in t-1 has one in t (the national model
                      needs all states, CFSR R4 rules, section 2.1 step 1).
  A due year with no Child File at all fails both with WARN severity, saying so: an
  empty year never passes (and nothing is materialized for it).
cfsr_recurrence (warnings: a failing state is reported as "DQ", the rest go on):
  the three NCANDS DQ checks with CB's limits (section 3), per state and file, with
  every state's numerator, denominator, rate and result in the metadata (numerator
  and rate suppressed where the denominator is under 11, suppression.py); no victims
  to check is a WARN failure, not a pass.
Metadata holds counts, rates and state codes only.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from cmi_assets.cfsr.dq import DQ_CHECKS
from cmi_assets.metadata import mapping_table, states_named

ELEMENTS_AND_CODES = "elements_and_codes"
STATES_COMPLETE = "states_complete"
DQ_CHECK_NAMES = {1: "dq1_victim_ids_match", 2: "dq2_dob_sex_mismatch", 3: "dq3_missing_age"}


def child_file_check_specs(asset_key: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            ELEMENTS_AND_CODES,
            asset=asset_key,
            blocking=True,
            description="The year's Child File has every element the indicator reads, with only the codes of section 6.",
        ),
        dg.AssetCheckSpec(
            STATES_COMPLETE,
            asset=asset_key,
            blocking=True,
            description="Every state with a Child File in the previous year has one in this year.",
        ),
    ]


def elements_and_codes_result(missing: list[str], invalid: dict[str, int], rows: int) -> dg.AssetCheckResult:
    bad_codes = {element: n for element, n in invalid.items() if n}
    passed = not missing and not bad_codes
    description = "all CFSR elements present with valid codes"
    if missing:
        description = f"missing elements: {', '.join(missing)}"
    elif bad_codes:
        description = "values outside the code list: " + ", ".join(f"{e} ({n} rows)" for e, n in bad_codes.items())
    return dg.AssetCheckResult(
        check_name=ELEMENTS_AND_CODES,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "rows": rows,
            "missing_elements": ", ".join(missing) or "none",
            "invalid_codes": mapping_table(invalid, "element", "rows outside the code list"),
        },
    )


def states_complete_result(
    missing_states: list[str], states: list[str], previous_states: list[str]
) -> dg.AssetCheckResult:
    if not previous_states:
        description = "no file in the previous year to compare with"
    elif missing_states:
        description = f"states with a file last year but none this year: {states_named(missing_states)}"
    else:
        description = f"all {len(previous_states)} states of the previous year present"
    return dg.AssetCheckResult(
        check_name=STATES_COMPLETE,
        passed=not missing_states,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "states": len(states),
            "states_previous_year": len(previous_states),
            "missing_states": states_named(missing_states),
        },
    )


def undelivered_year_results(fy: int, previous_states: list[str]) -> list[dg.AssetCheckResult]:
    """Both file checks for a due FY with no Child File rows: not passed, WARN (a file
    not delivered yet is news, not a broken extract), saying which year is missing."""
    missing = f"no Child File for FY{fy} delivered"
    expected = f" ({len(previous_states)} states delivered FY{fy - 1})" if previous_states else ""
    return [
        dg.AssetCheckResult(
            check_name=ELEMENTS_AND_CODES,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{missing}: no rows to check",
            metadata={"rows": 0, "missing_elements": "not checked", "invalid_codes": "not checked"},
        ),
        dg.AssetCheckResult(
            check_name=STATES_COMPLETE,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=missing + expected,
            metadata={
                "states": 0,
                "states_previous_year": len(previous_states),
                "missing_states": states_named(previous_states),
            },
        ),
    ]


def dq_check_specs(asset_key: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            DQ_CHECK_NAMES[check.number],
            asset=asset_key,
            blocking=False,
            description=f"NCANDS DQ check {check.number}, {check.name}: a state fails when the rate is "
            f"{check.fails_when} {check.limit:.0%}; its period is then reported as DQ.",
        )
        for check in DQ_CHECKS
    ]


DQ_METADATA_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("state", "string"),
        dg.TableColumn("files", "string"),
        dg.TableColumn("numerator", "int"),
        dg.TableColumn("denominator", "int"),
        dg.TableColumn("rate", "float"),
        dg.TableColumn("result", "string", description="pass, fail, or blank when not computable"),
    ]
)


def dq_check_results(dq: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """One result per DQ check from the published DQ table (`observed_recurrence`'s, small
    cells suppressed; all states, each file the check uses): passed when no state fails,
    WARN-failed when the check had no victims to look at."""
    results = []
    for check in DQ_CHECKS:
        rows = dq.filter(pl.col("check") == check.number).sort("state", "files")
        if rows.is_empty() or not (rows["denominator"].fill_null(0) > 0).any():
            results.append(
                dg.AssetCheckResult(
                    check_name=DQ_CHECK_NAMES[check.number],
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"no victims to check in the Child Files of this period ({rows.height} state rows)",
                    metadata={"limit": check.limit, "fails_when": check.fails_when, "state_rows": rows.height},
                )
            )
            continue
        failing = sorted(set(rows.filter(pl.col("result") == "fail")["state"].to_list()))
        not_computed = rows.filter(pl.col("result").is_null()).height
        records = [
            dg.TableRecord(
                {
                    "state": r["state"],
                    "files": r["files"],
                    "numerator": r["numerator"],
                    "denominator": r["denominator"],
                    "rate": round(r["rate"], 5) if r["rate"] is not None else None,
                    "result": r["result"] or "",
                }
            )
            for r in rows.iter_rows(named=True)
        ]
        description = (
            f"{len(failing)} of {rows['state'].n_unique()} states fail (reported as DQ): {states_named(failing)}"
            if failing
            else f"all {rows['state'].n_unique()} states pass"
        )
        results.append(
            dg.AssetCheckResult(
                check_name=DQ_CHECK_NAMES[check.number],
                passed=not failing,
                severity=dg.AssetCheckSeverity.WARN,
                description=description,
                metadata={
                    "limit": check.limit,
                    "fails_when": check.fails_when,
                    "failing_states": states_named(failing),
                    "states_failing": len(failing),
                    "rows_not_computed": not_computed,
                    "by_state": dg.MetadataValue.table(records, schema=DQ_METADATA_SCHEMA),
                },
            )
        )
    return results
