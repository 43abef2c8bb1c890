"""What the linkage assets read besides their upstream tables: the staged models and tables
they depend on, the event tables' column schema, the current model's artefact and the
pseudonym secret. A missing model or secret fails the run with the reason."""

from pathlib import Path

import dagster as dg

from cmi_assets.cohorts.events import EVENT_TABLES
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.events import staged_tables_read
from cmi_assets.linkage.keys import MissingPseudonymKey
from cmi_assets.linkage.keys import pseudonym_secret as read_secret
from cmi_assets.linkage.model_store import ModelStore, NoLinkageModel
from cmi_assets.metadata import column_schema
from cmi_assets.sources.spec import all_specs


def staged_person_models() -> list[dg.AssetKey]:
    """Every staged model of a record type whose spec has a `persons:` list."""
    return [
        dg.AssetKey(f"stg_{agency.agency}_{spec.name}")
        for agency in all_specs().values()
        for spec in agency.record_types.values()
        if spec.persons
    ]


def event_table_deps() -> list:
    return ["person_spine", *staged_tables_read()]


def event_tables_schema() -> dg.TableSchema:
    return column_schema(
        [
            (f"{table}.{column}", kind)
            for table, columns in EVENT_TABLES.items()
            for column, kind in {"linkage_level": "VARCHAR", **columns}.items()
        ]
    )


def current_model_path(storage: StorageResource) -> Path:
    """The current model's artefact."""
    try:
        return ModelStore(storage.storage().data_dir).current_path()
    except NoLinkageModel as error:
        raise dg.Failure(description=str(error)) from None


def pseudonym_secret() -> bytes:
    """The HMAC secret of the person keys."""
    try:
        return read_secret()
    except MissingPseudonymKey as error:
        raise dg.Failure(description=str(error)) from None
