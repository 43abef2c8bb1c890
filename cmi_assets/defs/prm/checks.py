"""Drift checks of the PRM refresh, comparing each materialization with the one before
(read from the event log, so no extra state): a new model must not validate much worse
than the previous one, and the make-up of the top-scored children must not jump.

Tolerances come from the environment (absolute differences):
  CMI_PRM_MAX_AUC_DROP          validation AUC drop allowed (default 0.05)
  CMI_PRM_MAX_GROUP_SHARE_SHIFT change in any group's share of the top 5% allowed (default 0.10)
"""

import os

import dagster as dg

from cmi_assets.metadata import mapping_table, number

MAX_AUC_DROP_ENV, DEFAULT_MAX_AUC_DROP = "CMI_PRM_MAX_AUC_DROP", 0.05
MAX_SHARE_SHIFT_ENV, DEFAULT_MAX_SHARE_SHIFT = "CMI_PRM_MAX_GROUP_SHARE_SHIFT", 0.10


def _tolerance(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _value(entry: dg.MetadataValue):
    """A metadata entry's value; a two-column table (group, share) as a dict, as the JSON
    entries of earlier materializations were."""
    if isinstance(entry, dg.TableMetadataValue):
        return {row[0]: row[1] for row in (tuple(r.data.values()) for r in entry.records) if len(row) == 2}
    return entry.value


def _latest_two(instance: dg.DagsterInstance, asset: str, key: str) -> tuple:
    """(current, previous) value of a metadata entry over the asset's last materializations
    that carry it; None where absent."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=20).records
    values = [
        _value(r.asset_materialization.metadata[key])
        for r in records
        if r.asset_materialization and key in r.asset_materialization.metadata
    ]
    latest = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
    current = _value(latest[key]) if key in latest else None
    previous = (
        values[1] if current is not None and len(values) > 1 else (values[0] if current is None and values else None)
    )
    return current, previous


def auc_drop_result(current: float | None, previous: float | None, max_drop: float) -> dg.AssetCheckResult:
    if current is None or previous is None:
        return dg.AssetCheckResult(
            passed=True,
            metadata={
                "note": "no new validation AUC" if current is None else "no previous model to compare with",
                "max_drop": max_drop,
            },
        )
    drop = previous - current
    return dg.AssetCheckResult(
        passed=drop <= max_drop,
        metadata={
            "validation_auc": number(current),
            "previous_validation_auc": number(previous),
            "drop": number(drop),
            "max_drop": max_drop,
        },
    )


def share_shift_result(current: dict | None, previous: dict | None, max_shift: float) -> dg.AssetCheckResult:
    if not current or not previous:
        return dg.AssetCheckResult(
            passed=True, metadata={"note": "no previous evaluation to compare with", "max_shift": max_shift}
        )
    shifts = {
        g: abs(current[g] - previous[g])
        for g in current
        if g in previous and current[g] is not None and previous[g] is not None
    }
    worst = max(shifts, key=shifts.get) if shifts else None
    return dg.AssetCheckResult(
        passed=all(s <= max_shift for s in shifts.values()),
        metadata={
            "largest_shift_group": worst or "",
            "largest_shift": number(shifts.get(worst, 0.0)) if worst else 0.0,
            "max_shift": max_shift,
            "shifts": mapping_table(shifts, "group", "shift"),
        },
    )


@dg.asset_check(asset="prm_model")
def validation_auc_not_dropped(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The new model's validation AUC is at most CMI_PRM_MAX_AUC_DROP (default 0.05) below the previous
    model's."""
    current, previous = _latest_two(context.instance, "prm_model", "validation_auc")
    return auc_drop_result(current, previous, _tolerance(MAX_AUC_DROP_ENV, DEFAULT_MAX_AUC_DROP))


@dg.asset_check(asset="prm_evaluation")
def top_share_composition_stable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """No group's share of the top 5% of scores (Table 7, conservative linkage) moved more than
    CMI_PRM_MAX_GROUP_SHARE_SHIFT (default 0.10) since the previous evaluation."""
    current, previous = _latest_two(context.instance, "prm_evaluation", "top_share_by_group")
    return share_shift_result(current, previous, _tolerance(MAX_SHARE_SHIFT_ENV, DEFAULT_MAX_SHARE_SHIFT))


PRM_CHECKS = [validation_auc_not_dropped, top_share_composition_stable]
