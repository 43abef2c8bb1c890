"""Hand-built extract rows, two valid rows per record type, written from the specs
(sources/specs/*.yaml): every value below was chosen to meet its column's rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

VALID_ROWS: dict[tuple[str, str], list[dict[str, str]]] = {
    ("births", "registrations"): [
        {"reg_number": "B000000001", "reg_date": "2011-02-03", "child_given_names": "Mary Ann",
         "child_family_name": "Smith", "child_dob": "2011-01-20", "child_sex": "F", "birth_weight_g": "3200",
         "gestation_weeks": "39", "plurality": "1", "ethnicity": "WHITE;HISPANIC", "mother_given_names": "Jane",
         "mother_family_name": "Smith", "mother_birth_family_name": "Jones", "mother_dob": "1985-04-04",
         "father_given_names": "John", "father_family_name": "Smith", "father_dob": "1983-05-05",
         "previous_children_same_parents": "0", "address_line": "1 High St, Town", "postcode": "12345"},
        {"reg_number": "B000000002", "reg_date": "2011-03-01", "child_given_names": "Tom",
         "child_family_name": "Brown", "child_dob": "2011-02-14", "child_sex": "M", "birth_weight_g": "",
         "gestation_weeks": "", "plurality": "2", "ethnicity": "", "mother_given_names": "Ana",
         "mother_family_name": "Brown", "mother_birth_family_name": "", "mother_dob": "",
         "father_given_names": "", "father_family_name": "", "father_dob": "",
         "previous_children_same_parents": "", "address_line": "", "postcode": ""},
    ],
    ("benefits", "spells"): [
        {"spell_id": "S0000000001", "client_id": "123456789", "first_name": "Jane", "middle_name": "Q",
         "surname": "Smith", "date_of_birth": "04/04/1985", "gender": "F", "benefit_type": "SPB",
         "spell_start": "01/02/2010", "spell_end": "31/12/2010", "incapacity_code": "", "partner_client_id": ""},
        {"spell_id": "S0000000002", "client_id": "223456789", "first_name": "Bob", "middle_name": "",
         "surname": "Jones", "date_of_birth": "29/02/1980", "gender": "M", "benefit_type": "SB",
         "spell_start": "15/06/2011", "spell_end": "", "incapacity_code": "SUB", "partner_client_id": "123456789"},
    ],
    ("benefits", "children"): [
        {"inclusion_id": "C0000000001", "client_id": "123456789", "child_client_id": "323456789",
         "child_first_name": "Mary", "child_middle_name": "Ann", "child_surname": "Smith", "child_dob": "20/01/2011",
         "child_gender": "F", "relationship": "PARENT", "inclusion_start": "01/03/2011", "inclusion_end": "",
         "claim_date": "15/02/2011"},
        {"inclusion_id": "C0000000002", "client_id": "223456789", "child_client_id": "423456789",
         "child_first_name": "Tom", "child_middle_name": "", "child_surname": "Jones", "child_dob": "14/02/2011",
         "child_gender": "M", "relationship": "GRANDPARENT", "inclusion_start": "01/04/2011",
         "inclusion_end": "01/04/2012", "claim_date": "20/03/2011"},
    ],
    ("benefits", "addresses"): [
        {"address_id": "A0000000001", "client_id": "123456789", "address_line": "1 High St", "postcode": "12345",
         "effective_from": "01/02/2010"},
        {"address_id": "A0000000002", "client_id": "123456789", "address_line": "9 Low Rd", "postcode": "54321",
         "effective_from": "01/08/2011"},
    ],
    ("child_protection", "notifications"): [
        {"notification_id": "N0000000001", "cp_person_id": "P000000001", "given_name": "Mary", "family_name": "Smith",
         "dob": "2011-01-20", "age_years": "2", "sex": "F", "notification_date": "2013-05-01", "source": "POLICE_FV",
         "record_kind": "NOTIFICATION", "further_action": "Y", "office_code": "O07", "caregiver1_given_name": "Jane",
         "caregiver1_family_name": "Smith", "caregiver1_dob": "1985-04-04", "caregiver2_given_name": "",
         "caregiver2_family_name": "", "address_line": "1 High St", "postcode": "12345"},
        {"notification_id": "N0000000002", "cp_person_id": "P000000002", "given_name": "", "family_name": "",
         "dob": "", "age_years": "", "sex": "U", "notification_date": "2013-06-01", "source": "ANONYMOUS",
         "record_kind": "FV_CONTACT_RECORD", "further_action": "N", "office_code": "O12", "caregiver1_given_name": "",
         "caregiver1_family_name": "", "caregiver1_dob": "", "caregiver2_given_name": "", "caregiver2_family_name": "",
         "address_line": "", "postcode": ""},
    ],
    ("child_protection", "investigations"): [
        {"investigation_id": "V0000000001", "notification_id": "N0000000001", "cp_person_id": "P000000001",
         "response": "INVESTIGATION", "start_date": "2013-05-02", "completed_date": "2013-06-01",
         "abuse_type": "PHYSICAL", "finding": "SUBSTANTIATED"},
        {"investigation_id": "V0000000001", "notification_id": "N0000000001", "cp_person_id": "P000000001",
         "response": "INVESTIGATION", "start_date": "2013-05-02", "completed_date": "",
         "abuse_type": "NEGLECT", "finding": "NOT_SUBSTANTIATED"},
    ],
    ("child_protection", "ncands_child"): [
        {"SUBYR": "2020", "STATERR": "AL", "RPTID": "R1", "CHID": "C1", "RPTCNTY": "001", "RPTDT": "01152020",
         "INVDATE": "01202020", "RPTSRC": "08", "RPTDISP": "01", "RPTDISDT": "02012020", "NOTIFS": "1",
         "CHAGE": "5", "CHBDATE": "03032014", "CHSEX": "2", "CHRACAI": "2", "CHRACAS": "2", "CHRACBL": "1",
         "CHRACNH": "2", "CHRACWH": "2", "CHRACUD": "2", "CHETHN": "2", "CHCNTY": "001", "CHLVNG": "01",
         "CHMIL": "2", "CHPRIOR": "2", "CHMAL1": "2", "MAL1LEV": "1", "CHMAL2": "", "MAL2LEV": "", "CHMAL3": "",
         "MAL3LEV": "", "CHMAL4": "", "MAL4LEV": "", "MALDEATH": "2", "AFCARSID": "", "INCIDDT": "01102020"},
        {"SUBYR": "2020", "STATERR": "AL", "RPTID": "R2", "CHID": "C1", "RPTCNTY": "", "RPTDT": "03012020",
         "INVDATE": "", "RPTSRC": "", "RPTDISP": "04", "RPTDISDT": "04012020", "NOTIFS": "",
         "CHAGE": "77", "CHBDATE": "", "CHSEX": "", "CHRACAI": "", "CHRACAS": "", "CHRACBL": "",
         "CHRACNH": "", "CHRACWH": "", "CHRACUD": "", "CHETHN": "", "CHCNTY": "", "CHLVNG": "",
         "CHMIL": "", "CHPRIOR": "", "CHMAL1": "9", "MAL1LEV": "99", "CHMAL2": "", "MAL2LEV": "", "CHMAL3": "",
         "MAL3LEV": "", "CHMAL4": "", "MAL4LEV": "", "MALDEATH": "", "AFCARSID": "AF12", "INCIDDT": ""},
    ],
    ("corrections", "sentences"): [
        {"sentence_id": "Q0000000001", "offender_id": "OF00000001", "surname": "Smith", "given_names": "John Paul",
         "date_of_birth": "19830505", "gender": "M", "aliases": "JACK SMITH|JOHN SMYTHE", "sentence_type": "CUSTODIAL",
         "offence_category": "VIOLENT", "sentence_start": "20120101", "sentence_end": "20130101"},
        {"sentence_id": "Q0000000002", "offender_id": "OF00000002", "surname": "Jones", "given_names": "Ann",
         "date_of_birth": "", "gender": "X", "aliases": "", "sentence_type": "COMMUNITY",
         "offence_category": "NON_VIOLENT", "sentence_start": "20150601", "sentence_end": ""},
    ],
    ("health", "maternity"): [
        {"maternity_id": "M0000000001", "mother_health_id": "ABC1234", "mother_given_name": "Jane",
         "mother_family_name": "Smith", "mother_dob": "1985-04-04", "baby_dob": "2011-01-20", "plurality": "1",
         "gestation_weeks": "39", "smoking_at_booking": "Y", "postcode": "12345"},
        {"maternity_id": "M0000000002", "mother_health_id": "XYZ0001", "mother_given_name": "Ana",
         "mother_family_name": "Brown", "mother_dob": "1990-12-31", "baby_dob": "2011-02-14", "plurality": "2",
         "gestation_weeks": "", "smoking_at_booking": "U", "postcode": ""},
    ],
    ("health", "hospitalisations"): [
        {"event_id": "H0000000001", "health_id": "ABC1234", "given_name": "Mary", "family_name": "Smith",
         "dob": "2011-01-20", "sex": "F", "admit_date": "2011-06-01", "discharge_date": "2011-06-03",
         "diagnosis_code": "T74.1", "external_cause_code": ""},
        {"event_id": "H0000000002", "health_id": "XYZ0001", "given_name": "Ana", "family_name": "Brown",
         "dob": "1990-12-31", "sex": "F", "admit_date": "2012-01-01", "discharge_date": "",
         "diagnosis_code": "S06", "external_cause_code": "X85"},
    ],
    ("health", "mental_health"): [
        {"contact_id": "K0000000001", "health_id": "ABC1234", "given_name": "Jane", "family_name": "Smith",
         "dob": "1985-04-04", "sex": "F", "contact_date": "2010-05-05", "service_type": "ADDICTION",
         "diagnosis_group": "SUBSTANCE"},
        {"contact_id": "K0000000002", "health_id": "XYZ0001", "given_name": "Ana", "family_name": "Brown",
         "dob": "1990-12-31", "sex": "U", "contact_date": "2010-07-07", "service_type": "COMMUNITY_MH",
         "diagnosis_group": "OTHER_MH"},
    ],
    ("reference", "areas"): [
        {"postcode": "12345", "county_fips": "001", "office_code": "O07", "deprivation_decile": "3"},
        {"postcode": "54321", "county_fips": "003", "office_code": "O12", "deprivation_decile": "10"},
    ],
}

# A file name each record type's file_pattern accepts.
FILE_NAMES = {
    ("births", "registrations"): "births_registrations_2011.csv",
    ("benefits", "spells"): "benefits_spells_2010.csv",
    ("benefits", "children"): "benefits_children_2011.csv",
    ("benefits", "addresses"): "benefits_addresses_2011.csv",
    ("child_protection", "notifications"): "cp_notifications_2013.csv",
    ("child_protection", "investigations"): "cp_investigations_2013.csv",
    ("child_protection", "ncands_child"): "ncands_child_AL_FY2020.csv",
    ("corrections", "sentences"): "corrections_sentences_2012.csv",
    ("health", "maternity"): "health_maternity_2011.csv",
    ("health", "hospitalisations"): "health_hospitalisations_2011.csv",
    ("health", "mental_health"): "health_mental_health_2010.csv",
    ("reference", "areas"): "reference_areas_2021.csv",
}


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None, encoding: str = "utf-8") -> Path:
    """Rows as an extract file (header + one line per row, values quoted only when needed)."""
    columns = columns or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


@pytest.fixture
def valid_rows():
    return {key: [dict(row) for row in rows] for key, rows in VALID_ROWS.items()}


@pytest.fixture
def file_names():
    return dict(FILE_NAMES)


@pytest.fixture
def write_extract():
    """write_csv(path, rows, columns=None, encoding="utf-8") -> path."""
    return write_csv
