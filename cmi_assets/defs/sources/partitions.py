"""One dynamic partition per landed extract file, per agency (key = file name)."""

from __future__ import annotations

import dagster as dg

from cmi_assets.sources import all_specs, new_partition_keys
from cmi_assets.storage import Storage

EXTRACT_PARTITIONS: dict[str, dg.DynamicPartitionsDefinition] = {
    agency: dg.DynamicPartitionsDefinition(name=f"{agency}_extracts") for agency in all_specs()
}


def extract_partitions(agency: str) -> dg.DynamicPartitionsDefinition:
    return EXTRACT_PARTITIONS[agency]


def partition_keys_to_add(instance: dg.DagsterInstance, storage: Storage, agency: str) -> list[str]:
    """Landed files of `agency` that are not yet partitions of raw_<agency> (for a sensor)."""
    partitions = extract_partitions(agency)
    existing = instance.get_dynamic_partitions(partitions.name)
    return new_partition_keys(storage.landing_dir, agency, existing)
