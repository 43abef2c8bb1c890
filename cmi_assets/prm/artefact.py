"""Versioned model artefacts: a canonical JSON document with everything needed to score new
children and to audit how the model was built, identified by the SHA-256 of its text, and
a markdown model card generated from that same document.

The JSON holds no person-level data: coefficients, variable levels, counts and rates only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cmi_assets.prm.design import VariableSpec
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.scoring import LogisticScorer
from cmi_assets.prm.stepwise import StepwiseModel

SCHEMA_VERSION = 1
ARTEFACT_KIND = "cmi_assets.prm.stepwise_logistic"
REQUIRED_METADATA = ("training_cohort", "linkage_level", "data_snapshot_id")


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays unwrapped, NaN and infinity as null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON-serialisable")


def canonical_json(document: Mapping[str, Any]) -> str:
    """Sorted keys, fixed indentation, floats in shortest round-trip form: the same model
    always gives the same text and hence the same hash."""
    return json.dumps(_jsonable(document), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def model_to_json(
    model: StepwiseModel, metadata: Mapping[str, Any], prior_correction: PriorCorrection | None = None
) -> tuple[str, str]:
    """(json_text, sha256 of json_text). `metadata` must give training_cohort, linkage_level
    and data_snapshot_id; `sample_sizes` (e.g. ModellingSample.sizes()) and
    `validation_metrics` are recorded in their own sections; other keys go under
    "metadata"."""
    missing = [key for key in REQUIRED_METADATA if metadata.get(key) in (None, "")]
    if missing:
        raise ValueError(f"model metadata lacks {', '.join(missing)}")
    extra = {k: v for k, v in metadata.items() if k not in (*REQUIRED_METADATA, "sample_sizes", "validation_metrics")}
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": ARTEFACT_KIND,
        "outcome": model.outcome,
        **{key: metadata[key] for key in REQUIRED_METADATA},
        "variables": [spec.to_dict() for spec in model.selected],
        "coefficients": [
            {"column": c, "coefficient": float(b), "std_error": float(se)}
            for c, b, se in zip(model.column_names, model.coefficients, model.standard_errors)
        ],
        "prior_correction": prior_correction.to_dict() if prior_correction else None,
        "selection": {
            "method": "stepwise logistic regression (SAS-style score entry, Wald removal)",
            "entry_level": model.entry,
            "stay_level": model.stay,
            "stop_reason": model.stop_reason,
            "candidates": [spec.to_dict() for spec in model.candidates],
            "variables": [vars(s) for s in model.selections],
            "history": [vars(r) for r in model.history],
        },
        "sample_sizes": {"train": model.n_obs, "train_positives": model.n_events, **metadata.get("sample_sizes", {})},
        "validation_metrics": metadata.get("validation_metrics", {}),
        "metadata": extra,
    }
    text = canonical_json(document)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelArtefact:
    """A model loaded from its JSON: the document, its hash and a scorer."""

    document: Mapping[str, Any]
    sha256: str
    scorer: LogisticScorer

    @property
    def version(self) -> str:
        """Short content hash, for file names and report headers."""
        return self.sha256[:12]

    def predict_proba(self, frame: Any) -> np.ndarray:
        return self.scorer.predict_proba(frame)

    def log_odds(self, frame: Any) -> np.ndarray:
        return self.scorer.log_odds(frame)


def model_from_json(json_text: str, expected_sha256: str | None = None) -> ModelArtefact:
    """Load an artefact written by `model_to_json`; with `expected_sha256`, refuse a text
    whose hash differs (a tampered or different model)."""
    digest = hashlib.sha256(json_text.encode("utf-8")).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise ValueError("model artefact hash does not match the expected sha256")
    document = json.loads(json_text)
    if document.get("kind") != ARTEFACT_KIND or document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError("not a stepwise-logistic model artefact of a supported schema version")
    variables = tuple(VariableSpec.from_dict(v) for v in document["variables"])
    prior = document.get("prior_correction")
    scorer = LogisticScorer(
        variables=variables,
        column_names=tuple(c["column"] for c in document["coefficients"]),
        coefficients=tuple(float(c["coefficient"]) for c in document["coefficients"]),
        prior_correction=PriorCorrection(prior["population_prevalence"], prior["sample_prevalence"]) if prior else None,
    )
    return ModelArtefact(document, digest, scorer)


def model_card_markdown(json_text: str, threshold_table: pl.DataFrame | None = None) -> str:
    """A markdown model card built from the artefact text itself (so card and model cannot
    disagree), optionally with the NZ Table 2 style threshold table."""
    artefact = model_from_json(json_text)
    doc = artefact.document
    selection = doc["selection"]
    ranks = {s["variable"]: s["entry_rank"] for s in selection["variables"] if s["selected"]}
    lines = [
        f"# Model card: predictive risk model for `{doc['outcome']}`",
        "",
        f"- Model version (SHA-256 of the artefact): `{artefact.sha256}`",
        f"- Training cohort: {doc['training_cohort']}",
        f"- Linkage level: {doc['linkage_level']}",
        f"- Data snapshot: {doc['data_snapshot_id']}",
        f"- Method: {selection['method']}; entry level {selection['entry_level']:g}, "
        f"stay level {selection['stay_level']:g} (NZ study, Figure 3 note 1); stopped because: "
        f"{selection['stop_reason']}",
        "",
        "## Sample",
        "",
        *[f"- {key.replace('_', ' ')}: {value:,}" for key, value in sorted(doc["sample_sizes"].items())],
        "",
        "## Prior correction",
        "",
    ]
    prior = doc["prior_correction"]
    if prior:
        lines += [
            "Fitted on an under-sampled training set; the intercept is shifted by "
            f"{prior['intercept_shift']:.4f} so that probabilities refer to the population "
            f"(population prevalence {prior['population_prevalence']:.4f}, training-sample prevalence "
            f"{prior['sample_prevalence']:.4f}; King and Zeng 2001).",
        ]
    else:
        lines.append("None: probabilities refer to the training sample's prevalence.")
    lines += [
        "",
        "## Variables (in order of entry)",
        "",
        "| Entry rank | Variable | Reference level | Levels |",
        "|---:|---|---|---|",
    ]
    for spec in doc["variables"]:
        levels = ", ".join(spec["levels"]) if spec["levels"] else "numeric"
        lines.append(f"| {ranks.get(spec['name'], '')} | {spec['name']} | {spec['reference'] or ''} | {levels} |")
    lines += [
        "",
        "## Coefficients (log-odds, training-sample scale)",
        "",
        "| Column | Coefficient | Std. error | Odds ratio |",
        "|---|---:|---:|---:|",
    ]
    for c in doc["coefficients"]:
        b, se = c["coefficient"], c["std_error"]
        lines.append(f"| {c['column']} | {b:.4f} | {se:.4f} | {math.exp(b):.3f} |")
    if doc["validation_metrics"]:
        lines += ["", "## Validation", "", "| Metric | Value |", "|---|---:|"]
        for key, value in sorted(doc["validation_metrics"].items()):
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"| {key.replace('_', ' ')} | {shown} |")
    if threshold_table is not None:
        lines += [
            "",
            "## Accuracy by referral threshold (NZ study, Table 2 layout)",
            "",
            "| Threshold | Referred | False positives | False negatives "
            "| PPV % | NPV % | Sensitivity % | Specificity % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in threshold_table.iter_rows(named=True):
            lines.append(
                f"| {row['threshold']} | {row['referred']:,} | {row['false_positives']:,} "
                f"| {row['false_negatives']:,} | "
                f"{_percent(row['ppv'])} | {_percent(row['npv'])} | {_percent(row['sensitivity'])} | "
                f"{_percent(row['specificity'])} |"
            )
    lines += [
        "",
        "## Limitations",
        "",
        "- The outcome is *known* maltreatment (substantiated findings); much maltreatment goes "
        "undetected, so true accuracy cannot be assessed (NZ study, para 65).",
        "- A score is a probability, not a certainty: some children scored low will be harmed and "
        "many scored high will not (NZ study, para 82).",
        "- Variables are predictive markers, not causes (NZ study, paras 57 and 148).",
        "- Linkage errors change scores and accuracy; the linkage level above matters (NZ study, section 5).",
        "- Check proportionality across groups before any use (NZ study, sections 6-7).",
        "",
    ]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"
