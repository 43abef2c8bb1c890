"""data.json against DCAT-US 1.1 as data.gov's harvester checks a state's catalog: the
non-federal schema of GSA's `ckanext-datajson` (the harvester data.gov runs), vendored in
schemas/dcat_us_1_1_non_federal/ (its README names the source, version and licence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMA_DIR = Path(__file__).parent / "schemas" / "dcat_us_1_1_non_federal"


@pytest.fixture(scope="session")
def dcat_schemas() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(SCHEMA_DIR.glob("*.json"))}


def catalog_validator(schemas: dict[str, dict]):
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    catalog = schemas["catalog.json"]
    base = catalog["id"].rsplit("/", 1)[0] + "/"
    registry = Registry().with_resources(
        (base + name, Resource.from_contents(doc, default_specification=DRAFT4)) for name, doc in schemas.items()
    )
    return jsonschema.Draft4Validator(catalog, registry=registry)


def test_data_json_is_a_valid_dcat_us_1_1_catalog(package, dcat_schemas):
    out, _, _ = package
    catalog = json.loads((out / "data.json").read_text())
    validator = catalog_validator(dcat_schemas)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(catalog)]
    assert errors == []
    assert catalog["dataset"], "the catalog lists the package's tables"


def test_the_schema_rejects_what_a_harvester_would(package, dcat_schemas):
    out, _, _ = package
    validator = catalog_validator(dcat_schemas)
    catalog = json.loads((out / "data.json").read_text())
    catalog["dataset"][0].pop("accessLevel")
    assert list(validator.iter_errors(catalog))
    catalog = json.loads((out / "data.json").read_text())
    catalog["dataset"][0]["contactPoint"]["hasEmail"] = "open-data@localhost"
    assert list(validator.iter_errors(catalog))


def test_the_schema_is_read_offline(dcat_schemas):
    assert sorted(dcat_schemas) == ["catalog.json", "dataset-non-federal.json"]
    assert dcat_schemas["catalog.json"]["id"] == "https://project-open-data.cio.gov/v1.1/schema/catalog.json#"


def test_the_catalog_of_every_table_is_valid(linked_package, dcat_schemas):
    out, files, _, _ = linked_package
    catalog = json.loads((out / "data.json").read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in catalog_validator(dcat_schemas).iter_errors(catalog)]
    assert errors == []
    assert len(catalog["dataset"]) == len(files) == 3
