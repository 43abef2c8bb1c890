"""Staged dbt_like_sql models as Dagster assets: deps from the SQL, metadata without values."""

from __future__ import annotations

import csv

import dagster as dg

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS, build_sql_model_asset
from cmi_assets.sqlmodels import DBT_LIKE_SQL_DIR, discover_models, parse_model
from cmi_assets.storage import IDENTIFIED

STAGED = {asset.key.to_user_string(): asset for asset in SQL_MODEL_ASSETS}
RAW = {asset.key.to_user_string(): asset for asset in RAW_ASSETS}
AREAS_FILE = "reference_areas_2021.csv"


def test_one_asset_per_model_with_deps_parsed_from_the_sql():
    models = {m.name: m for m in discover_models(DBT_LIKE_SQL_DIR)}
    assert set(STAGED) == set(models)
    for name, asset in STAGED.items():
        spec = asset.specs_by_key[asset.key]
        agency = models[name].depends_on_raw_agencies[0]
        assert {dep.asset_key for dep in spec.deps} == {dg.AssetKey(f"raw_{agency}")}
        assert name.startswith(f"stg_{agency}_")
        assert spec.group_name == "staging"
        assert set(spec.kinds) == {"duckdb", "sql"}
        assert spec.owners == ["team:data-engineering"]
        assert spec.description == models[name].description
        assert asset.op.pool == DUCKDB_WRITE_POOL


def test_a_model_reading_another_model_depends_on_it(tmp_path):
    (tmp_path / "stg_base.sql").write_text("-- Base.\nselect * from raw.reference__areas")
    path = tmp_path / "mart_areas.sql"
    path.write_text(
        "-- Derived.\nwith stg_base as (select 1) select * from stg.stg_base join raw.health__maternity on true"
    )
    asset = build_sql_model_asset(parse_model(path, {"stg_base", "mart_areas"}))
    deps = {dep.asset_key for dep in asset.specs_by_key[asset.key].deps}
    assert deps == {dg.AssetKey("stg_base"), dg.AssetKey("raw_health")}


def _land_areas(storage) -> None:
    folder = storage.landing_dir / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / AREAS_FILE, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["postcode", "county_fips", "office_code", "deprivation_decile"])
        writer.writerow(["12345", "001", "O07 ", "3"])
        writer.writerow(["54321", "003", " O12", "10"])


def test_staged_model_materializes_with_row_count_schema_and_sql(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    _land_areas(storage_env)
    instance.add_dynamic_partitions("reference_extracts", [AREAS_FILE])
    result = dg.materialize(
        [RAW["raw_reference"], STAGED["stg_reference_areas"]],
        instance=instance,
        partition_key=AREAS_FILE,
        resources={"storage": StorageResource()},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("stg_reference_areas")[0].metadata
    assert metadata["dagster/row_count"].value == 2
    columns = {c.name: c.type for c in metadata["dagster/column_schema"].schema.columns}
    assert list(columns)[:5] == ["record_key", "postcode", "county_fips", "office_code", "deprivation_decile"]
    assert columns["deprivation_decile"] == "BIGINT"
    sql = metadata["sql"].value
    assert sql.startswith("```sql\n") and "from raw.reference__areas" in sql
    assert "12345" not in repr(metadata) and "54321" not in repr(metadata)
    # column lineage both as Dagster's structure and as a table the open-source UI shows
    deps = metadata["dagster/column_lineage"].value.deps_by_column["office_code"]
    assert [(d.asset_key, d.column_name) for d in deps] == [(dg.AssetKey("raw_reference"), "office_code")]
    assert "| `office_code` | `raw_reference.office_code` |" in metadata["column_lineage"].value

    with storage_env.connect(IDENTIFIED, read_only=True) as con:
        offices = con.execute("select office_code from stg.stg_reference_areas order by postcode").fetchall()
    assert offices == [("O07",), ("O12",)]


def test_staged_model_runs_before_its_agency_delivered_anything(storage_env):
    result = dg.materialize(
        [STAGED["stg_health_maternity"]],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"storage": StorageResource()},
    )
    assert result.success
    assert result.asset_materializations_for_node("stg_health_maternity")[0].metadata["dagster/row_count"].value == 0


def test_code_location_carries_the_sources_and_staging_assets():
    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert set(RAW) | set(STAGED) <= keys
    assert graph.get(dg.AssetKey("stg_births_registrations")).parent_keys == {dg.AssetKey("raw_births")}
    check_keys = {key.name for key in graph.asset_check_keys if key.asset_key == dg.AssetKey("raw_births")}
    assert check_keys == {"schema_valid", "keys_unique"}
