"""The Splink model of a person, declared: one comparison per identity field, each a short
list of levels from strongest agreement to none, and the blocking rules.

The model adapts to the fields it is given: a comparison (and a level) exists only for
fields the records carry, so a file without parents' names or middle names gets no
comparison of them (and Splink no never-observed level to warn about), and a file with an
address, a locality or an identifier both files share gets comparisons of those. The
person spine's fields are SPINE_FIELDS; `cmi link` passes the fields its mapping names.

Levels are plain SQL over the standardised person-record columns (suffix _l / _r), so the
settings read as a table of rules. The few functions whose names differ between engines
come from one SqlDialect (DUCKDB or SPARK); everything else in a level reads the same in
both. A model is trained on DuckDB, and model_in_dialect rewrites its levels for Spark
from this same vocabulary, m and u untouched. Term-frequency adjustment on exact name
agreement: agreeing on a rare surname says more than agreeing on "SMITH".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

UNIQUE_ID = "unique_id"

# The compared fields of the person spine's canonical records (person_records.py).
SPINE_FIELDS: frozenset[str] = frozenset(
    {"given_name", "middle_name", "family_name", "dob", "sex", "parent_given", "postcode", "person_id"}
)
# Fields a file mapping may add: a one-line address (from one or more columns), a locality
# (suburb, town, city), an identifier that every file carries in one namespace, and the
# date of birth as written (YYYYMMDD digits read through the file's format, kept where the
# date itself does not parse: 19450493 still agrees with 19450403 to one character).
FILE_FIELDS: frozenset[str] = frozenset({"address", "locality", "shared_id", "dob_text"})


@dataclass(frozen=True)
class SqlDialect:
    """The functions of the comparison levels whose names differ between engines (the
    rest, =, IS NULL, left, length, year, month, day, abs, reads the same in DuckDB and
    Spark SQL). Spark has no Jaro-Winkler or Damerau-Levenshtein of its own; its two are
    DuckDB's, called from Spark (spark_engine.py), so a pair gets the same level on both."""

    name: str
    share_an_element: str  # two lists hold an element in common
    jaro_winkler: str
    damerau_levenshtein: str
    text_type: str  # the string type of a CAST

    def shares_an_element(self, a: str, b: str) -> str:
        return f"{self.share_an_element}({a}, {b})"

    def jaro_winkler_at_least(self, a: str, b: str, threshold: str) -> str:
        return f"{self.jaro_winkler}({a}, {b}) >= {threshold}"

    def one_edit_apart(self, a: str, b: str) -> str:
        return f"{self.damerau_levenshtein}({a}, {b}) <= 1"

    def as_text(self, column: str) -> str:
        return f"CAST({column} AS {self.text_type})"


DUCKDB = SqlDialect("duckdb", "list_has_any", "jaro_winkler_similarity", "damerau_levenshtein", "VARCHAR")
SPARK = SqlDialect("spark", "arrays_overlap", "cmi_jaro_winkler", "cmi_damerau_levenshtein", "STRING")
DIALECTS: dict[str, SqlDialect] = {d.name: d for d in (DUCKDB, SPARK)}


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


def given_name_comparison(fields: frozenset[str] = SPINE_FIELDS, dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """Informal names (nicknames, an initial only) and given/middle swaps are the commonest
    disagreements in care and protection records (NZ study, para 97); given and family
    name keyed into each other's field are a common slip in any register."""
    levels = [
        _null("given_name_l IS NULL OR given_name_r IS NULL"),
        _level("given_name_l = given_name_r", "exact", tf_column="given_name"),
    ]
    if "middle_name" in fields:
        levels.append(_level("given_name_l = middle_name_r OR middle_name_l = given_name_r", "given/middle swapped"))
    if "family_name" in fields:
        levels.append(_level(names_swapped_sql(), "given/family swapped"))
    levels += [
        _level(dialect.shares_an_element("given_forms_l", "given_forms_r"), "nickname or formal form"),
        _level(dialect.jaro_winkler_at_least("given_name_l", "given_name_r", "0.92"), "Jaro-Winkler >= 0.92"),
        _level(dialect.jaro_winkler_at_least("given_name_l", "given_name_r", "0.80"), "Jaro-Winkler >= 0.80"),
        _level(
            "(length(given_name_l) = 1 OR length(given_name_r) = 1) AND left(given_name_l, 1) = left(given_name_r, 1)",
            "initial agrees",
        ),
        _else(),
    ]
    return _comparison(
        "given_name", "given name: exact, swapped with middle or family name, nickname, close spelling, initial", levels
    )


def names_swapped_sql() -> str:
    """Given and family name keyed into each other's field."""
    return "given_name_l = family_name_r AND family_name_l = given_name_r"


def middle_name_comparison(dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    return _comparison(
        "middle_name",
        "middle name: exact, initial, close spelling",
        [
            _null("middle_name_l IS NULL OR middle_name_r IS NULL"),
            _level("middle_name_l = middle_name_r", "exact"),
            _level(
                "left(middle_name_l, 1) = left(middle_name_r, 1) AND (length(middle_name_l) = 1 OR length(middle_name_r) = 1)",
                "initial agrees",
            ),
            _level(dialect.jaro_winkler_at_least("middle_name_l", "middle_name_r", "0.88"), "Jaro-Winkler >= 0.88"),
            _else(),
        ],
    )


def family_name_comparison(fields: frozenset[str] = SPINE_FIELDS, dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """Surnames change with partnering and are double-barrelled: a shared part agrees. A
    swap with the given name is evidence here too (else the swap would count as two
    disagreeing names)."""
    levels = [
        _null("family_name_l IS NULL OR family_name_r IS NULL"),
        _level("family_name_l = family_name_r", "exact", tf_column="family_name"),
    ]
    if "given_name" in fields:
        levels.append(_level(names_swapped_sql(), "given/family swapped"))
    levels += [
        _level(dialect.shares_an_element("family_parts_l", "family_parts_r"), "a part agrees"),
        _level(dialect.jaro_winkler_at_least("family_name_l", "family_name_r", "0.92"), "Jaro-Winkler >= 0.92"),
        _level(dialect.jaro_winkler_at_least("family_name_l", "family_name_r", "0.80"), "Jaro-Winkler >= 0.80"),
        _else(),
    ]
    return _comparison(
        "family_name",
        "family name: exact, swapped with given name, a shared part (hyphenated/changed), close spelling",
        levels,
    )


def dob_comparison(fields: frozenset[str] = SPINE_FIELDS, dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """DOB errors seen in the extracts: day/month transposed, one digit wrong, the 1st of
    the month for an unknown day, or only an age (a year estimate) (NZ study, para 97).
    With dob_text (a file's DOB as written), a date that does not parse (a month 13)
    still agrees to one character."""
    if "dob_text" in fields:
        null = "(dob_text_l IS NULL OR dob_text_r IS NULL) AND (birth_year_l IS NULL OR birth_year_r IS NULL)"
        one_character = dialect.one_edit_apart("dob_text_l", "dob_text_r")
    else:
        null = "(dob_l IS NULL OR dob_r IS NULL) AND (birth_year_l IS NULL OR birth_year_r IS NULL)"
        one_character = dialect.one_edit_apart(dialect.as_text("dob_l"), dialect.as_text("dob_r"))
    return _comparison(
        "dob",
        "date of birth: exact, transposed, one digit, same month, year within one",
        [
            _null(null),
            _level("dob_l = dob_r", "exact"),
            _level(
                "year(dob_l) = year(dob_r) AND month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r)",
                "day and month transposed",
            ),
            _level(one_character, "one character"),
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


def parent_names_agree_sql(left: str, right: str, dialect: SqlDialect = DUCKDB) -> str:
    """A parent or caregiver given name in common (nickname aware), for the records
    `left` and `right` are the column names of (NZ para 88)."""
    return dialect.shares_an_element(left, right)


def parent_given_names_comparison(dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """Children's records name parents or caregivers; one given name in common (nickname
    aware) is the NZ conservative rule's extra condition (para 88)."""
    return _comparison(
        "parent_given_names",
        "a parent or caregiver given name in common",
        [
            _null("parent_given_forms_l IS NULL OR parent_given_forms_r IS NULL"),
            _level(parent_names_agree_sql("parent_given_forms_l", "parent_given_forms_r", dialect), "a parent agrees"),
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


def shared_id_comparison(dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """An identifier every file carries (a social security or national health number): the
    same, one keying slip apart (a digit wrong or two swapped), or different."""
    return _comparison(
        "shared_id",
        "identifier shared across files: exact, one character",
        [
            _null("shared_id_l IS NULL OR shared_id_r IS NULL"),
            _level("shared_id_l = shared_id_r", "exact"),
            _level(dialect.one_edit_apart("shared_id_l", "shared_id_r"), "one character"),
            _else(),
        ],
    )


def address_comparison(dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    """The address as one standardised line: the same, a close spelling (a typo, an
    abbreviation), a similar line (a missing or changed part), or another address."""
    return _comparison(
        "address",
        "address: exact, Jaro-Winkler >= 0.92, >= 0.80",
        [
            _null("address_l IS NULL OR address_r IS NULL"),
            _level("address_l = address_r", "exact"),
            _level(dialect.jaro_winkler_at_least("address_l", "address_r", "0.92"), "Jaro-Winkler >= 0.92"),
            _level(dialect.jaro_winkler_at_least("address_l", "address_r", "0.80"), "Jaro-Winkler >= 0.80"),
            _else(),
        ],
    )


def locality_comparison(dialect: SqlDialect = DUCKDB) -> dict[str, Any]:
    return _comparison(
        "locality",
        "locality (suburb, town or city): exact, close spelling",
        [
            _null("locality_l IS NULL OR locality_r IS NULL"),
            _level("locality_l = locality_r", "exact"),
            _level(dialect.jaro_winkler_at_least("locality_l", "locality_r", "0.90"), "Jaro-Winkler >= 0.90"),
            _else(),
        ],
    )


def comparisons(fields: frozenset[str] = SPINE_FIELDS, dialect: SqlDialect = DUCKDB) -> list[dict[str, Any]]:
    """One comparison per compared field present, in a fixed order."""
    built = [
        ("given_name", lambda: given_name_comparison(fields, dialect)),
        ("middle_name", lambda: middle_name_comparison(dialect)),
        ("family_name", lambda: family_name_comparison(fields, dialect)),
        ("dob", lambda: dob_comparison(fields, dialect)),
        ("sex", sex_comparison),
        ("parent_given", lambda: parent_given_names_comparison(dialect)),
        ("address", lambda: address_comparison(dialect)),
        ("locality", lambda: locality_comparison(dialect)),
        ("postcode", postcode_comparison),
        ("person_id", agency_id_comparison),
        ("shared_id", lambda: shared_id_comparison(dialect)),
    ]
    return [make() for field, make in built if field in fields]


def model_in_dialect(model: dict[str, Any], fields: frozenset[str], dialect: SqlDialect) -> dict[str, Any]:
    """A trained Splink model (DuckDB SQL) with every comparison level's condition written
    for `dialect` by the same rule of this module; m, u, labels and term-frequency settings
    unchanged. Raises ValueError for a level this module does not write (a model trained
    with other comparisons: retrain it). Blocking rules carry their own dialect, and Splink
    translates them."""
    if dialect == DUCKDB:
        return model
    written = {}
    for source, target in zip(comparisons(fields, DUCKDB), comparisons(fields, dialect)):
        for a, b in zip(source["comparison_levels"], target["comparison_levels"]):
            written[(source["output_column_name"], a["sql_condition"])] = b["sql_condition"]
    out = copy.deepcopy(model)
    for comparison in out["comparisons"]:
        name = comparison["output_column_name"]
        for level in comparison["comparison_levels"]:
            key = (name, level["sql_condition"])
            if key not in written:
                raise ValueError(
                    f"comparison {name}, level {level.get('label_for_charts')!r}: not a level of these settings, "
                    f"so it has no {dialect.name} form (retrain the model)"
                )
            level["sql_condition"] = written[key]
    out["sql_dialect"] = dialect.name
    return out


# Blocking rules for predictions, most selective first, each with the fields it needs.
# blocking.choose_blocking_rules keeps those whose measured pair counts fit the budget.
_PRECISE_RULES: dict[str, tuple[str, frozenset[str]]] = {
    "same_agency_id": ("l.id_namespace = r.id_namespace AND l.person_id = r.person_id", frozenset({"person_id"})),
    "same_shared_id": ("l.shared_id = r.shared_id", frozenset({"shared_id"})),
    "dob_given_soundex": ("l.dob = r.dob AND l.given_soundex = r.given_soundex", frozenset({"dob", "given_name"})),
    "dob_family_soundex": ("l.dob = r.dob AND l.family_soundex = r.family_soundex", frozenset({"dob", "family_name"})),
    "given_family_exact": (
        "l.given_name = r.given_name AND l.family_name = r.family_name",
        frozenset({"given_name", "family_name"}),
    ),
    "family_soundex_year_initial": (
        "l.family_soundex = r.family_soundex AND l.birth_year = r.birth_year AND left(l.given_name, 1) = left(r.given_name, 1)",
        frozenset({"family_name", "dob", "given_name"}),
    ),
    "dob_postcode": ("l.dob = r.dob AND l.postcode = r.postcode", frozenset({"dob", "postcode"})),
    "family_parent1_given": (
        "l.family_name = r.family_name AND l.parent1_given = r.parent1_given",
        frozenset({"family_name", "parent_given"}),
    ),
    "given_soundex_year_postcode": (
        "l.given_soundex = r.given_soundex AND l.birth_year = r.birth_year AND l.postcode = r.postcode",
        frozenset({"given_name", "dob", "postcode"}),
    ),
    # given and family name keyed into each other's field
    "names_swapped": (
        "l.given_name = r.family_name AND l.family_name = r.given_name",
        frozenset({"given_name", "family_name"}),
    ),
}
# Wider rules, for what the precise ones miss (a typo in a name and another in the DOB; a
# name replaced): each kept only while it stays cheap on these records
# (blocking.WIDE_PAIRS_PER_RECORD), which a small file allows and a state's volume does not.
_WIDE_RULES: dict[str, tuple[str, frozenset[str]]] = {
    "given_family_soundex": (
        "l.given_soundex = r.given_soundex AND l.family_soundex = r.family_soundex",
        frozenset({"given_name", "family_name"}),
    ),
    "address_exact": ("l.address = r.address", frozenset({"address"})),
    "postcode_family": (
        "l.postcode = r.postcode AND l.family_name = r.family_name",
        frozenset({"postcode", "family_name"}),
    ),
    "postcode_given": (
        "l.postcode = r.postcode AND l.given_name = r.given_name",
        frozenset({"postcode", "given_name"}),
    ),
    "locality_birth_year": ("l.locality = r.locality AND l.birth_year = r.birth_year", frozenset({"locality", "dob"})),
    "dob": ("l.dob = r.dob", frozenset({"dob"})),
    "postcode": ("l.postcode = r.postcode", frozenset({"postcode"})),
}


def _rules_for(rules: dict[str, tuple[str, frozenset[str]]], fields: frozenset[str]) -> dict[str, str]:
    return {name: rule for name, (rule, needs) in rules.items() if needs <= fields}


def candidate_blocking_rules(fields: frozenset[str] = SPINE_FIELDS) -> dict[str, str]:
    """The precise candidate rules whose fields are present."""
    return _rules_for(_PRECISE_RULES, fields)


def wide_blocking_rules(fields: frozenset[str] = SPINE_FIELDS) -> dict[str, str]:
    """The wide candidate rules whose fields are present."""
    return _rules_for(_WIDE_RULES, fields)


CANDIDATE_BLOCKING_RULES: dict[str, str] = candidate_blocking_rules()


def training_blocking_rules(fields: frozenset[str] = SPINE_FIELDS) -> list[str]:
    """EM passes (NZ-style: the exact-identifier pass first, where an agency ID is shared
    across its record types, or an identifier across files). Each pass estimates m for
    every comparison not used in its rule; a pass with no pairs is skipped (train.py)."""
    rules = []
    if "person_id" in fields:
        rules.append("l.id_namespace = r.id_namespace AND l.person_id = r.person_id")
    if "shared_id" in fields:
        rules.append("l.shared_id = r.shared_id")
    if "dob" in fields:
        rules.append("l.dob = r.dob")
    if {"given_name", "family_name"} <= fields:
        rules.append("l.given_name = r.given_name AND l.family_name = r.family_name")
    return rules


TRAINING_BLOCKING_RULES: list[str] = training_blocking_rules()


def deterministic_rules(fields: frozenset[str] = SPINE_FIELDS) -> list[str]:
    """Near-certain rules for the prior (probability two random records match)."""
    rules = []
    if "person_id" in fields:
        rules.append("l.id_namespace = r.id_namespace AND l.person_id = r.person_id")
    if "shared_id" in fields:
        rules.append(
            "l.shared_id = r.shared_id AND l.family_name = r.family_name"
            if "family_name" in fields
            else "l.shared_id = r.shared_id"
        )
    rules.append(" AND ".join(f"l.{f} = r.{f}" for f in ("given_name", "family_name", "dob") if f in fields))
    return [rule for rule in rules if rule]


DETERMINISTIC_RULES: list[str] = deterministic_rules()


def linkage_settings(blocking_rules: list[str], fields: frozenset[str] = SPINE_FIELDS) -> dict[str, Any]:
    """A Splink settings dictionary for deduplicating all person identities together (one
    person space: a parent's own childhood care and protection record links to their
    adult records). The scored pairs keep ids, weights and comparison levels only."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": UNIQUE_ID,
        "probability_two_random_records_match": 1e-5,
        "comparisons": comparisons(fields),
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r, "sql_dialect": "duckdb"} for r in blocking_rules
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 25,
        "em_convergence": 0.0001,
    }
