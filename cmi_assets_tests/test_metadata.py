"""Metadata as a reader sees it (issue 19): numbers rounded, tables not JSON, states named,
every raw column described in words from its spec."""

import dagster as dg
import polars as pl

from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.metadata import (
    frame_table,
    is_blob,
    mapping_table,
    number,
    shown,
    state_label,
    states_named,
    text_list,
    transposed,
)
from cmi_assets.sources import all_specs


def test_numbers_keep_four_significant_digits():
    assert number(0.8244662320211019) == 0.8245
    assert number(409.8982830073587) == 409.9
    assert number(1.63682792e-05) == 1.637e-05
    assert number(0.0) == 0.0 and number(float("nan")) is None
    assert number(7) == 7 and number(True) is True and number("x") == "x"


def test_dicts_and_lists_become_tables_and_short_texts():
    sizes = mapping_table({"population": 6901, "validation": 354}, "sample", "children")
    assert isinstance(sizes, dg.TableMetadataValue)
    assert [r.data for r in sizes.records] == [
        {"sample": "population", "children": 6901},
        {"sample": "validation", "children": 354},
    ]
    assert text_list(["single_parent", "parenting_demands"]).value == "single_parent, parenting_demands"
    by_level = transposed({"conservative": {"persons": 10, "mean_size": 4.77261}, "less_conservative": {"persons": 9}})
    assert [c.name for c in by_level.schema.columns] == ["measure", "conservative", "less_conservative"]
    assert by_level.records[1].data == {"measure": "mean_size", "conservative": 4.773, "less_conservative": None}
    frame = frame_table(pl.DataFrame({"state": ["CA"], "rate": [0.098802]}))
    assert frame.records[0].data == {"state": "CA", "rate": 0.0988}
    assert [c.type for c in frame.schema.columns] == ["string", "float"]
    for value in ({"a": 1}, [1, 2], [{"a": 1}], 0.123456):
        assert not is_blob(shown(value))
    assert is_blob(dg.MetadataValue.json({"a": 1})) and is_blob('{"a": 1}') and not is_blob("a, b")


def test_states_are_named_or_quoted():
    assert state_label("OK") == "Oklahoma (OK)"
    assert state_label("AA") == "'AA'"
    assert states_named(["GA", "MI"]) == "Georgia (GA), Michigan (MI)"
    assert states_named([]) == "none"


def test_every_raw_column_is_described_in_words_from_its_spec():
    specs = all_specs()
    assert len(RAW_ASSETS) == len(specs)
    for asset in RAW_ASSETS:
        schema = asset.specs_by_key[asset.key].metadata["dagster/column_schema"]
        agency = specs[asset.key.path[-1].removeprefix("raw_")]
        names = {rt.name for rt in agency.record_types.values()} | {
            rt.table_name for rt in agency.record_types.values()
        }
        for column in schema.columns:
            text = (column.description or "").strip()
            bare = text.split(";")[0].split(" (")[0].strip()
            assert len(text.split()) >= 3 and bare not in names, (asset.key.to_user_string(), column.name, text)
    for agency in specs.values():
        for record_type in agency.record_types.values():
            for column in record_type.columns:
                assert column.description, f"{record_type.table_name}.{column.name} has no description in its spec"


def test_table_metadata_names_the_table_in_its_zone_with_its_columns():
    from cmi_assets.metadata import column_schema, table_metadata

    metadata = table_metadata("warehouse", "prm.scores", [("person_key", "VARCHAR", "child key"), ("rank", "INTEGER")])
    assert metadata["dagster/table_name"] == "warehouse.prm.scores" and metadata["zone"] == "warehouse"
    columns = metadata["dagster/column_schema"].columns
    assert [(c.name, c.type, c.description) for c in columns] == [
        ("person_key", "VARCHAR", "child key"),
        ("rank", "INTEGER", None),
    ]
    assert "dagster/column_schema" not in table_metadata("identified", "links")
    assert column_schema([]).columns == []
