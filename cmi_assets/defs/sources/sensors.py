"""One landing sensor per agency (default RUNNING): a new extract in landing/<agency>/
adds a dynamic partition of raw_<agency> and requests a run for it. The decisions
live in cmi_assets.sources.landing_watch; this module only talks to Dagster."""

from __future__ import annotations

import os
import time

import dagster as dg

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import raw_asset_name
from cmi_assets.defs.sources.partitions import extract_partitions
from cmi_assets.sources import AgencySpec, all_specs, file_sha256
from cmi_assets.sources.landing_watch import WatchState, observe_folder, plan_tick

# How often each landing sensor looks at its folder. Tests and the scripted walk-through
# (scripts/walkthrough.py) set CMI_LANDING_SENSOR_INTERVAL_SECONDS to tick faster; a user
# gets 30 s.
SENSOR_INTERVAL_SECONDS = int(os.environ.get("CMI_LANDING_SENSOR_INTERVAL_SECONDS", "30"))
SETTLE_SECONDS = 10.0


def landing_sensor_name(agency: str) -> str:
    return f"landing_{agency}"


class InstanceLedger:
    """The sensor's per-file ledger (see cmi_assets.sources.landing_watch), kept in the
    Dagster instance's key-value store beside the cursor: SQLite under DAGSTER_HOME or
    Postgres, whichever the instance uses. The cursor itself stays a few hundred bytes."""

    def __init__(self, instance: dg.DagsterInstance, sensor_name: str):
        self._storage = instance.daemon_cursor_storage
        self.key = f"cmi/landing_watch/{sensor_name}"

    def read(self) -> str | None:
        return self._storage.get_cursor_values({self.key}).get(self.key)

    def write(self, value: str) -> None:
        self._storage.set_cursor_values({self.key: value})


def _materialized_sha256(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: set[str]):
    """The hash recorded by the latest materialization of one partition, if any (only
    asked for files the ledger has not seen; a name that is no partition yet needs no query)."""

    def lookup(partition: str) -> str | None:
        if partition not in partitions:
            return None
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
        ).records
        if not records or records[0].asset_materialization is None:
            return None
        value = records[0].asset_materialization.metadata.get("sha256")
        return value.value if value is not None else None

    return lookup


def build_landing_sensor(agency: AgencySpec) -> dg.SensorDefinition:
    asset_key = dg.AssetKey(raw_asset_name(agency.agency))
    partitions = extract_partitions(agency.agency)

    @dg.sensor(
        name=landing_sensor_name(agency.agency),
        description=(
            f"Watches landing/{agency.agency}/: each new or corrected extract file becomes a partition "
            f"of {asset_key.to_user_string()} and a run. Files still being written wait. The cursor counts the "
            f"files acted on and names their ledger (size, mtime and SHA-256 per file), which is kept in the "
            f"instance's key-value store under cmi/landing_watch/{landing_sensor_name(agency.agency)}."
        ),
        asset_selection=[asset_key],
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
        folder = storage.storage().landing_dir / agency.agency
        observations = observe_folder(folder)
        ledger = InstanceLedger(context.instance, landing_sensor_name(agency.agency))
        previous = WatchState.from_cursor(context.cursor, ledger)
        if previous.ledger_missing:
            context.log.warning(
                "the file ledger named by the cursor is gone (instance wiped or cursor reset): "
                f"re-hashing {len(observations)} file(s) once; files already loaded do not run again"
            )
        unseen = {o.name for o in observations} - set(previous.acted)
        existing = set(context.instance.get_dynamic_partitions(partitions.name)) if unseen else set()
        state, requests = plan_tick(
            observations,
            previous,
            sha256_of=lambda name: file_sha256(folder / name),
            now_ns=time.time_ns(),
            settle_seconds=SETTLE_SECONDS,
            materialized_sha256=_materialized_sha256(context.instance, asset_key, existing),
        )
        if requests and not unseen:
            existing = set(context.instance.get_dynamic_partitions(partitions.name))
        new_keys = [r.name for r in requests if r.name not in existing]
        if requests:
            context.log.info(f"{len(requests)} extract(s) to load, {len(new_keys)} new partition(s)")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=r.run_key,
                    partition_key=r.name,
                    asset_selection=[asset_key],
                    tags={"cmi/extract_sha256": r.sha256, "cmi/agency": agency.agency},
                )
                for r in requests
            ],
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)] if new_keys else [],
            cursor=state.to_cursor(ledger),
            skip_reason=None
            if requests
            else (
                f"{len(observations)} file(s) in landing/{agency.agency}/, none new or changed"
                + (f"; {len(state.settling)} still being written" if state.settling else "")
            ),
        )

    return landing_sensor


LANDING_SENSORS = [build_landing_sensor(spec) for spec in all_specs().values()]
