"""Train the person-linkage model and keep it as ONE versioned JSON artefact: the Splink
model (settings with m/u values and blocking rules), the term-frequency tables it was
trained with (so incremental runs score new records exactly as the full run did), the
chosen blocking rules with their measured pair counts, and a sha256 over all of it.

Training (Splink 5): the prior from near-certain deterministic rules; u by random
sampling; m by expectation maximisation over several blocking passes, the exact
agency-identifier pass first (benefits client IDs are shared by spells, children and
addresses; the national health ID by every health collection). Where asked, and where
clerical reviewers have matched enough pairs (review.review_match_labels), the m values
are also estimated from those labelled pairs (Splink's estimate_m_from_pairwise_labels: one
more training session beside the EM passes; Splink keeps each level's median over its
sessions); otherwise the artefact is exactly as without review.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import splink
from splink import Linker

from cmi_assets import progress
from cmi_assets.linkage.blocking import choose_blocking_rules, rule_pair_count
from cmi_assets.linkage.engine import duckdb_api, register_input
from cmi_assets.linkage.person_records import IDENTITIES_TABLE
from cmi_assets.linkage.settings import (
    SPINE_FIELDS,
    candidate_blocking_rules,
    deterministic_rules,
    linkage_settings,
    training_blocking_rules,
    wide_blocking_rules,
)

ARTEFACT_FORMAT = "cmi-person-linkage-model/1"
TF_COLUMNS = ("given_name", "family_name")
DETERMINISTIC_RULES_RECALL = 0.8  # the exact rules miss records with any identity noise
EM_MAX_PAIRS = 2_000_000  # pairs per EM pass: enough for stable m values, bounded time
U_MAX_PAIRS = 2_000_000  # random pairs for u
M_PROBABILITY_FLOOR = 1e-5
SIGNIFICANT_DIGITS = 10
# Fewer reviewed matches than this leave the EM's m values alone: a few dozen labelled
# pairs leave most comparison levels unobserved or estimated from a handful of pairs.
MIN_REVIEW_MATCH_LABELS = 200


_SPLINK_TRAINING_LOG = logging.getLogger("splink.internals.linker_components.training")


class ChosenMaxPairs(logging.Filter):
    """Splink warns whenever max_pairs equals its own default (1e6) that it may be too small;
    ours is always a deliberate setting (the asset's config, `cmi link`, the benchmarks), so
    the warning only alarms."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "default value for `max_pairs`" not in record.getMessage()


def training_plan(
    con: duckdb.DuckDBPyConnection,
    table: str = IDENTITIES_TABLE,
    blocking_rules: dict[str, str] | None = None,
    seed: int = 1,
    u_max_pairs: float = U_MAX_PAIRS,
    em_max_pairs: int = EM_MAX_PAIRS,
    fields: frozenset[str] = SPINE_FIELDS,
) -> dict[str, Any]:
    """What training will do, from measured pair counts: the prediction blocking rules
    (chosen when not given, for the fields the records carry) with their counts, and the
    EM passes with their record samples (the artefact's blocking_rules,
    blocking_rule_pair_counts and training)."""
    counts: dict[str, Any] = {}
    candidates = {**candidate_blocking_rules(fields), **wide_blocking_rules(fields)}
    if blocking_rules is None:
        blocking_rules, counts = choose_blocking_rules(
            con, table, candidate_blocking_rules(fields), wide=wide_blocking_rules(fields)
        )
    # an EM rule that is also a candidate was counted already
    measured = {candidates[name]: c["pairs"] for name, c in counts.items() if c.get("pairs") is not None}
    em_passes = []
    for rule in training_blocking_rules(fields):
        proportion = _em_record_sample_proportion(con, table, rule, em_max_pairs, measured.get(rule))
        if proportion is not None:  # None: no pairs under this rule (a file without agency IDs)
            em_passes.append({"blocking_rule": rule, "record_sample_proportion": proportion})
    n_records = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return {
        "fields": sorted(fields),
        "blocking_rules": dict(blocking_rules),
        "blocking_rule_pair_counts": counts,
        "training": {"records": n_records, "seed": seed, "u_max_pairs": u_max_pairs, "em_passes": em_passes},
    }


def train_model(
    con: duckdb.DuckDBPyConnection,
    table: str = IDENTITIES_TABLE,
    blocking_rules: dict[str, str] | None = None,
    seed: int = 1,
    u_max_pairs: float = U_MAX_PAIRS,
    em_max_pairs: int = EM_MAX_PAIRS,
    fields: frozenset[str] = SPINE_FIELDS,
    match_labels: Any = None,
    min_match_labels: int = MIN_REVIEW_MATCH_LABELS,
) -> dict[str, Any]:
    """Train on the person identities (person_records.build_identities) as the plan says
    (training_plan), comparing the given fields (settings.comparisons); returns the
    artefact (see module docstring). match_labels: identity pairs (a polars frame with
    unique_id_l, unique_id_r) reviewers decided are one person; with at least
    min_match_labels of them they are one more m estimation after the EM, and the
    artefact's training records how many."""
    plan = training_plan(con, table, blocking_rules, seed, u_max_pairs, em_max_pairs, fields)
    labelled = match_labels is not None and match_labels.height >= min_match_labels
    db_api = duckdb_api(con)
    records = register_input(db_api, con, table, "person_records")
    linker = Linker(records, linkage_settings(list(plan["blocking_rules"].values()), fields), log_level=logging.WARNING)
    rules = deterministic_rules(fields)
    em_passes = plan["training"]["em_passes"]
    with progress.steps("training the linkage model", 2 + len(em_passes) + labelled) as step:
        step("prior from deterministic rules")
        if any(rule_pair_count(con, table, rule) != 0 for rule in rules):
            linker.training.estimate_probability_two_random_records_match(rules, recall=DETERMINISTIC_RULES_RECALL)
        # else no identity pair meets them (a file of distinct people, or whose repeats are all
        # exact copies): the settings' prior stands, and cmi link refits it from the scores
        step("u probabilities from random pairs")
        chosen = ChosenMaxPairs()
        _SPLINK_TRAINING_LOG.addFilter(chosen)
        try:
            linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        finally:
            _SPLINK_TRAINING_LOG.removeFilter(chosen)
        for number, em_pass in enumerate(em_passes, start=1):
            step(f"EM pass {number} of {len(em_passes)}")
            # Splink 5 samples EM records only under max_pairs; record_sample_proportion is
            # then the share of records its probe count uses, not the sample itself
            linker.training.estimate_parameters_using_expectation_maximisation(
                em_pass["blocking_rule"],
                max_pairs=em_max_pairs,
                record_sample_proportion=em_pass["record_sample_proportion"],
                estimate_without_term_frequencies=True,
            )
        if labelled:
            step("m probabilities from the reviewers' match labels")
            labels = db_api.register(match_labels.select("unique_id_l", "unique_id_r").to_pandas())
            linker.training.estimate_m_from_pairwise_labels(labels)
            plan["training"]["review_match_labels"] = match_labels.height
    model = _stable_model_dict(linker)
    # Splink's training tables (EM comparison vectors, blocked pairs: over a GB at a million
    # records) are of no further use: free the memory for the steps that follow
    linker.table_management.delete_tables_created_by_splink_from_db()
    artefact = {
        "format": ARTEFACT_FORMAT,
        "splink_version": splink.__version__,
        "model": model,
        "tf_tables": {column: _tf_table(con, table, column) for column in TF_COLUMNS},
        **plan,
    }
    artefact["sha256"] = artefact_sha256(artefact)
    return artefact


def train_with_review(
    con: duckdb.DuckDBPyConnection, seed: int, u_max_pairs: float, min_match_labels: int | None = None
) -> tuple[dict[str, Any], list[dict]]:
    """linkage_model: train_model, with the reviewers' current match labels when
    min_match_labels is given (review.review_match_labels; used from that many), and the
    model's precision and recall against every current match / non_match decision
    (review.accuracy_from_review; empty without decisions)."""
    from cmi_assets.linkage import review

    labels = review.review_match_labels(con) if min_match_labels is not None else None
    artefact = train_model(
        con, seed=seed, u_max_pairs=u_max_pairs, match_labels=labels, min_match_labels=min_match_labels or 0
    )
    return artefact, review.accuracy_from_review(con, artefact)


def refit_prior(
    con: duckdb.DuckDBPyConnection,
    artefact: dict[str, Any],
    pairs: str,
    possible_pairs: int,
    iterations: int = 200,
) -> dict[str, Any]:
    """The artefact with its prior (probability two random identities match) re-estimated
    from the scored pairs, m and u held fixed: the expectation-maximisation update
    prior = sum of match probabilities / possible pairs, iterated to its fixed point.

    The deterministic rules' prior assumes they catch a fixed share of true pairs; on
    identities (records equal on every compared field already collapsed) they catch far
    fewer when a file maps few fields, and the prior, and every probability, comes out
    too low. Pairs blocking never scored are taken as non-matches."""
    prior = artefact["model"]["probability_two_random_records_match"]
    weights = con.execute(f"SELECT match_weight FROM {pairs}").pl()["match_weight"].to_numpy()
    if not len(weights) or possible_pairs <= 0:
        return artefact
    bayes_factors = np.exp2(weights - math.log2(prior / (1 - prior)))
    refitted = prior
    for _ in range(iterations):
        odds = refitted / (1 - refitted) * bayes_factors
        updated = float(np.sum(odds / (1 + odds))) / possible_pairs
        updated = min(max(updated, 1 / possible_pairs), 0.5)
        if abs(updated - refitted) <= 1e-4 * refitted:
            refitted = updated
            break
        refitted = updated
    out = {
        **artefact,
        "model": {**artefact["model"], "probability_two_random_records_match": round_floats(refitted)},
        "prior_refitted_from": round_floats(prior),
    }
    out.pop("sha256", None)
    out["sha256"] = artefact_sha256(out)
    return out


def _stable_model_dict(linker: Linker) -> dict[str, Any]:
    """The Splink model without its random per-linker uid (the same training must give
    the same artefact and sha256)."""
    model = linker.misc.save_model_to_json()
    model.pop("linker_uid", None)
    return round_floats(floor_m_probabilities(model))


def round_floats(value: Any, significant: int = SIGNIFICANT_DIGITS) -> Any:
    """Parameters to 10 significant digits: DuckDB's parallel sums differ in the last bits
    from run to run, and the artefact's sha256 must not."""
    if isinstance(value, float):
        return float(f"{value:.{significant}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, significant) for k, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, significant) for v in value]
    return value


def floor_m_probabilities(model: dict[str, Any], floor: float = M_PROBABILITY_FLOOR) -> dict[str, Any]:
    """No level may carry m ~ 0: one disagreeing field (a moved family's postcode) would
    then veto a link outright whatever else agrees. Raise tiny m to the floor and
    renormalise each comparison's m over its non-null levels."""
    for comparison in model["comparisons"]:
        levels = [
            lv
            for lv in comparison["comparison_levels"]
            if not lv.get("is_null_level") and lv.get("m_probability") is not None
        ]
        for level in levels:
            level["m_probability"] = max(float(level["m_probability"]), floor)
        total = sum(level["m_probability"] for level in levels)
        for level in levels:
            level["m_probability"] /= total
    return model


def _em_record_sample_proportion(
    con: duckdb.DuckDBPyConnection, table: str, rule: str, max_pairs: int, pairs: int | None = None
) -> float | None:
    """The share of records (both sides) whose pairs number about max_pairs: pairs scale
    with the square of the share. Splink counts a probe on that share and samples the
    pass to max_pairs from it (None when the rule yields no pairs at all). pairs: the
    rule's pair count, when measured."""
    pairs = rule_pair_count(con, table, rule) if pairs is None else pairs
    if pairs == 0:
        return None
    return 1.0 if pairs <= max_pairs else max(0.01, math.sqrt(max_pairs / pairs))


def _tf_table(con: duckdb.DuckDBPyConnection, table: str, column: str) -> list[list[Any]]:
    """[[value, relative frequency], ...] sorted by value (a stable, hashable form): Splink's
    term frequency (term_frequencies_for_single_column_sql: count over the non-null count),
    computed here in one statement."""
    # sorted by DuckDB, by UTF-8 bytes (whatever the connection's default collation), i.e. by
    # code point, as Python sorts strings
    rows = con.execute(
        f"""SELECT CAST({column} AS VARCHAR) AS value, CAST(count(*) AS DOUBLE) / (SELECT count({column}) FROM {table}) AS tf
            FROM {table} WHERE {column} IS NOT NULL GROUP BY {column} ORDER BY value COLLATE "binary" """
    ).fetchall()
    # most values share a count (and so a frequency): round each distinct frequency once
    rounded = {tf: round_floats(float(tf)) for tf in {tf for _, tf in rows}}
    return [[value, rounded[tf]] for value, tf in rows]


def artefact_sha256(artefact: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the artefact without its own sha256."""
    body = {k: v for k, v in artefact.items() if k != "sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    ).hexdigest()


def save_artefact(artefact: dict[str, Any], path: Path) -> str:
    """Write the artefact as one JSON file; returns its sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(artefact, sort_keys=True, indent=1, default=str), encoding="utf-8")
    return artefact["sha256"]


def load_artefact(path: Path) -> dict[str, Any]:
    """Read an artefact and check its sha256 and format (a tampered or truncated model
    file must not score anything)."""
    artefact = json.loads(Path(path).read_text(encoding="utf-8"))
    if artefact.get("format") != ARTEFACT_FORMAT:
        raise ValueError(f"{Path(path).name}: not a {ARTEFACT_FORMAT} artefact")
    if artefact.get("sha256") != artefact_sha256(artefact):
        raise ValueError(f"{Path(path).name}: sha256 does not match the artefact's content")
    return artefact


def model_summary(artefact: dict[str, Any]) -> dict[str, Any]:
    """What a run records about the model: no values from the data, only parameters."""
    model = artefact["model"]
    return {
        "sha256": artefact["sha256"],
        "probability_two_random_records_match": model["probability_two_random_records_match"],
        "comparisons": [c["output_column_name"] for c in model["comparisons"]],
        "blocking_rules": list(artefact["blocking_rules"]),
        "training_records": artefact["training"]["records"],
    }
