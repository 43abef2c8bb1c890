from __future__ import annotations

import pytest
import yaml

from cmi_assets.sources.spec import SpecError, all_specs, load_spec, parse_spec

EXPECTED_RECORD_TYPES = {
    "births": {"registrations"},
    "benefits": {"spells", "children", "addresses"},
    "child_protection": {"notifications", "investigations", "ncands_child"},
    "corrections": {"sentences"},
    "health": {"maternity", "hospitalisations", "mental_health"},
    "reference": {"areas"},
}


def test_every_agency_spec_loads_with_its_record_types():
    specs = all_specs()
    assert {agency: set(spec.record_types) for agency, spec in specs.items()} == EXPECTED_RECORD_TYPES
    for agency, spec in specs.items():
        assert spec.description
        assert load_spec(agency) == spec
        for record_type in spec.record_types.values():
            assert record_type.table_name == f"{agency}__{record_type.name}"
            assert set(record_type.key) <= set(record_type.column_names)


def test_record_type_for_matches_file_patterns():
    cp = load_spec("child_protection")
    assert cp.record_type_for("cp_notifications_2013.csv").name == "notifications"
    assert cp.record_type_for("cp_investigations_1993-2009.csv").name == "investigations"
    assert cp.record_type_for("ncands_child_AL_FY2020.csv").name == "ncands_child"
    assert cp.record_type_for("ncands_child_AL_2020.csv") is None  # no _FY
    assert cp.record_type_for("notes.txt") is None
    assert load_spec("births").record_type_for("BIRTHS_REGISTRATIONS_2011.csv") is None  # case-sensitive


def test_codes_keep_yaml_text_for_strings_and_ints_for_int_columns():
    ncands = load_spec("child_protection").record_types["ncands_child"]
    # 08 and 09 are not octal, so YAML reads them as strings; "01" is quoted.
    assert {"01", "08", "09", "88"} <= set(ncands.column("RPTSRC").codes)
    assert ncands.column("CHAGE").codes[-2:] == (77, 99)
    assert ncands.column("RPTDT").date_format == "%m%d%Y"  # inherited from the record type
    assert ncands.column("STATERR").date_format is None


def test_persons_entries_are_parsed():
    births = load_spec("births").record_types["registrations"]
    roles = [p.role for p in births.persons]
    assert roles == ["child", "adult", "adult"]
    assert births.persons[0].sex_map == {"M": "M", "F": "F"}
    assert births.persons[1].sex_constant == "F"


def _document(**column_overrides):
    column = {"name": "id", "type": "string", "required": True, **column_overrides}
    return {
        "agency": "demo",
        "description": "d",
        "record_types": {"things": {"file_pattern": "demo_*.csv", "key": ["id"], "columns": [column]}},
    }


@pytest.mark.parametrize(
    "document, message",
    [
        (_document(colour="red"), "unknown keys"),
        (_document(type="decimal"), "type"),
        (_document(pattern="[0-9"), "pattern does not compile"),
        (
            {
                **_document(),
                "record_types": {"things": {"file_pattern": "x", "key": ["nope"], "columns": [{"name": "id"}]}},
            },
            "key column 'nope'",
        ),
        (
            {
                **_document(),
                "record_types": {
                    "things": {
                        "file_pattern": "x",
                        "key": ["id"],
                        "columns": [{"name": "id"}],
                        "persons": [{"role": "child", "dob": "birthday"}],
                    }
                },
            },
            "unknown column 'birthday'",
        ),
        (_document(type="date", codes=["A"]), "codes are only allowed"),
    ],
)
def test_broken_specs_are_rejected(document, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(yaml.safe_load(yaml.safe_dump(document)))


def test_unknown_agency_names_the_known_ones():
    with pytest.raises(SpecError, match="births"):
        load_spec("no_such_agency")
