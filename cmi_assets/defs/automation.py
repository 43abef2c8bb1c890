"""Declarative automation: how downstream assets follow new extracts, and the one
automation sensor (RUNNING by default) that evaluates it."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

# How often the automation sensor evaluates (seconds); tests and walk-throughs shorten it.
INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS = "CMI_AUTOMATION_INTERVAL_SECONDS", 30

# The annual schedules run at a local hour of the agency that runs them; Eastern time (the
# Children's Bureau's) unless the deployment names its own IANA zone.
TIMEZONE_ENV, DEFAULT_TIMEZONE = "CMI_SCHEDULE_TIMEZONE", "America/New_York"


def schedule_timezone() -> str:
    """The IANA time zone of the annual schedules, checked so a typo fails at load time
    with the variable's name rather than silently at the first tick."""
    zone = os.environ.get(TIMEZONE_ENV, DEFAULT_TIMEZONE)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{TIMEZONE_ENV}={zone!r} is not an IANA time zone (e.g. America/Chicago)") from error
    return zone


def follow_upstream() -> dg.AutomationCondition:
    """Eager, relaxed and gated: materialize when an upstream asset or partition updates,
    even if other upstream partitions are missing (an agency that has not delivered a
    record type yet), never while an upstream run is in progress, and not while the
    newest upstream update failed a blocking check (a quarantined extract does not
    trigger downstream work; the next good extract does)."""
    return (
        dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager, relaxed, gated on blocking checks")


@dg.definitions
def automation() -> dg.Definitions:
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=int(os.environ.get(INTERVAL_ENV) or DEFAULT_INTERVAL_SECONDS),
                description="Evaluates every asset's automation condition: downstream tables follow new extracts.",
            )
        ]
    )
