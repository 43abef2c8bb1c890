"""One landing sensor per agency (default RUNNING): a new extract in landing/<agency>/
adds a dynamic partition of raw_<agency> and requests a run for it. The decisions
live in cmi_assets.sources.landing_watch; this module only talks to Dagster."""

from __future__ import annotations

import time

import dagster as dg

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import raw_asset_name
from cmi_assets.defs.sources.partitions import extract_partitions
from cmi_assets.sources import AgencySpec, all_specs, file_sha256, landed_files
from cmi_assets.sources.landing_watch import FileObservation, WatchState, plan_tick

SENSOR_INTERVAL_SECONDS = 30
SETTLE_SECONDS = 10.0


def landing_sensor_name(agency: str) -> str:
    return f"landing_{agency}"


def _materialized_sha256(instance: dg.DagsterInstance, asset_key: dg.AssetKey):
    """The hash recorded by the latest materialization of one partition, if any."""

    def lookup(partition: str) -> str | None:
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
            f"of {asset_key.to_user_string()} and a run. Files still being written wait."
        ),
        asset_selection=[asset_key],
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
        paths = storage.storage()
        files = {f.name: f for f in landed_files(paths.landing_dir, agency.agency)}
        observations = [
            FileObservation(f.name, f.size, int(f.modified_at.timestamp() * 1e9)) for f in files.values()
        ]
        state, requests = plan_tick(
            observations,
            WatchState.from_cursor(context.cursor),
            sha256_of=lambda name: file_sha256(files[name].path),
            now_ns=time.time_ns(),
            settle_seconds=SETTLE_SECONDS,
            materialized_sha256=_materialized_sha256(context.instance, asset_key),
        )
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
            cursor=state.to_cursor(),
            skip_reason=None if requests else (
                f"{len(files)} file(s) in landing/{agency.agency}/, none new or changed"
                + (f"; {len(state.settling)} still being written" if state.settling else "")
            ),
        )

    return landing_sensor


LANDING_SENSORS = [build_landing_sensor(spec) for spec in all_specs().values()]
