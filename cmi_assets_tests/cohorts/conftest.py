"""A hand-built world in the `events` schema (in-memory DuckDB): a few families whose every
Box 1 variable, marker and outcome is worked out by hand in the tests. Birth cohort 2010;
children's birth reference dates are the 15th of their birth month.

Family A  child A (2010-06, M): mother MA (1990-03, 20), father FA (1978-02) listed; older
          children SA1 (2005-01: CP notification 4 years before, FV records in one month of
          the last 12) and SA2 (2003-01: CP notification 6 years before only); FA violent
          custodial sentence 3 years before + community sentence, his own CP notification 25
          years before and a behavioural finding at 16; MA on benefit 731 + 443 days of the
          five years (mental-health incapacity 443 days), 2 address changes last year.
Family B  child B (2010-05, F): mother MB (1975-05, 35), father not listed; SB1 (2009-01, on
          MB's benefit: under 2), SB2 (1998-01: CP notification 6 years before, police FV
          records in 2 months of the last 12); MB's overlapping benefit spells (MH 1,096 days,
          SUB 731 days inside it).
Family C  child C (2010-03, M): teen mother MC (1993-02; her own CP notification at 14),
          father not listed; on grandmother GC's (1968-01) benefit at 40 days; GC on benefit
          throughout, SUB incapacity 4 years, 3 address changes last year; GC's partner PC
          with a community sentence; MC is GC's other child (benefit inclusion).
Family D  twins T1 (F, 2,300 g) and T2 (M, 36 weeks), 2010-07: mother MD (1981-01, 29.5),
          father FD: custodial non-violent 2008, violent custodial ended 2004, MH incapacity
          4 years. MD has no benefit.
Family E  child E (2010-02, F): registered at 100 days (2,000 g: not known at 3 months), on
          mother ME's benefit at 40 days; ME's birth date unknown; ME's sole-parent spell
          from 2009-12-01; father FE (only on the late registration) has a sentence.
Family G  child G (2010-01, M): registered at 91 days, mother MG (1992-01, 18.0), registration
          says 3 previous children of the same parents.
Others    H registered at 92 days; I on benefit at 92 days (registered at 120); J born
          2009-12; K (2010-08) on benefit at 91 days, not registered.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import duckdb
import polars as pl
import pytest

from cmi_assets.cohorts.events import EVENT_TABLES, create_event_tables

CONS, LESS = "conservative", "less_conservative"
OBSERVATION_END = dt.date(2016, 12, 31)

POLARS_TYPES = {"VARCHAR": pl.String, "INTEGER": pl.Int32, "DATE": pl.Date}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class EventsWorld:
    """Rows per event table; missing columns are null."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = defaultdict(list)

    def add(self, table: str, level: str = CONS, **values) -> None:
        unknown = set(values) - set(EVENT_TABLES[table])
        assert not unknown, f"{table}: unknown columns {unknown}"
        self.rows[table].append(
            {
                "linkage_level": level,
                **{k: d(v) if EVENT_TABLES[table][k] == "DATE" and v else v for k, v in values.items()},
            }
        )

    def person(
        self, key: str, born: str | None, sex: str | None = None, ethnicity: str | None = None, level: str = CONS
    ) -> None:
        year, month = (int(born[:4]), int(born[5:7])) if born else (None, None)
        self.add("person", level, person_key=key, sex=sex, birth_year=year, birth_month=month, ethnicity=ethnicity)

    def birth(
        self, child: str, mother: str, father: str | None, born: str, reg_days: int | None, level: str = CONS, **extra
    ) -> None:
        values = dict(
            plurality=1,
            birth_weight_g=3400,
            gestation_weeks=39,
            previous_children_same_parents=0,
            deprivation_decile=5,
            office_code="O01",
        )
        values.update(extra)
        self.add(
            "birth",
            level,
            child_key=child,
            mother_key=mother,
            father_key=father,
            birth_year=int(born[:4]),
            birth_month=int(born[5:7]),
            registration_age_days=reg_days,
            **values,
        )

    def notification(
        self,
        key: str,
        person: str,
        date: str,
        source: str = "HEALTH",
        kind: str = "NOTIFICATION",
        further: str = "N",
        age_days: int | None = None,
        level: str = CONS,
    ) -> None:
        self.add(
            "cp_notification",
            level,
            event_key=key,
            person_key=person,
            notification_date=date,
            age_days=age_days,
            source=source,
            record_kind=kind,
            further_action=further,
            office_code="O01",
        )

    def finding(
        self,
        key: str,
        notification: str | None,
        person: str,
        start: str,
        abuse: str,
        finding: str,
        response: str = "INVESTIGATION",
        age_days: int | None = None,
        level: str = CONS,
    ) -> None:
        self.add(
            "cp_finding",
            level,
            event_key=key,
            notification_event_key=notification,
            person_key=person,
            response=response,
            start_date=start,
            completed_date=start,
            abuse_type=abuse,
            finding=finding,
            age_days=age_days,
        )

    def spell(
        self,
        person: str,
        start: str,
        end: str | None,
        benefit: str = "UB",
        incapacity: str | None = None,
        partner: str | None = None,
        level: str = CONS,
    ) -> None:
        self.add(
            "benefit_spell",
            level,
            person_key=person,
            spell_start=start,
            spell_end=end,
            benefit_type=benefit,
            incapacity_code=incapacity,
            partner_key=partner,
        )

    def inclusion(
        self, caregiver: str, child: str, relationship: str, claim: str, age_days: int, level: str = CONS
    ) -> None:
        self.add(
            "benefit_child",
            level,
            caregiver_key=caregiver,
            child_key=child,
            relationship=relationship,
            inclusion_start=claim,
            inclusion_end=None,
            claim_date=claim,
            child_age_days_at_claim=age_days,
        )

    def address(
        self, person: str, date: str, office: str = "O01", decile: int | None = None, level: str = CONS
    ) -> None:
        self.add(
            "benefit_address",
            level,
            person_key=person,
            effective_from=date,
            office_code=office,
            deprivation_decile=decile,
        )

    def sentence(self, person: str, start: str, end: str, kind: str, offence: str, level: str = CONS) -> None:
        self.add(
            "sentence",
            level,
            person_key=person,
            sentence_start=start,
            sentence_end=end,
            sentence_type=kind,
            offence_category=offence,
        )

    def admission(
        self,
        person: str,
        admit: str,
        discharge: str,
        diagnosis: str,
        cause: str | None = None,
        age_days: int | None = None,
        level: str = CONS,
    ) -> None:
        self.add(
            "hospitalisation",
            level,
            person_key=person,
            admit_date=admit,
            discharge_date=discharge,
            diagnosis_code=diagnosis,
            external_cause_code=cause,
            age_days=age_days,
        )

    def load(self, con) -> None:
        create_event_tables(con)
        for table, rows in self.rows.items():
            schema = {"linkage_level": pl.String, **{k: POLARS_TYPES[v] for k, v in EVENT_TABLES[table].items()}}
            frame = pl.DataFrame(rows, schema=schema)
            con.register("_rows", frame)
            con.execute(f"insert into events.{table} by name select * from _rows")
            con.unregister("_rows")


def family_a(w: EventsWorld, level: str = CONS) -> None:
    w.person("A", "2010-06", "M", "AIAN;WHITE", level)
    w.person("MA", "1990-03", "F", level=level)
    w.person("FA", "1978-02", "M", level=level)
    w.person("SA1", "2005-01", "F", level=level)
    w.person("SA2", "2003-01", "M", level=level)
    w.birth(
        "A", "MA", "FA", "2010-06", 20, level, previous_children_same_parents=2, deprivation_decile=9, office_code="O05"
    )
    w.birth("SA1", "MA", None, "2005-01", 30, level)
    w.birth("SA2", "MA", None, "2003-01", 30, level)
    w.notification("N-SA1-1", "SA1", "2006-06-20", level=level)  # 4 years before: counts
    w.notification("N-SA2-1", "SA2", "2004-06-10", level=level)  # 6 years before: does not
    w.notification("N-SA1-FV1", "SA1", "2009-12-20", "POLICE_FV", "FV_CONTACT_RECORD", level=level)
    w.notification("N-SA1-FV2", "SA1", "2009-12-25", "POLICE_FV", "FV_CONTACT_RECORD", level=level)  # same month
    w.notification("N-SA1-FV3", "SA1", "2009-05-20", "POLICE_FV", "FV_CONTACT_RECORD", level=level)  # 13 months before
    w.sentence("FA", "2007-06-01", "2008-06-01", "CUSTODIAL", "VIOLENT", level)
    w.sentence("FA", "2009-01-01", "2009-06-30", "COMMUNITY", "NON_VIOLENT", level)
    w.sentence("MA", "2008-09-01", "2008-10-01", "CUSTODIAL", "NON_VIOLENT", level)
    w.notification("N-FA-CHILD", "FA", "1985-06-15", level=level)  # 25 years before (para 50)
    w.finding("F-FA-BEH", None, "FA", "1994-03-01", "BEHAVIOURAL", "SUBSTANTIATED", "ASSESSMENT", level=level)
    w.spell("MA", "2006-06-15", "2008-06-14", "UB", level=level)  # 731 days
    w.spell("MA", "2008-06-15", "2009-08-31", "SB", "MH", level=level)  # 443 days
    w.address("MA", "2005-01-01", "O05", 9, level)
    w.address("MA", "2009-09-01", "O05", 9, level)
    w.address("MA", "2010-01-10", "O06", 9, level)


def family_b(w: EventsWorld, level: str = CONS) -> None:
    w.person("B", "2010-05", "F", "WHITE", level)
    w.person("MB", "1975-05", "F", level=level)
    w.person("SB1", "2009-01", "M", level=level)
    w.person("SB2", "1998-01", "M", level=level)
    w.birth("B", "MB", None, "2010-05", 30, level, office_code="O07", deprivation_decile=3)
    w.inclusion("MB", "SB1", "PARENT", "2009-02-01", 17, level)
    w.birth("SB2", "MB", None, "1998-01", 20, level)
    w.notification("N-SB2-1", "SB2", "2004-04-01", level=level)  # 6 years before
    w.notification("N-SB2-FV1", "SB2", "2009-08-10", "POLICE_FV", "NOTIFICATION", level=level)
    w.notification("N-SB2-FV2", "SB2", "2010-01-20", "POLICE_FV", "FV_CONTACT_RECORD", level=level)
    w.spell("MB", "2007-01-01", "2009-12-31", "IB", "MH", level=level)  # 1,096 days
    w.spell("MB", "2008-01-01", "2009-12-31", "SB", "SUB", level=level)  # 731 days, inside
    w.address("MB", "2006-02-01", "O07", 3, level)


def family_c(w: EventsWorld) -> None:
    w.person("C", "2010-03", "M", "AIAN")
    w.person("MC", "1993-02", "F")
    w.person("GC", "1968-01", "F")
    w.person("PC", "1965-01", "M")
    w.birth("C", "MC", None, "2010-03", 15, office_code="O12", deprivation_decile=8)
    w.inclusion("GC", "C", "GRANDPARENT", "2010-04-24", 40)
    w.inclusion("GC", "MC", "PARENT", "1998-01-01", 1780)
    w.notification("N-MC-1", "MC", "2007-05-01")  # MC aged 14
    w.spell("GC", "2005-01-01", None, "UB", partner="PC")
    w.spell("GC", "2006-01-01", "2009-12-31", "SB", "SUB")  # 1,461 days
    w.sentence("PC", "2009-03-01", "2009-09-01", "COMMUNITY", "NON_VIOLENT")
    for date in ("2004-01-01", "2009-05-01", "2009-07-01", "2009-12-01"):
        w.address("GC", date, "O12", 8)


def family_d(w: EventsWorld) -> None:
    w.person("T1", "2010-07", "F", "ASIAN")
    w.person("T2", "2010-07", "M", "ASIAN")
    w.person("MD", "1981-01", "F")
    w.person("FD", "1979-03", "M")
    w.birth(
        "T1",
        "MD",
        "FD",
        "2010-07",
        10,
        plurality=2,
        birth_weight_g=2300,
        gestation_weeks=37,
        office_code="O30",
        deprivation_decile=2,
    )
    w.birth(
        "T2",
        "MD",
        "FD",
        "2010-07",
        10,
        plurality=2,
        birth_weight_g=2600,
        gestation_weeks=36,
        office_code="O30",
        deprivation_decile=2,
    )
    w.sentence("FD", "2008-02-01", "2008-08-01", "CUSTODIAL", "NON_VIOLENT")
    w.sentence("FD", "2003-01-01", "2004-12-31", "CUSTODIAL", "VIOLENT")  # ended before the 5 years
    w.spell("FD", "2006-01-01", "2009-12-31", "SB", "MH")


def family_e(w: EventsWorld) -> None:
    w.person("E", "2010-02", "F", None)
    w.person("ME", None, "F")
    w.person("FE", "1980-01", "M")
    w.birth(
        "E",
        "ME",
        "FE",
        "2010-02",
        100,
        birth_weight_g=2000,
        gestation_weeks=34,
        office_code="O40",
        deprivation_decile=10,
    )
    w.inclusion("ME", "E", "PARENT", "2010-03-27", 40)
    w.spell("ME", "2009-12-01", None, "SPB")
    w.address("ME", "2009-12-01", "O21", None)
    w.sentence("FE", "2009-01-01", "2009-03-01", "CUSTODIAL", "VIOLENT")


def family_g_and_others(w: EventsWorld) -> None:
    w.person("G", "2010-01", "M", "BLACK")
    w.person("MG", "1992-01", "F")
    w.person("FG", "1990-01", "M")
    w.birth("G", "MG", "FG", "2010-01", 91, previous_children_same_parents=3)
    w.person("H", "2010-04", "F")
    w.birth("H", "MH", None, "2010-04", 92)
    w.person("I", "2010-04", "M")
    w.birth("I", "MI", None, "2010-04", 120)
    w.inclusion("MI", "I", "PARENT", "2010-07-16", 92)
    w.person("J", "2009-12", "F")
    w.birth("J", "MJ", None, "2009-12", 10)
    w.person("K", "2010-08", "M")
    w.inclusion("MK", "K", "PARENT", "2010-11-14", 91)


def outcome_events(w: EventsWorld) -> None:
    # A: emotional abuse substantiated, notified at 729 days (by age 2); one investigation, two rows
    w.notification("N-A-1", "A", "2012-06-13", further="Y", age_days=729)
    w.finding("F-A-1", "N-A-1", "A", "2012-06-22", "EMOTIONAL", "SUBSTANTIATED", age_days=738)
    w.finding("F-A-2", "N-A-1", "A", "2012-06-22", "NEGLECT", "NOT_SUBSTANTIATED", age_days=738)
    # B: physical abuse substantiated, notified at 731 days (not by age 2, by age 3)
    w.notification("N-B-1", "B", "2012-05-16", further="Y", age_days=731)
    w.finding("F-B-1", "N-B-1", "B", "2012-05-20", "PHYSICAL", "SUBSTANTIATED", age_days=735)
    # C: notifications at 100 and 500 days, FV contact record at 600 (known to CP)
    w.notification("N-C-1", "C", "2010-06-23", further="Y", age_days=100)
    w.notification("N-C-2", "C", "2011-07-28", further="Y", age_days=500)
    w.notification("N-C-3", "C", "2011-11-05", "POLICE_FV", "FV_CONTACT_RECORD", age_days=600)
    w.finding("F-C-1", "N-C-1", "C", "2010-06-30", "BEHAVIOURAL", "SUBSTANTIATED", "ASSESSMENT", age_days=107)
    w.finding("F-C-2", "N-C-2", "C", "2011-08-01", "NONE", "NO_FINDING", "ASSESSMENT", age_days=504)
    # twins: T1 intracranial injury at 200 days; T2 femur fracture at 400 days (after age 1),
    # maltreatment syndrome at 500 days discharged the same day (short stay), and at 600 days
    w.admission("T1", "2011-01-31", "2011-02-03", "S06.5", "Y04", age_days=200)
    w.admission("T2", "2011-08-19", "2011-08-25", "S72.0", "W10", age_days=400)
    w.admission("T2", "2011-11-27", "2011-11-27", "T74.1", None, age_days=500)
    w.admission("T2", "2012-03-06", "2012-03-08", "T74.1", None, age_days=600)
    # E: an unborn notification; G: an FV contact record only (not known to CP)
    w.notification("N-E-1", "E", "2010-01-16", age_days=-30)
    w.notification("N-G-1", "G", "2010-04-25", "POLICE_FV", "FV_CONTACT_RECORD", age_days=100)


def health_events(w: EventsWorld) -> None:
    w.add(
        "maternity",
        mother_key="MA",
        baby_birth_year=2010,
        baby_birth_month=6,
        plurality=1,
        gestation_weeks=35,
        smoking_at_booking="N",
    )
    w.add(
        "maternity",
        mother_key="MD",
        baby_birth_year=2010,
        baby_birth_month=7,
        plurality=2,
        gestation_weeks=36,
        smoking_at_booking="Y",
    )
    w.add(
        "maternity",
        mother_key="MB",
        baby_birth_year=2010,
        baby_birth_month=5,
        plurality=1,
        gestation_weeks=40,
        smoking_at_booking="U",
    )
    w.add(
        "maternity",
        mother_key="ME",
        baby_birth_year=2010,
        baby_birth_month=2,
        plurality=1,
        gestation_weeks=34,
        smoking_at_booking="N",
    )
    w.add(
        "maternity",
        mother_key="MG",
        baby_birth_year=2008,
        baby_birth_month=9,
        plurality=1,
        gestation_weeks=39,
        smoking_at_booking="N",
    )
    w.admission("MA", "2008-01-01", "2008-01-03", "S02.2", "X85")  # mother assaulted, 2.5 years before
    w.admission("MC", "1993-08-01", "1993-08-05", "S06.0", "Y04", age_days=167)  # other child injured before age 1
    w.admission("E", "2010-03-07", "2010-03-09", "Q21.0", None, age_days=20)  # birth abnormality
    w.add(
        "mental_health",
        person_key="MA",
        contact_date="2009-03-01",
        service_type="COMMUNITY",
        diagnosis_group="SUBSTANCE",
    )
    for date in ("2006-03-01", "2007-03-01", "2008-03-01"):
        w.add("mental_health", person_key="MG", contact_date=date, service_type="COMMUNITY", diagnosis_group="OTHER_MH")


def build_world() -> EventsWorld:
    w = EventsWorld()
    family_a(w)
    family_b(w)
    family_c(w)
    family_d(w)
    family_e(w)
    family_g_and_others(w)
    outcome_events(w)
    health_events(w)
    # the less conservative linkage: family B again, where SB2's 2008 notification is linked
    family_b(w, LESS)
    w.notification("N-SB2-L", "SB2", "2008-01-01", level=LESS)
    return w


@pytest.fixture(scope="session")
def events_con():
    con = duckdb.connect()
    build_world().load(con)
    yield con
    con.close()


@pytest.fixture(scope="session")
def features_2010(events_con) -> pl.DataFrame:
    from cmi_assets.cohorts.features import cohort_features

    return cohort_features(events_con, 2010, CONS, include_health=True)


@pytest.fixture(scope="session")
def outcomes_2010(events_con) -> pl.DataFrame:
    from cmi_assets.cohorts.outcomes import cohort_outcomes

    return cohort_outcomes(events_con, 2010, CONS, observation_end=OBSERVATION_END)


def value(frame: pl.DataFrame, person: str, column: str):
    """The value of one child's column (the child must be in the frame exactly once)."""
    rows = frame.filter(pl.col("person_key") == person)[column]
    assert rows.len() == 1, f"{person}: {rows.len()} rows"
    return rows.item()


@pytest.fixture(name="value")
def value_fixture():
    return value
