"""The incidence group through Dagster on a small world of the `incidence` profile linked
perfectly (both levels the truth linkage) in a real warehouse DuckDB file, with the world's
truth files: every table lands, the checks run, the comparison's known count equals the
truth's, the report's HTML is written, and no person_key reaches the metadata."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from cmi_assets.defs.incidence import assets as incidence_assets
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.incidence.loglinear import candidate_models
from cmi_assets.storage import WAREHOUSE
from cmi_assets_tests.incidence.truth_world import load_both_levels

YEAR = "2012"


@pytest.fixture(scope="module")
def world():
    from cmi_assets.synthetic.profile import load_profile
    from cmi_assets.synthetic.world import simulate_world

    return simulate_world(load_profile("incidence"), 0.02, 4)


def test_assets_carry_group_pool_and_automation():
    for asset in incidence_assets.INCIDENCE_ASSETS:
        spec = next(iter(asset.specs))
        assert spec.group_name == "incidence" and spec.owners and spec.kinds
        assert spec.automation_condition is not None
        assert DUCKDB_WRITE_POOL in {n.pool for n in asset.node_def.iterate_node_defs()}


def test_group_materializes_with_checks_truth_and_report(storage_env, world):
    from cmi_assets.synthetic.episodes import episodes_truth

    with storage_env.connect(WAREHOUSE) as con:
        load_both_levels(con, world)
    storage_env.truth_dir.mkdir(parents=True, exist_ok=True)
    world.children.write_parquet(storage_env.truth_dir / "children.parquet")
    episodes_truth(world.episodes).write_parquet(storage_env.truth_dir / "maltreatment_episodes.parquet")

    result = dg.materialize(
        incidence_assets.INCIDENCE_ASSETS,
        partition_key=YEAR,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"storage": StorageResource()},
    )
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["overlap_cells_sum_to_union"].passed
    assert "estimate_identifiable_and_finite" in checks

    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        comparison = con.execute("select * from incidence.linkage_comparison order by linkage_level").pl()
        rates = con.execute("select * from incidence.rates").pl()
        models = con.execute("select * from incidence.models where linkage_level = 'conservative'").pl()
        head = con.execute("select * from incidence.estimate where linkage_level = 'conservative'").pl()
        children_cols = [r[0] for r in con.execute("describe incidence.children").fetchall()]
        # the declared column schemas (shown in the UI before anything runs) are the tables written
        for asset_name, table in (
            ("incidence_rates", "rates"),
            ("incidence_overlap", "overlap"),
            ("incidence_estimate", "estimate"),
            ("incidence_linkage_comparison", "linkage_comparison"),
        ):
            asset = next(a for a in incidence_assets.INCIDENCE_ASSETS if a.key.to_user_string() == asset_name)
            declared = asset.specs_by_key[dg.AssetKey(asset_name)].metadata["dagster/column_schema"].columns
            described = con.execute(f"describe incidence.{table}").fetchall()
            assert [(c.name, c.type) for c in declared] == [(row[0], row[1]) for row in described], table
    by_level = {r["linkage_level"]: r for r in comparison.iter_rows(named=True)}
    assert set(by_level) == {"conservative", "less_conservative", "truth"}
    # the truth linkage: the union known to an agency is the truth's known count, on the same population
    assert by_level["conservative"]["known"] == by_level["truth"]["known"] > 0
    assert by_level["conservative"]["population"] == by_level["truth"]["population"]
    assert models.height == len(candidate_models(3)) and models["selected"].sum() <= 1
    # the headline is the AIC-weighted average of the models table, the selected model beside it
    head = head.row(0, named=True)
    usable = models.filter(pl.col("identifiable"))
    assert head["total"] == pytest.approx((usable["aic_weight"] * usable["total"]).sum(), rel=1e-9)
    assert head["total_lower"] <= head["total"] <= head["total_upper"]
    assert head["undetected"] == pytest.approx(head["total"] - head["known"], rel=1e-9)
    chosen = models.filter(pl.col("selected")).row(0, named=True)
    assert (head["selected_model"], head["selected_total"], head["selected_profile_upper"]) == (
        chosen["model"],
        pytest.approx(chosen["total"], rel=1e-9),
        pytest.approx(chosen["total_upper"], rel=1e-9),
    )
    # the selection-aware interval holds the model's own profile interval
    assert head["selected_lower"] <= head["selected_profile_lower"] <= head["selected_total"]
    assert head["selected_total"] <= head["selected_profile_upper"] <= head["selected_upper"]
    assert 0 < head["selected_reselected_share"] <= 1
    assert head["headline_method"].startswith("AIC-weighted average of")
    estimate_meta = result.asset_materializations_for_node("incidence_estimate")[0].metadata
    assert estimate_meta["headline"].value == head["headline_method"]
    assert estimate_meta["selected_model"].value == head["selected_model"]
    assert "independence_total" in estimate_meta
    assert rates.filter(pl.col("suppressed"))["children"].null_count() == rates.filter(pl.col("suppressed")).height
    assert not {"given_name", "family_name", "dob", "true_person_id"} & set(children_cols)

    report = result.asset_materializations_for_node("incidence_report")[0].metadata
    assert "per 1,000 children born in 2012 were known to at least one agency by age 5" in report["sentence"].value
    assert report["curves"].value.startswith("![curves")
    html_text = (storage_env.data_dir / "reports" / "incidence" / "incidence_2012.html").read_text()
    assert "headline: model-averaged" in html_text and "independence model" in html_text
    assert (storage_env.data_dir / "reports" / "incidence" / "incidence_2012.html").exists()
    with storage_env.connect(WAREHOUSE, read_only=True) as con:
        keys = set(con.execute("select person_key from incidence.children").pl()["person_key"])
    for event in result.all_events:
        text = str(event.event_specific_data)
        assert not any(f"'{key}'" in text for key in list(keys)[:200])
