"""open_data_package on a real Dagster instance and a real warehouse file."""

import dagster as dg
import duckdb
import frictionless

from cmi_assets.community.schema import INDICATORS_TABLE
from cmi_assets.defs.publish.assets import PACKAGE_SUBDIR, open_data_package
from cmi_assets.defs.resources import StorageResource
from cmi_assets.publish.disclosure import protect_indicator_table
from cmi_assets_tests.publish.worlds import children_frame, long_table


def test_open_data_package_writes_and_reports(storage_env, tmp_path):
    rows = [("09001", f"0600{p}", s, 1 + i % 2, int(i % 5 == 0)) for p in range(2) for s in "FM" for i in range(25)]
    published = protect_indicator_table(long_table(children_frame(rows)))
    storage_env.data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(storage_env.zone_path("warehouse")))
    con.execute("create schema community")
    con.register("published", published.to_arrow())
    con.execute(f"create table {INDICATORS_TABLE} as select * from published")
    con.close()
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.materialize([open_data_package], resources={"storage": StorageResource()}, instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("open_data_package"))
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == published.height
    out = storage_env.data_dir.joinpath(*PACKAGE_SUBDIR)
    assert frictionless.validate(str(out / "datapackage.json")).valid
    assert {r.data["file"] for r in metadata["files"].value.records} == {"community_indicators.csv"}


def test_open_data_package_publishes_every_table(storage_env, tmp_path):
    from cmi_assets_tests.publish.worlds import linked_world, write_warehouse

    storage_env.data_dir.mkdir(parents=True, exist_ok=True)
    write_warehouse(storage_env.zone_path("warehouse"), linked_world(1).warehouse)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.materialize([open_data_package], resources={"storage": StorageResource()}, instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("open_data_package"))
    files = {r.data["file"]: r.data["rows"] for r in event.asset_materialization.metadata["files"].value.records}
    assert set(files) == {"community_indicators.csv", "cfsr_recurrence.csv", "incidence_rates.csv"}
    out = storage_env.data_dir.joinpath(*PACKAGE_SUBDIR)
    report = frictionless.validate(str(out / "datapackage.json"))
    assert report.valid and report.stats["tasks"] == 3
    deps = {d.asset_key.to_user_string() for d in open_data_package.specs_by_key[dg.AssetKey("open_data_package")].deps}
    assert deps == {"community_indicators", "cfsr_recurrence", "incidence_rates"}
