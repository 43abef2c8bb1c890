"""The Splink model of a person, declared: one comparison per identity field, each a short
list of levels from strongest agreement to none, and the blocking rules.

Levels are plain DuckDB SQL over the standardised person-record columns (suffix _l / _r),
so the settings read as a table of rules. Term-frequency adjustment on exact name
agreement: agreeing on a rare surname says more than agreeing on "SMITH".
"""

from __future__ import annotations

from typing import Any

UNIQUE_ID = "unique_id"



def _null(sql: str) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": "null", "is_null_level": True}


def _level(sql: str, label: str, tf_column: str | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if tf_column:
        level.update({"tf_adjustment_column": tf_column, "tf_adjustment_weight": 1.0})
    return level


def _else() -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "all other"}


def _comparison(name: str, description: str, levels: list[dict[str, Any]]) -> dict[str, Any]:
    return {"output_column_name": name, "comparison_description": description, "comparison_levels": levels}


def given_name_comparison() -> dict[str, Any]:
    """Informal names (nicknames, an initial only) and given/middle swaps are the commonest
    disagreements in care and protection records (NZ study, para 97)."""
    return _comparison(
        "given_name",
        "given name: exact, swapped with middle, nickname, close spelling, initial",
        [
            _null("given_name_l IS NULL OR given_name_r IS NULL"),
            _level("given_name_l = given_name_r", "exact", tf_column="given_name"),
            _level("given_name_l = middle_name_r OR middle_name_l = given_name_r", "given/middle swapped"),
            _level("list_has_any(given_forms_l, given_forms_r)", "nickname or formal form"),
            _level("jaro_winkler_similarity(given_name_l, given_name_r) >= 0.92", "Jaro-Winkler >= 0.92"),
            _level("jaro_winkler_similarity(given_name_l, given_name_r) >= 0.80", "Jaro-Winkler >= 0.80"),
            _level(
                "(length(given_name_l) = 1 OR length(given_name_r) = 1) AND left(given_name_l, 1) = left(given_name_r, 1)",
                "initial agrees",
            ),
            _else(),
        ],
    )


def middle_name_comparison() -> dict[str, Any]:
    return _comparison(
        "middle_name",
        "middle name: exact, initial, close spelling",
        [
            _null("middle_name_l IS NULL OR middle_name_r IS NULL"),
            _level("middle_name_l = middle_name_r", "exact"),
            _level("left(middle_name_l, 1) = left(middle_name_r, 1) AND (length(middle_name_l) = 1 OR length(middle_name_r) = 1)", "initial agrees"),
            _level("jaro_winkler_similarity(middle_name_l, middle_name_r) >= 0.88", "Jaro-Winkler >= 0.88"),
            _else(),
        ],
    )


def family_name_comparison() -> dict[str, Any]:
    """Surnames change with partnering and are double-barrelled: a shared part agrees."""
    return _comparison(
        "family_name",
        "family name: exact, a shared part (hyphenated/changed), close spelling",
        [
            _null("family_name_l IS NULL OR family_name_r IS NULL"),
            _level("family_name_l = family_name_r", "exact", tf_column="family_name"),
            _level("list_has_any(family_parts_l, family_parts_r)", "a part agrees"),
            _level("jaro_winkler_similarity(family_name_l, family_name_r) >= 0.92", "Jaro-Winkler >= 0.92"),
            _level("jaro_winkler_similarity(family_name_l, family_name_r) >= 0.80", "Jaro-Winkler >= 0.80"),
            _else(),
        ],
    )


def dob_comparison() -> dict[str, Any]:
    """DOB errors seen in the extracts: day/month transposed, one digit wrong, the 1st of
    the month for an unknown day, or only an age (a year estimate) (NZ study, para 97)."""
    return _comparison(
        "dob",
        "date of birth: exact, transposed, one digit, same month, year within one",
        [
            _null("(dob_l IS NULL OR dob_r IS NULL) AND (birth_year_l IS NULL OR birth_year_r IS NULL)"),
            _level("dob_l = dob_r", "exact"),
            _level(
                "year(dob_l) = year(dob_r) AND month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r)",
                "day and month transposed",
            ),
            _level("damerau_levenshtein(CAST(dob_l AS VARCHAR), CAST(dob_r AS VARCHAR)) <= 1", "one character"),
            _level("dob_year_month_l = dob_year_month_r", "same year and month"),
            _level("abs(birth_year_l - birth_year_r) <= 1", "birth year within one"),
            _else(),
        ],
    )


def sex_comparison() -> dict[str, Any]:
    return _comparison(
        "sex",
        "sex",
        [_null("sex_l IS NULL OR sex_r IS NULL"), _level("sex_l = sex_r", "exact"), _else()],
    )


def parent_names_agree_sql(left: str, right: str) -> str:
    """A parent or caregiver given name in common (nickname aware), for the records
    `left` and `right` are the column names of (NZ para 88)."""
    return f"list_has_any({left}, {right})"


def parent_given_names_comparison() -> dict[str, Any]:
    """Children's records name parents or caregivers; one given name in common (nickname
    aware) is the NZ conservative rule's extra condition (para 88)."""
    return _comparison(
        "parent_given_names",
        "a parent or caregiver given name in common",
        [
            _null("parent_given_forms_l IS NULL OR parent_given_forms_r IS NULL"),
            _level(parent_names_agree_sql("parent_given_forms_l", "parent_given_forms_r"), "a parent agrees"),
            _else(),
        ],
    )


def postcode_comparison() -> dict[str, Any]:
    return _comparison(
        "postcode",
        "postcode",
        [_null("postcode_l IS NULL OR postcode_r IS NULL"), _level("postcode_l = postcode_r", "exact"), _else()],
    )


def agency_id_comparison() -> dict[str, Any]:
    """The agency's own person ID, only comparable within one agency (benefits client IDs
    are verified; care and protection can give one child two IDs: NZ para 97)."""
    return _comparison(
        "agency_id",
        "agency person ID within the same agency",
        [
            _null("person_id_l IS NULL OR person_id_r IS NULL OR id_namespace_l <> id_namespace_r"),
            _level("person_id_l = person_id_r", "same ID"),
            _else(),
        ],
    )


def comparisons() -> list[dict[str, Any]]:
    return [
        given_name_comparison(),
        middle_name_comparison(),
        family_name_comparison(),
        dob_comparison(),
        sex_comparison(),
        parent_given_names_comparison(),
        postcode_comparison(),
        agency_id_comparison(),
    ]


# Blocking rules for predictions, most selective first. blocking.choose_blocking_rules
# keeps those whose measured pair counts fit the budget.
CANDIDATE_BLOCKING_RULES: dict[str, str] = {
    "same_agency_id": "l.id_namespace = r.id_namespace AND l.person_id = r.person_id",
    "dob_given_soundex": "l.dob = r.dob AND l.given_soundex = r.given_soundex",
    "dob_family_soundex": "l.dob = r.dob AND l.family_soundex = r.family_soundex",
    "given_family_exact": "l.given_name = r.given_name AND l.family_name = r.family_name",
    "family_soundex_year_initial": (
        "l.family_soundex = r.family_soundex AND l.birth_year = r.birth_year AND left(l.given_name, 1) = left(r.given_name, 1)"
    ),
    "dob_postcode": "l.dob = r.dob AND l.postcode = r.postcode",
    "family_parent1_given": "l.family_name = r.family_name AND l.parent1_given = r.parent1_given",
    "given_soundex_year_postcode": "l.given_soundex = r.given_soundex AND l.birth_year = r.birth_year AND l.postcode = r.postcode",
}

# EM passes (NZ-style: the exact-identifier pass first, where an agency ID is shared across
# its record types). Each pass estimates m for every comparison not used in its rule.
TRAINING_BLOCKING_RULES: list[str] = [
    "l.id_namespace = r.id_namespace AND l.person_id = r.person_id",
    "l.dob = r.dob",
    "l.given_name = r.given_name AND l.family_name = r.family_name",
]

# Near-certain rules for the prior (probability two random records match).
DETERMINISTIC_RULES: list[str] = [
    "l.id_namespace = r.id_namespace AND l.person_id = r.person_id",
    "l.given_name = r.given_name AND l.family_name = r.family_name AND l.dob = r.dob",
]


def linkage_settings(blocking_rules: list[str]) -> dict[str, Any]:
    """A Splink settings dictionary for deduplicating all person identities together (one
    person space: a parent's own childhood care and protection record links to their
    adult records). The scored pairs keep ids, weights and comparison levels only."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": UNIQUE_ID,
        "probability_two_random_records_match": 1e-5,
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r, "sql_dialect": "duckdb"} for r in blocking_rules],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 25,
        "em_convergence": 0.0001,
    }
