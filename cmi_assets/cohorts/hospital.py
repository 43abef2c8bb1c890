"""Hospital admission codes (ICD-10-AM diagnosis and external cause) behind the health
outcome (NZ study Table 10, target E and its note 3) and the Box 2 variables. Codes are
compared without the dot ("S06.5" -> "S065")."""

from __future__ import annotations

import polars as pl

MALTREATMENT_SYNDROME = ("T74",)  # maltreatment syndromes
ASSAULT_CAUSE_RANGE = ("X85", "Y09")  # external causes: assault
INTRACRANIAL_INJURY = ("S06",)
LONG_BONE_FRACTURE = (
    "S422",
    "S423",
    "S424",  # humerus (not clavicle/scapula)
    "S52",
    "S72",  # forearm, femur
    "S821",
    "S822",
    "S823",
    "S824",
    "S825",
    "S826",
    "S827",
    "S828",
    "S829",
)  # tibia/fibula (not patella)
BIRTH_ABNORMALITY = ("Q",)  # congenital malformations (Box 2 parenting demands)
SUBSTANCE_USE_DISORDER = ("F1",)  # F10-F19 (Box 2 mental health)
OTHER_MENTAL_DISORDER = ("F",)  # any other F code


def _code(column: str) -> pl.Expr:
    return pl.col(column).fill_null("").str.replace_all(".", "", literal=True).str.to_uppercase()


def _starts_with_any(column: str, prefixes: tuple[str, ...]) -> pl.Expr:
    code = _code(column)
    return pl.any_horizontal([code.str.starts_with(p) for p in prefixes])


def is_assault_cause() -> pl.Expr:
    cause = _code("external_cause_code").str.slice(0, 3)
    lo, hi = ASSAULT_CAUSE_RANGE
    return (cause >= lo) & (cause <= hi)


def is_maltreatment_admission() -> pl.Expr:
    """A maltreatment injury: a maltreatment-syndrome diagnosis or an assault cause."""
    return _starts_with_any("diagnosis_code", MALTREATMENT_SYNDROME) | is_assault_cause()


def is_marker_injury() -> pl.Expr:
    """Intracranial injury or long-bone fracture (counted by age 1 only: Table 10 note 3)."""
    return _starts_with_any("diagnosis_code", INTRACRANIAL_INJURY + LONG_BONE_FRACTURE)


def is_birth_abnormality() -> pl.Expr:
    return _starts_with_any("diagnosis_code", BIRTH_ABNORMALITY)


def is_substance_use_diagnosis() -> pl.Expr:
    return _starts_with_any("diagnosis_code", SUBSTANCE_USE_DISORDER)


def is_other_mental_health_diagnosis() -> pl.Expr:
    return _starts_with_any("diagnosis_code", OTHER_MENTAL_DISORDER) & ~is_substance_use_diagnosis()


def is_short_stay(admit_day: pl.Expr, discharge_day: pl.Expr) -> pl.Expr:
    """Same-day discharge: the short-stay emergency-department admissions Table 10 note 3
    excludes (no ED flag exists in the event table)."""
    return (discharge_day == admit_day).fill_null(False)
