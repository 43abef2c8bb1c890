"""data.json against DCAT-US 1.1 as data.gov's harvester checks a state's catalog: the
non-federal schema of GSA's `ckanext-datajson` (the harvester data.gov runs). The schema is
fetched at run time from that package's wheel on PyPI (never installed, never committed),
as the FEBRL benchmark fetches its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEEL = "ckanext-datajson==0.1.29"
SCHEMA_DIR = "ckanext/datajson/pod_schema/non-federal-v1.1/"


@pytest.fixture(scope="session")
def dcat_schemas(tmp_path_factory) -> dict[str, dict]:
    dest = tmp_path_factory.mktemp("dcat_wheel")
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(dest)],
        capture_output=True,
        text=True,
    )
    wheels = list(dest.glob("*.whl"))
    if fetched.returncode or not wheels:
        message = f"could not fetch {WHEEL} from PyPI for the DCAT-US schema: {fetched.stderr.strip()[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with zipfile.ZipFile(wheels[0]) as archive:
        names = [n for n in archive.namelist() if n.startswith(SCHEMA_DIR) and n.endswith(".json")]
        return {Path(n).name: json.loads(archive.read(n)) for n in names}


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
