"""raw_<agency> through Dagster: a real ephemeral instance, a real DuckDB file in tmp_path."""

from __future__ import annotations

import csv

import dagster as dg
import pytest

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.sources.partitions import partition_keys_to_add
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS
from cmi_assets.sources.spec import all_specs, load_spec
from cmi_assets.storage import IDENTIFIED

RAW = {asset.key.to_user_string(): asset for asset in RAW_ASSETS}
STAGED = {asset.key.to_user_string(): asset for asset in SQL_MODEL_ASSETS}
GOOD, BAD = "births_registrations_2010.csv", "births_registrations_2011.csv"
BAD_DOB = "2011-13-45"


def _row(reg_number: str, given: str, dob: str = "2011-01-20") -> dict[str, str]:
    return {
        "reg_number": reg_number,
        "reg_date": "2011-02-03",
        "child_given_names": given,
        "child_family_name": "Smith",
        "child_dob": dob,
        "child_sex": "F",
        "birth_weight_g": "3200",
        "gestation_weeks": "39",
        "plurality": "1",
        "ethnicity": "WHITE",
        "mother_given_names": "Jane",
        "mother_family_name": "Smith",
        "mother_birth_family_name": "",
        "mother_dob": "1985-04-04",
        "father_given_names": "",
        "father_family_name": "",
        "father_dob": "",
        "previous_children_same_parents": "0",
        "address_line": "1 High St",
        "postcode": "12345",
    }


def _land(storage, name: str, rows: list[dict[str, str]]):
    folder = storage.landing_dir / "births"
    folder.mkdir(parents=True, exist_ok=True)
    columns = load_spec("births").record_types["registrations"].column_names
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[row[c] for c in columns] for row in rows])
    return folder / name


def _materialize(instance, keys, partition_key):
    return dg.materialize(
        [RAW[k] if k in RAW else STAGED[k] for k in keys],
        instance=instance,
        partition_key=partition_key,
        resources={"storage": StorageResource()},
        raise_on_error=False,
    )


def _raw_rows_by_file(storage):
    with storage.connect(IDENTIFIED, read_only=True) as con:
        return dict(
            con.execute("select _extract_file, count(*) from raw.births__registrations group by all").fetchall()
        )


def _checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_every_agency_has_a_raw_asset_with_blocking_checks_and_partitions():
    assert set(RAW) == {f"raw_{agency}" for agency in all_specs()}
    for name, asset in RAW.items():
        agency = name.removeprefix("raw_")
        spec = asset.specs_by_key[asset.key]
        assert asset.partitions_def.name == f"{agency}_extracts"
        assert spec.group_name == "sources"
        assert set(spec.kinds) == {"duckdb", "csv"}
        assert spec.owners == ["team:data-engineering"]
        assert spec.description == load_spec(agency).description
        assert asset.op.pool == DUCKDB_WRITE_POOL
        checks = {c.name: c for c in asset.check_specs}
        assert set(checks) == {"schema_valid", "keys_unique"}
        assert all(c.blocking for c in checks.values())


def test_good_then_bad_then_corrected_extract(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    _land(storage_env, GOOD, [_row("B000000001", "Ann"), _row("B000000002", "Bea")])
    bad_path = _land(storage_env, BAD, [_row("B000000003", "Cat"), _row("B000000004", "Dot", dob=BAD_DOB)])
    assert partition_keys_to_add(instance, storage_env, "births") == [GOOD, BAD]
    instance.add_dynamic_partitions("births_extracts", [GOOD, BAD])
    assert partition_keys_to_add(instance, storage_env, "births") == []

    # 1. A good extract loads, passes both checks, and the staged model follows in the same run.
    first = _materialize(instance, ["raw_births", "stg_births_registrations"], GOOD)
    assert first.success
    raw_event = first.asset_materializations_for_node("raw_births")[0]
    metadata = raw_event.metadata
    assert metadata["rows"].value == 2
    assert metadata["record_type"].value == "registrations"
    assert len(metadata["sha256"].value) == 64
    columns = [c.name for c in metadata["loaded_columns"].schema.columns]
    assert columns[:2] == ["reg_number", "reg_date"] and "_extract_sha256" in columns
    assert all(check.passed for check in _checks(first).values())
    assert _checks(first)["keys_unique"].metadata["key"].value == "reg_number"
    assert _checks(first)["schema_valid"].metadata["rows_checked"].value == 2
    assert [m.asset_key.to_user_string() for m in first.get_asset_materialization_events()] == [
        "raw_births",
        "stg_births_registrations",
    ]

    # 2. A bad extract: blocking check fails naming file, line and field (no value), the file is
    #    quarantined, nothing is loaded, the first partition is intact, the staged model does not run.
    second = _materialize(instance, ["raw_births", "stg_births_registrations"], BAD)
    assert not second.success
    checks = _checks(second)
    schema_valid = checks["schema_valid"]
    assert not schema_valid.passed
    assert schema_valid.severity == dg.AssetCheckSeverity.ERROR
    assert schema_valid.description == f"{BAD} line 3, field child_dob: not a date in format %Y-%m-%d"
    assert checks["keys_unique"].passed
    assert _by_rule(schema_valid.metadata["problems_by_rule"]) == {"date": 1}
    shown = repr(second.get_asset_check_evaluations()) + repr(second.asset_materializations_for_node("raw_births"))
    assert BAD_DOB not in shown and "Dot" not in shown
    assert second.asset_materializations_for_node("raw_births")[0].metadata["loaded"].value is False
    assert [m.asset_key.to_user_string() for m in second.get_asset_materialization_events()] == ["raw_births"]
    assert not bad_path.exists()
    quarantined = storage_env.quarantine_dir / "births" / BAD
    assert quarantined.exists() and (storage_env.quarantine_dir / "births" / f"{BAD}.reason.txt").exists()
    assert _raw_rows_by_file(storage_env) == {GOOD: 2}

    # 3. Re-running the partition while the file is in quarantine says so.
    again = _materialize(instance, ["raw_births"], BAD)
    assert not again.success
    failure = again.get_step_failure_events()[0].step_failure_data
    assert "quarantined" in failure.user_failure_data.description

    # 4. A corrected file with the same name loads into that partition, then a second
    #    correction replaces (not adds to) its rows.
    _land(storage_env, BAD, [_row("B000000003", "Cat"), _row("B000000004", "Dot"), _row("B000000005", "Eve")])
    assert _materialize(instance, ["raw_births", "stg_births_registrations"], BAD).success
    assert _raw_rows_by_file(storage_env) == {GOOD: 2, BAD: 3}
    _land(storage_env, BAD, [_row("B000000003", "Cat")])
    assert _materialize(instance, ["raw_births"], BAD).success
    assert _raw_rows_by_file(storage_env) == {GOOD: 2, BAD: 1}
    assert quarantined.exists()  # the earlier bad copy is kept


def test_duplicate_keys_fail_the_keys_check(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    _land(storage_env, GOOD, [_row("B000000001", "Ann"), _row("B000000001", "Ann")])
    instance.add_dynamic_partitions("births_extracts", [GOOD])
    result = _materialize(instance, ["raw_births"], GOOD)
    assert not result.success
    checks = _checks(result)
    assert checks["schema_valid"].passed
    assert not checks["keys_unique"].passed
    assert checks["keys_unique"].description == f"{GOOD} line 3, field reg_number: duplicate key (first on line 2)"
    assert _by_rule(checks["keys_unique"].metadata["problems_by_rule"]) == {"duplicate_key": 1}


def test_a_vanished_file_says_so(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("births_extracts", [GOOD])
    result = _materialize(instance, ["raw_births"], GOOD)
    assert not result.success
    description = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "never quarantined" in description


@pytest.mark.parametrize("agency", sorted(all_specs()))
def test_partitions_definition_is_named_per_agency(agency):
    assert RAW[f"raw_{agency}"].partitions_def == dg.DynamicPartitionsDefinition(name=f"{agency}_extracts")


def _by_rule(value) -> dict:
    """The problems_by_rule table as {rule: problems}."""
    return {r.data["rule"]: r.data["problems"] for r in value.records}
