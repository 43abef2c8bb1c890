"""Care-and-protection record rules shared by the features and the outcomes (one place
each): what counts as a police family-violence record, as care-and-protection history, as a
substantiated finding of maltreatment, and the age at a CP event."""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.windows import age_days_at, day

# NZ study, para 41: maltreatment = emotional, physical or sexual abuse or neglect
# (behavioural / relationship findings are not maltreatment)
MALTREATMENT_TYPES = ("EMOTIONAL", "PHYSICAL", "SEXUAL", "NEGLECT")
# Table 10, target D: maltreatment excluding the emotional abuse category
PHYSICAL_SEXUAL_NEGLECT = ("PHYSICAL", "SEXUAL", "NEGLECT")
INVESTIGATION_RESPONSES = ("INVESTIGATION", "ASSESSMENT")
POLICE_FV_SOURCE = "POLICE_FV"
FV_CONTACT_RECORD = "FV_CONTACT_RECORD"


def is_family_violence_record() -> pl.Expr:
    """A police family-violence notification or an FV contact record (para 46)."""
    return (pl.col("source") == POLICE_FV_SOURCE).fill_null(False) | (
        pl.col("record_kind") == FV_CONTACT_RECORD
    ).fill_null(False)


def is_cp_history_record() -> pl.Expr:
    """A notification that is care-and-protection history: anything but a police FV
    notification or contact record, unless it led to further action (Box 1 footnote 8:
    FV records without other history do not count)."""
    return ~is_family_violence_record() | (pl.col("further_action") == "Y").fill_null(False)


def is_substantiated(abuse_types: tuple[str, ...] = MALTREATMENT_TYPES) -> pl.Expr:
    return (pl.col("finding") == "SUBSTANTIATED") & pl.col("abuse_type").is_in(list(abuse_types))


def notification_age_days(reference_day: pl.Expr) -> pl.Expr:
    """Age in days at a notification (recorded age_days, else from the reference day)."""
    return age_days_at(day("notification_date"), pl.col("age_days"), reference_day)


def findings_with_dates(findings: pl.DataFrame, notifications: pl.DataFrame) -> pl.DataFrame:
    """CP findings with the date and age of the event they belong to: the notification that
    led to them (findings are counted at the report date, as the study counts findings "by
    age k"), else the finding's own start date and age. Adds `event_day`, `event_age_days`
    (null when neither is recorded) and `investigation_key` (the notification, else the
    finding's own key: one investigation per notification)."""
    notes = notifications.select(
        pl.col("event_key").alias("notification_event_key"),
        day("notification_date").alias("_n_day"),
        pl.col("age_days").alias("_n_age"),
    ).unique("notification_event_key")
    return (
        findings.join(notes, on="notification_event_key", how="left")
        .with_columns(
            pl.coalesce("_n_day", day("start_date")).alias("event_day"),
            pl.when(pl.col("_n_day").is_not_null())
            .then(pl.col("_n_age"))
            .otherwise(pl.col("age_days"))
            .alias("event_age_days"),
            pl.coalesce("notification_event_key", "event_key").alias("investigation_key"),
        )
        .drop("_n_day", "_n_age")
    )
