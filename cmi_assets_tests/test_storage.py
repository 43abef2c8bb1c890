"""Where the zones' files live (cmi_assets/storage.py): both in the data folder by default;
with CMI_IDENTIFIED_DIR the identified file in a folder of its own, for every way the
project builds its storage (Storage.from_env, and the storage resources the assets use)."""

from __future__ import annotations

import pytest

from cmi_assets.defs.resources import AnalystStorageResource, StorageResource
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage, ZoneRefusedError


def _write_one_row(storage: Storage, zone: str) -> None:
    with storage.connect(zone) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS n")


@pytest.fixture
def folders(tmp_path, monkeypatch):
    data, private = tmp_path / "data", tmp_path / "private"
    monkeypatch.setenv("CMI_DATA_DIR", str(data))
    for name in ("CMI_LANDING_DIR", "CMI_QUARANTINE_DIR", "CMI_TRUTH_DIR", "CMI_IDENTIFIED_DIR"):
        monkeypatch.delenv(name, raising=False)
    return data, private


def test_both_zones_live_in_the_data_folder_by_default(folders):
    data, private = folders
    storage = Storage.from_env()
    for zone in (IDENTIFIED, WAREHOUSE):
        _write_one_row(storage, zone)
    assert sorted(p.name for p in data.iterdir()) == ["identified.duckdb", "warehouse.duckdb"]
    assert not private.exists()


def test_cmi_identified_dir_holds_the_identified_file_and_the_warehouse_stays(folders, monkeypatch):
    data, private = folders
    monkeypatch.setenv("CMI_IDENTIFIED_DIR", str(private))
    for storage in (Storage.from_env(), StorageResource().storage()):
        assert storage.zone_path(IDENTIFIED) == private.resolve() / "identified.duckdb"
        assert storage.zone_path(WAREHOUSE) == data.resolve() / "warehouse.duckdb"
    _write_one_row(Storage.from_env(), IDENTIFIED)
    with StorageResource().warehouse() as con:  # the assets' resource, as a run opens it
        con.execute("CREATE TABLE t AS SELECT 1 AS n")
    with StorageResource().identified(read_only=True) as con:
        assert con.execute("SELECT n FROM t").fetchall() == [(1,)]
    assert [p.name for p in private.iterdir()] == ["identified.duckdb"]
    assert [p.name for p in data.iterdir()] == ["warehouse.duckdb"]
    # the analyst's storage still refuses the identified zone, and creates nothing for it
    with pytest.raises(ZoneRefusedError):
        with AnalystStorageResource().identified():
            pass
    assert [p.name for p in private.iterdir()] == ["identified.duckdb"]


def test_a_data_dir_given_to_the_resource_keeps_the_identified_folder_of_the_environment(
    folders, monkeypatch, tmp_path
):
    """`cmi review export --data-dir` and the like: the deployment's identified folder holds."""
    _, private = folders
    monkeypatch.setenv("CMI_IDENTIFIED_DIR", str(private))
    other = tmp_path / "other"
    storage = StorageResource(data_dir=str(other)).storage()
    assert storage.zone_path(IDENTIFIED) == private.resolve() / "identified.duckdb"
    assert storage.zone_path(WAREHOUSE) == other.resolve() / "warehouse.duckdb"
