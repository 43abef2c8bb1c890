from __future__ import annotations

import hashlib

from cmi_assets.sources.landing import find_landed_file, landed_files, new_partition_keys


def test_landed_files_lists_complete_files_with_record_type_and_hash(tmp_path):
    folder = tmp_path / "benefits"
    folder.mkdir()
    (folder / "benefits_spells_2010.csv").write_bytes(b"spell_id\n")
    (folder / "benefits_children_2011.csv").write_bytes(b"abc")
    (folder / "benefits_spells_2011.csv.part").write_bytes(b"half")
    (folder / "benefits_spells_2012.csv.tmp").write_bytes(b"half")
    (folder / ".benefits_spells_2013.csv").write_bytes(b"hidden")
    (folder / "readme.txt").write_bytes(b"not an extract")
    (folder / "subfolder").mkdir()

    files = landed_files(tmp_path, "benefits")

    assert [f.name for f in files] == ["benefits_children_2011.csv", "benefits_spells_2010.csv", "readme.txt"]
    assert [f.record_type for f in files] == ["children", "spells", None]
    assert files[0].size == 3
    assert files[0].sha256 == hashlib.sha256(b"abc").hexdigest()
    assert files[0].path == folder / "benefits_children_2011.csv"


def test_missing_agency_folder_means_nothing_landed(tmp_path):
    assert landed_files(tmp_path, "health") == []
    assert find_landed_file(tmp_path, "health", "health_maternity_2011.csv") is None


def test_new_partition_keys_are_the_files_not_yet_known(tmp_path):
    folder = tmp_path / "births"
    folder.mkdir()
    for year in (2010, 2011, 2012):
        (folder / f"births_registrations_{year}.csv").write_text("x")
    known = ["births_registrations_2010.csv", "births_registrations_2009.csv"]
    assert new_partition_keys(tmp_path, "births", known) == [
        "births_registrations_2011.csv",
        "births_registrations_2012.csv",
    ]
