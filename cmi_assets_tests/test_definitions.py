"""The code location loads, quickly, with every asset carrying what users rely on."""

from __future__ import annotations

import subprocess
import sys

# Assets that are models or reports rather than tables: no column schema, no row count.
# Each entry says what the asset is instead; anything else that materializes must
# declare `dagster/column_schema` and record `dagster/row_count` (issue 6, item 5).
NOT_TABLES = {
    "community_atlas": "county (and postcode) maps in metadata and one HTML atlas",
    "community_gradient": "the deprivation gradient as metadata tables and a chart",
    "linkage_model": "the trained Splink model, one JSON artefact",
    "linkage_quality": "precision/recall measures against the synthetic truth, metadata only",
    "prm_model": "the fitted model artefact and its model card",
    "cfsr_report": "an HTML/PNG report per state",
    "feasibility_report": "the HTML/markdown feasibility report",
    "incidence_report": "an HTML/PNG report per birth cohort",
}


def table_assets_without_row_count(instance, graph) -> tuple[list[str], list[str]]:
    """(table assets whose latest materialization lacks `dagster/row_count`, table assets
    checked). Only assets with a materialization in `instance` are checked, so any test
    that has materialized a world can call it (test_walkthrough does)."""
    import dagster as dg

    missing, checked = [], []
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        if name in NOT_TABLES or not graph.get(key).is_materializable:
            continue
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
        if not records:
            continue
        checked.append(name)
        if "dagster/row_count" not in records[0].asset_materialization.metadata:
            missing.append(name)
    return sorted(missing), sorted(checked)


def test_code_location_loads_with_groups_kinds_owners_descriptions():
    from cmi_assets.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
    assert keys, "no assets defined"
    for key in keys:
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", f"{key} has no group"
        assert node.kinds, f"{key} has no kinds"
        assert node.owners, f"{key} has no owners"
        assert node.description, f"{key} has no description"


def test_code_location_imports_without_heavy_libraries():
    """Definitions must not import Splink, GX, scikit-learn, statsmodels, scipy or matplotlib
    (charts.py defers pyplot to the first chart): loading the code location has to stay fast
    for the webserver and the daemon. How fast is measured by benchmarks/bench_load_time.py
    (BENCHMARKS.md), not here, where the machine's other work would decide it."""
    code = (
        "import sys; "
        "from cmi_assets.definitions import defs; defs(); "
        "heavy=[m for m in ('splink','great_expectations','sklearn','statsmodels','scipy','matplotlib') "
        "if m in sys.modules]; "
        "print('loaded', ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "loaded"
    assert len(out) == 1, f"heavy modules imported at definition time: {out[1:]}"


def test_every_table_asset_declares_its_column_schema():
    """`dagster/column_schema` in the definition metadata, so the UI shows the columns
    before anything is materialized; models and reports are listed in NOT_TABLES."""
    from cmi_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    materializable = {
        k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
    }
    assert set(NOT_TABLES) <= set(materializable), f"stale NOT_TABLES entries: {set(NOT_TABLES) - set(materializable)}"
    missing = sorted(
        name
        for name, node in materializable.items()
        if name not in NOT_TABLES and "dagster/column_schema" not in (node.metadata or {})
    )
    assert not missing, f"assets writing tables without dagster/column_schema in their definition metadata: {missing}"
    for name, node in materializable.items():
        if name not in NOT_TABLES:
            schema = node.metadata["dagster/column_schema"]
            assert getattr(schema, "schema", schema).columns, f"{name}: empty column schema"
