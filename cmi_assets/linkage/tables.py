"""The linkage schema of the identified zone: its table names and the main columns of the
tables the linkage assets write, as (name, type[, description]) tuples (light: no Splink),
so the assets declare the same contract the library writes."""

from __future__ import annotations

from cmi_assets.linkage.review_fields import REVIEW_FIELDS

# The two linkage levels (NZ study section 5): every spine, event table and cohort comes in both.
LEVELS = ("conservative", "less_conservative")

PERSON_RECORDS_TABLE = "linkage.person_records"
PAIRS_TABLE = "linkage.person_pairs"
LINKS_TABLE = "linkage.person_links"
CLUSTERS_TABLE = "linkage.person_clusters"
SPINE_TABLE = "linkage.person_spine"
PREVIOUS_SPINE_TABLE = "linkage.person_spine_previous"
EVENTS_TABLE = "linkage.person_key_events"
THRESHOLDS_TABLE = "linkage.link_thresholds"
REVIEW_DECISIONS_TABLE = "linkage.review_decisions"

PERSON_RECORDS_COLUMNS = (
    ("unique_id", "BIGINT", "hash of record_ref"),
    ("identity_id", "BIGINT", "hash of the compared fields"),
    ("record_ref", "VARCHAR", "agency|record_type|record_key|slot"),
    ("source_dataset", "VARCHAR"),
    ("agency", "VARCHAR"),
    ("record_type", "VARCHAR"),
    ("record_key", "VARCHAR", "identifying"),
    ("slot", "VARCHAR"),
    ("role", "VARCHAR", "child or adult"),
    ("id_namespace", "VARCHAR"),
    ("person_id", "VARCHAR", "agency ID; identifying"),
    ("given_name", "VARCHAR", "identifying"),
    ("middle_name", "VARCHAR", "identifying"),
    ("family_name", "VARCHAR", "identifying"),
    ("family_parts", "VARCHAR[]"),
    ("given_forms", "VARCHAR[]"),
    ("given_is_known", "BOOLEAN"),
    ("middle_forms", "VARCHAR[]"),
    ("middle_is_known", "BOOLEAN"),
    ("given_soundex", "VARCHAR"),
    ("family_soundex", "VARCHAR"),
    ("dob", "DATE", "identifying"),
    ("dob_year_month", "VARCHAR"),
    ("birth_year", "INTEGER"),
    ("sex", "VARCHAR"),
    ("parent1_given", "VARCHAR"),
    ("parent2_given", "VARCHAR"),
    ("parent_given_forms", "VARCHAR[]"),
    ("parent1_dob", "DATE"),
    ("parent2_dob", "DATE"),
    ("address", "VARCHAR", "identifying"),
    ("postcode", "VARCHAR"),
    ("event_date", "DATE"),
)
LINKS_COLUMNS = (
    ("unique_id_l", "BIGINT", "identity"),
    ("unique_id_r", "BIGINT", "identity"),
    ("match_weight", "DOUBLE"),
    ("match_probability", "DOUBLE"),
    ("is_link_conservative", "BOOLEAN", "NZ para 88"),
    ("is_link_less_conservative", "BOOLEAN", "NZ para 90"),
    ("separated_by", "VARCHAR", "why the clustering guards keep the two apart (dob, given, middle) or null"),
)
SPINE_COLUMNS = (
    ("unique_id", "BIGINT", "person record"),
    ("record_ref", "VARCHAR", "agency|record_type|record_key|slot of the record"),
    ("identity_id", "BIGINT", "the record's identity"),
    ("level", "VARCHAR", "conservative / less_conservative"),
    ("cluster_id", "BIGINT", "this run's cluster (its smallest identity id); not stable across runs: use person_key"),
    ("person_key", "VARCHAR", "HMAC-SHA256 pseudonym, persistent across runs"),
)

# Clerical review decisions (review.py): append-only, the latest decision on a pair wins.
# Another report reads these columns by name.
REVIEW_DECISIONS_COLUMNS = (
    ("decision_id", "BIGINT", "1, 2, ... in the order recorded"),
    ("pair_id", "VARCHAR", "the review file's stable pair id (a hash of unique_id_l and unique_id_r)"),
    ("unique_id_l", "BIGINT", "left identity: Splink's record id, as in linkage.person_pairs"),
    ("unique_id_r", "BIGINT", "right identity: Splink's record id, as in linkage.person_pairs"),
    ("record_id_l", "BIGINT", "the person record shown for the left side (linkage.person_records.unique_id)"),
    ("record_id_r", "BIGINT", "the person record shown for the right side"),
    ("decision", "VARCHAR", "match / non_match / unsure"),
    ("reviewer", "VARCHAR", "who decided (identified)"),
    ("decided_at", "TIMESTAMP", "when, UTC (the file's decided_at, else the import time)"),
    ("reason", "VARCHAR", "the reviewer's reason (identified: may quote names)"),
    ("source_file", "VARCHAR", "name of the imported decisions file"),
    ("recorded_at", "TIMESTAMP", "when the import recorded it, UTC"),
)


def review_file_columns() -> list[tuple[str, str, str]]:
    """The review CSV's columns (linkage.clerical.review_pairs): both sides' compared fields
    side by side, and the column the reviewer fills in."""
    columns = [
        ("unit_id", "BIGINT", "the sampled child's birth-registration record (with its adults) under review"),
        ("unique_id_l", "BIGINT", "left record's identity"),
        ("unique_id_r", "BIGINT", "right record's identity"),
        ("match_weight", "DOUBLE", "Splink match weight, log2 Bayes factor"),
        ("match_probability", "DOUBLE", "Splink match probability, 0-1"),
    ]
    for field in REVIEW_FIELDS:
        columns += [
            (f"{field}_l", "VARCHAR", f"left record's {field} (identified)"),
            (f"{field}_r", "VARCHAR", f"right record's {field} (identified)"),
        ]
    columns.append(
        ("clerical_match_score", "DOUBLE", "filled in by the reviewer: 1 same person, 0 different, 0-1 unsure")
    )
    return columns
