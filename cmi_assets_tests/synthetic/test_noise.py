"""Identity noise: each noise function on hand-worked inputs, then the frame-level engine on
~50,000 rows against the configured rates (binomial 4 sigma), with eligibility computed
here independently, and the log checked cell by cell against the changes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest
from nicknames import NickNamer

from cmi_assets.reference.names import load_name_pools
from cmi_assets.synthetic.noise import (
    NOISE_LOG_SCHEMA,
    NOISE_TYPES,
    NoiseRates,
    PersonColumns,
    age_in_years,
    apply_identity_noise,
    assign_agency_ids,
    changed_surname,
    dob_day_month_swapped,
    dob_first_of_month,
    given_and_middle_swapped,
    given_initial_only,
    keyboard_typo,
    middle_dropped,
    nickname_of,
    noise_rates_for,
)
from cmi_assets.synthetic.profile import load_profile

AGENCIES = ("births", "benefits", "child_protection", "corrections", "health")


@pytest.fixture(scope="module")
def pools():
    return load_name_pools()


def within_4_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4 * np.sqrt(n * p * (1 - p)) + 1e-9


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


# ---------------------------------------------------------------------------------------
# Rates from the profile
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("agency", AGENCIES)
def test_every_agency_has_every_rate_in_the_default_profile(agency):
    rates = noise_rates_for(agency)
    assert rates == noise_rates_for(agency, load_profile())  # merged profile
    assert rates == noise_rates_for(agency, load_profile()["noise"])  # or the section alone
    assert set(load_profile()["noise"][agency]) == set(NOISE_TYPES)


def test_default_rates_follow_the_agencies_character():
    cp, benefits, births = (noise_rates_for(a) for a in ("child_protection", "benefits", "births"))
    assert cp.second_identity == pytest.approx(0.04)
    assert cp.informal_name > 0 and benefits.informal_name == 0 and births.informal_name == 0
    assert births.typo < benefits.typo < cp.typo
    # required DOB columns (births child, benefits, health) cannot be blanked
    assert all(noise_rates_for(a).dob_missing == 0 for a in ("births", "benefits", "health"))


def test_rates_are_validated():
    noise = load_profile()["noise"]
    del noise["health"]["typo"]
    with pytest.raises(ValueError, match="typo"):
        noise_rates_for("health", noise)
    noise = load_profile()["noise"]
    noise["health"]["typpo"] = 0.1
    with pytest.raises(ValueError, match="typpo"):
        noise_rates_for("health", noise)
    with pytest.raises(KeyError):
        noise_rates_for("police", noise)
    with pytest.raises(ValueError):
        dataclasses.replace(NoiseRates.zero(), typo=1.5)
    with pytest.raises(ValueError, match="sum"):
        dataclasses.replace(NoiseRates.zero(), dob_missing=0.6, dob_age_only=0.6)


# ---------------------------------------------------------------------------------------
# Each noise function by hand
# ---------------------------------------------------------------------------------------


def test_keyboard_typo_hand_worked_edits():
    # edits in order substitution, insertion, deletion, adjacent swap; u = (edit, where, key)
    assert keyboard_typo("Mary", (0.0, 0.0, 0.0)) == "Nary"  # M's neighbours on QWERTY: n, j, k
    assert keyboard_typo("Mary", (0.0, 0.0, 0.99)) == "Kary"
    assert keyboard_typo("Mary", (0.25, 0.99, 0.0)) == "Maryy"  # the last key struck twice
    assert keyboard_typo("Mary", (0.5, 0.0, 0.0)) == "Ary"  # first letter deleted, case kept
    assert keyboard_typo("Mary", (0.99, 0.0, 0.0)) == "Amry"  # swap of M and a, cases in place
    assert keyboard_typo("SMITH", (0.25, 0.0, 0.0)) == "SSMITH"
    assert keyboard_typo("Anna", (0.99, 0.99, 0.0)) == "Anan"  # 'nn' is never 'swapped'


def test_keyboard_typo_is_one_edit_and_never_empty(pools):
    rng = np.random.default_rng(1)
    names = list(pools.draw_family(rng, 300)) + ["J", "Jo", "Mary Jane", "O'Brien", "Anne-Marie", "Aa"]
    for name in names:
        for u in rng.random((20, 3)):
            typo = keyboard_typo(name, u)
            assert typo and typo != name
            assert edit_distance(typo.lower(), name.lower()) == 1, (name, typo)
    assert all(keyboard_typo("J", u) for u in rng.random((50, 3)))
    assert all(len(keyboard_typo("Jo Ann", u).split(" ")[0]) >= 1 for u in rng.random((50, 3)))
    assert keyboard_typo("--", (0.1, 0.1, 0.1)) == "--"


def test_nickname_replaces_the_first_given_name_only(pools):
    assert nickname_of("William", pools, 0.0) in pools.nicknames_of("William")
    nick = nickname_of("William James", pools, 0.5)
    assert nick.endswith(" James") and nick.split(" ")[0] in pools.nicknames_of("William")
    assert nickname_of("Zzyzx James", pools, 0.5) is None


def test_informal_and_swap_forms():
    assert given_initial_only("William James") == "W James"
    assert given_initial_only("W") is None
    assert middle_dropped("Mary Jane Ann") == "Mary"
    assert middle_dropped("Mary") is None
    assert given_and_middle_swapped("Mary Jane Ann") == "Jane Mary Ann"
    assert given_and_middle_swapped("Anna ANNA") is None
    assert given_and_middle_swapped("Mary") is None


def test_changed_surname_prefers_the_true_alternative():
    assert changed_surname("Smith", "Jones", "Brown", 0.0) == "Jones"
    assert changed_surname("Smith", "Jones", "Brown", 0.99) == "Smith-Jones"
    assert changed_surname("Smith", None, "Brown", 0.0) == "Brown"
    assert changed_surname("Smith", "SMITH", "Brown", 0.99) == "Smith-Brown"  # alternative equal: drawn
    assert changed_surname("Smith", None, "Smith", 0.0) is None
    assert changed_surname("SMITH", "Jones", "Brown", 0.0) == "JONES"


def test_dob_first_of_month():
    assert dob_first_of_month(dt.date(2010, 5, 17)) == dt.date(2010, 5, 1)
    assert dob_first_of_month(dt.date(2012, 2, 29)) == dt.date(2012, 2, 1)
    assert dob_first_of_month(dt.date(2010, 5, 1)) is None


def test_dob_day_month_swap_only_when_possible():
    assert dob_day_month_swapped(dt.date(2010, 3, 7)) == dt.date(2010, 7, 3)
    assert dob_day_month_swapped(dt.date(2010, 12, 1)) == dt.date(2010, 1, 12)
    assert dob_day_month_swapped(dt.date(2010, 2, 12)) == dt.date(2010, 12, 2)
    assert dob_day_month_swapped(dt.date(2010, 3, 13)) is None  # no 13th month
    assert dob_day_month_swapped(dt.date(2010, 4, 4)) is None  # swap invisible


def test_age_in_years_across_birthdays_and_leap_days():
    assert age_in_years(dt.date(2010, 6, 15), dt.date(2015, 6, 14)) == 4
    assert age_in_years(dt.date(2010, 6, 15), dt.date(2015, 6, 15)) == 5
    assert age_in_years(dt.date(2010, 6, 15), dt.date(2010, 6, 15)) == 0
    leap = dt.date(2008, 2, 29)
    assert age_in_years(leap, dt.date(2012, 2, 28)) == 3
    assert age_in_years(leap, dt.date(2012, 2, 29)) == 4
    assert age_in_years(leap, dt.date(2013, 2, 28)) == 4  # the birthday comes on 1 March
    assert age_in_years(leap, dt.date(2013, 3, 1)) == 5
    assert age_in_years(dt.date(2010, 12, 31), dt.date(2011, 1, 1)) == 0
    assert age_in_years(dt.date(2010, 6, 15), dt.date(2010, 6, 14)) is None


# ---------------------------------------------------------------------------------------
# The engine on frames
# ---------------------------------------------------------------------------------------

CHILD = PersonColumns(
    slot="child",
    given="given",
    middle="middle",
    family="family",
    alt_family="alt_family",
    dob="dob",
    age_years="age_years",
    event_date="event_date",
    sex="sex",
)
CAREGIVER = PersonColumns(slot="caregiver1", given="cg_given", family="cg_family", dob="cg_dob")
SLOTS = [CHILD, CAREGIVER]
NAME_COLUMNS = ["given", "middle", "family", "cg_given", "cg_family"]


def make_frame(n: int, seed: int, pools) -> pl.DataFrame:
    """A child-protection-like frame: child with optional middle name and an alternative
    surname for some, and a caregiver; a few blanks to check blanks stay blank."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    dob = np.datetime64("2000-01-01") + rng.integers(0, 6000, n).astype("timedelta64[D]")
    event = dob + rng.integers(-30, 6000, n).astype("timedelta64[D]")  # a few before birth

    def some_blank(values, share):
        return pl.Series([v if keep else None for v, keep in zip(values, rng.random(n) >= share)], dtype=pl.String)

    return pl.DataFrame(
        {
            "notification_id": [f"N{i:010d}" for i in range(n)],
            "given": some_blank(pools.draw_given(rng, sex), 0.01),
            "middle": some_blank(pools.draw_given(rng, sex), 0.4),
            "family": some_blank(pools.draw_family(rng, n), 0.01),
            "alt_family": some_blank(pools.draw_family(rng, n), 0.7),
            "dob": pl.Series(dob).cast(pl.Date).scatter(np.flatnonzero(rng.random(n) < 0.01), None),
            "age_years": pl.Series([None] * n, dtype=pl.Int16),
            "event_date": pl.Series(event).cast(pl.Date),
            "sex": pl.Series(np.where(rng.random(n) < 0.01, "U", sex)),
            "cg_given": pl.Series(pools.draw_given(rng, np.full(n, "F"))),
            "cg_family": pl.Series(pools.draw_family(rng, n)),
            "cg_dob": pl.Series(dob - 9000).cast(pl.Date),
            "office_code": ["O01"] * n,
        }
    )


def run(frame, rates, pools, seed=5, slots=SLOTS):
    return apply_identity_noise(
        frame,
        slots,
        rates,
        np.random.default_rng(seed),
        pools,
        key="notification_id",
        agency="child_protection",
        record_type="notifications",
    )


@pytest.fixture(scope="module")
def frame(pools):
    return make_frame(50_000, 1, pools)


@pytest.fixture(scope="module")
def cp_noised(frame, pools):
    return run(frame, noise_rates_for("child_protection"), pools)


def changed_cells(before: pl.DataFrame, after: pl.DataFrame) -> set[tuple[str, str]]:
    cells = set()
    keys = before["notification_id"]
    for column in before.columns:
        differs = before[column].ne_missing(after[column])
        cells |= {(k, column) for k in keys.filter(differs).to_list()}
    return cells


def logged(log: pl.DataFrame, noise_type: str, field: str) -> set[str]:
    return set(log.filter((pl.col("noise_type") == noise_type) & (pl.col("field") == field))["record_key"])


def test_rows_columns_and_dtypes_are_preserved_and_input_untouched(frame, cp_noised, pools):
    noisy, log = cp_noised
    assert noisy.schema == frame.schema and noisy.height == frame.height
    assert noisy["notification_id"].equals(frame["notification_id"])  # row order kept
    assert noisy["office_code"].equals(frame["office_code"]) and noisy["event_date"].equals(frame["event_date"])
    assert log.schema == pl.Schema(NOISE_LOG_SCHEMA)
    assert make_frame(50_000, 1, pools).equals(frame)


def test_the_log_lists_exactly_the_changed_cells(frame, cp_noised):
    noisy, log = cp_noised
    assert changed_cells(frame, noisy) == set(zip(log["record_key"], log["field"]))
    assert set(log["noise_type"]) <= set(NOISE_TYPES)
    assert (log["agency"] == "child_protection").all() and (log["record_type"] == "notifications").all()
    slot_of = {c: s.slot for s in SLOTS for c in (s.given, s.middle, s.family, s.dob, s.age_years, s.sex) if c}
    assert all(slot_of[f] == s for f, s in zip(log["field"], log["slot"]))


def test_blanks_stay_blank_and_names_never_become_empty(frame, cp_noised):
    noisy, _ = cp_noised
    for column in NAME_COLUMNS + ["dob", "cg_dob", "sex"]:
        assert noisy[column].filter(frame[column].is_null()).is_null().all(), column
    for column in ("given", "family", "cg_given", "cg_family"):  # only a middle name may be dropped
        assert noisy[column].filter(frame[column].is_not_null()).is_not_null().all(), column
        assert (noisy[column].drop_nulls().str.strip_chars().str.len_chars() > 0).all(), column


def eligible_rows(frame: pl.DataFrame, noise_type: str, column: str) -> pl.Series:
    """Where a noise type can change `column`, computed here from the definitions."""
    value = frame[column]
    if noise_type == "typo" or noise_type == "dob_missing" or noise_type == "surname_change":
        return value.is_not_null()
    if noise_type == "nickname":
        namer = NickNamer()
        has_nickname = value.map_elements(lambda v: bool(namer.nicknames_of(v) - {v.lower()}), return_dtype=pl.Boolean)
        return has_nickname.fill_null(False)
    if noise_type == "given_middle_swap":
        given, middle = frame["given"], frame["middle"]
        return given.is_not_null() & middle.is_not_null() & (given.str.to_lowercase() != middle.str.to_lowercase())
    if noise_type == "dob_first_of_month":
        return value.dt.day() != 1
    if noise_type == "dob_day_month_swap":
        return (value.dt.day() <= 12) & (value.dt.day() != value.dt.month())
    if noise_type == "dob_age_only":
        return value.is_not_null() & (frame["event_date"] >= value)
    if noise_type == "sex_unknown":
        return value.is_not_null() & (value != "U")
    raise AssertionError(noise_type)


ISOLATED_CASES = [
    ("typo", "given"),
    ("typo", "middle"),
    ("typo", "cg_family"),
    ("nickname", "given"),
    ("nickname", "cg_given"),
    ("given_middle_swap", "given"),
    ("surname_change", "family"),
    ("surname_change", "cg_family"),
    ("dob_missing", "dob"),
    ("dob_missing", "cg_dob"),
    ("dob_first_of_month", "dob"),
    ("dob_day_month_swap", "dob"),
    ("dob_age_only", "dob"),
    ("sex_unknown", "sex"),
]


@pytest.mark.parametrize(("noise_type", "column"), ISOLATED_CASES)
def test_each_noise_type_alone_hits_its_configured_rate(frame, pools, noise_type, column):
    rate = getattr(noise_rates_for("child_protection"), noise_type)
    noisy, log = run(frame, dataclasses.replace(NoiseRates.zero(), **{noise_type: rate}), pools)
    eligible = eligible_rows(frame, noise_type, column)
    hits = logged(log, noise_type, column)
    keys_eligible = set(frame["notification_id"].filter(eligible))
    assert hits <= keys_eligible
    assert within_4_sigma(len(hits), len(keys_eligible), rate), (len(hits), len(keys_eligible), rate)
    assert changed_cells(frame, noisy) == set(zip(log["record_key"], log["field"]))


def test_with_all_noise_on_independent_types_keep_their_rates(frame, cp_noised):
    """Typos come last and are always possible, DOB noise is one categorical draw, sex is on
    its own: their realised rates hold with everything else switched on."""
    _, log = cp_noised
    rates = noise_rates_for("child_protection")
    for noise_type, column in [
        ("typo", "given"),
        ("typo", "family"),
        ("typo", "cg_given"),
        ("surname_change", "cg_family"),
        ("dob_missing", "dob"),
        ("dob_first_of_month", "dob"),
        ("dob_day_month_swap", "dob"),
        ("dob_age_only", "dob"),
        ("sex_unknown", "sex"),
    ]:
        eligible = int(eligible_rows(frame, noise_type, column).sum())
        assert within_4_sigma(len(logged(log, noise_type, column)), eligible, getattr(rates, noise_type)), noise_type
    dob_noise = log.filter(pl.col("field") == "dob")
    assert dob_noise["record_key"].is_unique().all()  # at most one DOB error per cell


def test_informal_name_rate_and_forms(frame, pools):
    rate = noise_rates_for("child_protection").informal_name
    noisy, log = run(frame, dataclasses.replace(NoiseRates.zero(), informal_name=rate), pools)
    child = log.filter(pl.col("slot") == "child")
    # every child row with a given name of 2+ letters can take at least the initial form
    eligible = int((frame["given"].str.len_chars() > 1).sum())
    assert within_4_sigma(child["record_key"].n_unique(), eligible, rate)
    assert child.group_by("record_key").len()["len"].max() == 1  # one informal form per hit
    given_changed = noisy.filter(frame["given"].ne_missing(noisy["given"]))
    before = frame.filter(frame["given"].ne_missing(noisy["given"]))
    is_initial = given_changed["given"].str.len_chars() == 1
    is_nickname = [n in pools.nicknames_of(o) for n, o in zip(given_changed["given"], before["given"])]
    assert (is_initial | pl.Series(is_nickname)).all()
    assert 0.2 < is_initial.mean() < 0.8
    family_changed = frame["family"].ne_missing(noisy["family"])
    assert noisy["family"].filter(family_changed).equals(frame["cg_family"].filter(family_changed))
    assert noisy["middle"].filter(frame["middle"].ne_missing(noisy["middle"])).is_null().all()


def test_informal_name_takes_another_persons_family_name_when_nothing_else_applies(pools):
    frame = pl.DataFrame(
        {
            "notification_id": ["N1", "N2"],
            "given": ["J", "J"],
            "family": ["Smith", "Smith"],
            "cg_given": ["Ann", "Ann"],
            "cg_family": ["Jones", "SMITH"],
        }
    )
    slots = [PersonColumns("child", given="given", family="family"), PersonColumns("caregiver1", family="cg_family")]
    noisy, log = run(frame, dataclasses.replace(NoiseRates.zero(), informal_name=1.0), pools, slots=slots)
    # the child takes the caregiver's surname and the caregiver the child's (as recorded);
    # N2's two surnames are the same name, so nothing is possible there
    assert noisy["family"].to_list() == ["Jones", "Smith"]
    assert noisy["cg_family"].to_list() == ["Smith", "SMITH"]
    assert sorted(log.select("record_key", "slot", "field", "noise_type").rows()) == [
        ("N1", "caregiver1", "cg_family", "informal_name"),
        ("N1", "child", "family", "informal_name"),
    ]


def test_deterministic_swaps_and_dates_at_rate_one(pools):
    frame = pl.DataFrame(
        {
            "notification_id": ["N1", "N2", "N3", "N4"],
            "given": ["Mary", "John", "Anna", None],
            "middle": ["Jane", None, "ANNA", "Lee"],
            "given_names": ["Mary Jane", "John", "Ann Marie Rose", None],
            "dob": [dt.date(2008, 2, 29), dt.date(2010, 3, 7), dt.date(2010, 3, 13), None],
            "age_years": pl.Series([None, None, None, None], dtype=pl.Int8),
            "event_date": [dt.date(2013, 2, 28), dt.date(2015, 3, 6), dt.date(2010, 1, 1), dt.date(2015, 1, 1)],
            "sex": ["F", "M", "U", None],
        }
    )
    separate = PersonColumns(
        "child",
        given="given",
        middle="middle",
        dob="dob",
        age_years="age_years",
        event_date="event_date",
        sex="sex",
        unknown_sex_code="U",
    )
    combined = PersonColumns("child", given_names="given_names")

    def only(noise_type, slots=(separate,)):
        return run(frame, dataclasses.replace(NoiseRates.zero(), **{noise_type: 1.0}), pools, slots=list(slots))

    noisy, _ = only("given_middle_swap")
    assert noisy["given"].to_list() == ["Jane", "John", "Anna", None]
    assert noisy["middle"].to_list() == ["Mary", None, "ANNA", "Lee"]
    noisy, _ = only("given_middle_swap", [combined])
    assert noisy["given_names"].to_list() == ["Jane Mary", "John", "Marie Ann Rose", None]
    noisy, _ = only("dob_first_of_month")
    assert noisy["dob"].to_list() == [dt.date(2008, 2, 1), dt.date(2010, 3, 1), dt.date(2010, 3, 1), None]
    noisy, _ = only("dob_day_month_swap")
    assert noisy["dob"].to_list() == [dt.date(2008, 2, 29), dt.date(2010, 7, 3), dt.date(2010, 3, 13), None]
    noisy, log = only("dob_age_only")
    assert noisy["age_years"].to_list() == [4, 4, None, None]  # N3's event precedes the birth
    assert noisy["dob"].to_list() == [None, None, dt.date(2010, 3, 13), None]
    assert noisy.schema == frame.schema
    assert sorted(log.select("record_key", "field").rows()) == [
        ("N1", "age_years"),
        ("N1", "dob"),
        ("N2", "age_years"),
        ("N2", "dob"),
    ]
    noisy, _ = only("dob_missing")
    assert noisy["dob"].null_count() == 4
    noisy, _ = only("sex_unknown")
    assert noisy["sex"].to_list() == ["U", "U", "U", None]
    noisy, log = run(
        frame,
        dataclasses.replace(NoiseRates.zero(), sex_unknown=1.0),
        pools,
        slots=[dataclasses.replace(separate, unknown_sex_code="X")],
    )
    assert noisy["sex"].to_list() == ["X", "X", "X", None] and log.height == 3


def test_nickname_in_a_given_names_column_keeps_the_middle_name(pools):
    frame = pl.DataFrame({"notification_id": ["N1", "N2"], "given_names": ["William James", "Zzyzx Lee"]})
    noisy, log = run(
        frame,
        dataclasses.replace(NoiseRates.zero(), nickname=1.0),
        pools,
        slots=[PersonColumns("child", given_names="given_names")],
    )
    first, rest = noisy["given_names"][0].split(" ", 1)
    assert first in pools.nicknames_of("William") and rest == "James"
    assert noisy["given_names"][1] == "Zzyzx Lee" and log.height == 1


def test_zero_rates_change_nothing(frame, pools):
    noisy, log = run(frame, NoiseRates.zero(), pools)
    assert noisy.equals(frame) and log.height == 0 and log.schema == pl.Schema(NOISE_LOG_SCHEMA)


def test_noise_is_deterministic_for_a_seed(frame, pools):
    rates = noise_rates_for("child_protection")
    small = frame.head(5_000)
    a, log_a = run(small, rates, pools, seed=9)
    b, log_b = run(small, rates, pools, seed=9)
    c, _ = run(small, rates, pools, seed=10)
    assert a.equals(b) and log_a.equals(log_b)
    assert not a.equals(c)


def test_wrong_dtypes_are_reported_by_column_name(pools):
    frame = pl.DataFrame({"notification_id": ["N1"], "dob": ["2010-01-01"]})
    with pytest.raises(TypeError, match="'dob'"):
        run(frame, NoiseRates.zero(), pools, slots=[PersonColumns("child", dob="dob")])
    with pytest.raises(KeyError, match="'given'"):
        run(frame, NoiseRates.zero(), pools, slots=[PersonColumns("child", given="given")])


# ---------------------------------------------------------------------------------------
# Agency IDs
# ---------------------------------------------------------------------------------------


def make_id(numbers: np.ndarray) -> np.ndarray:
    return np.array([f"P{k:09d}" for k in numbers], dtype=object)


def test_agency_ids_follow_first_appearance_in_time():
    persons = np.array([7, 7, 3, 7, 3, 9])
    order = np.array([5, 1, 2, 6, 3, 0])  # in time: rows 5, 1, 2, 4, 0, 3
    ids, second = assign_agency_ids(persons, order, 0.0, np.random.default_rng(0), make_id)
    # person 9 appears first, then 7, then 3
    assert ids.tolist() == ["P000000002", "P000000002", "P000000003", "P000000002", "P000000003", "P000000001"]
    assert not second.any()


def test_second_identity_at_rate_one_spares_the_first_row_and_single_row_persons():
    persons = np.array([1, 1, 1, 2, 3, 3])
    order = np.array([3, 1, 2, 0, 5, 4])
    ids, second = assign_agency_ids(persons, order, 1.0, np.random.default_rng(0), make_id)
    assert not second[1] and not second[3] and not second[5]  # first rows in time; person 2 has one row
    assert second[[0, 2]].any() and second[4]
    assert len(set(ids[persons == 1])) == 2 and len(set(ids[persons == 3])) == 2
    assert len(set(ids)) == 5


def test_second_identity_share_and_id_integrity():
    rng = np.random.default_rng(3)
    n_persons = 50_000
    counts = rng.integers(1, 7, n_persons)
    persons = np.repeat(np.arange(n_persons) * 10 + 5, counts)
    rows = rng.permutation(len(persons))
    persons = persons[rows]
    order = rng.integers(0, 10_000, len(persons)).astype("datetime64[D]")
    rate = noise_rates_for("child_protection").second_identity
    ids, second = assign_agency_ids(persons, order, rate, np.random.default_rng(4), make_id)
    frame = pl.DataFrame(
        {"person": persons, "order": order, "row": np.arange(len(persons)), "id": ids, "second": second}
    )
    per_person = (
        frame.sort("order", "row")
        .group_by("person", maintain_order=True)
        .agg(
            pl.len().alias("rows"),
            pl.col("second").first().alias("first_is_second"),
            pl.col("second").any().alias("has_second"),
            pl.col("id").n_unique().alias("ids"),
        )
    )
    multi = per_person.filter(pl.col("rows") >= 2)
    assert within_4_sigma(int(multi["has_second"].sum()), multi.height, rate)
    assert not per_person["first_is_second"].any()
    assert (per_person["ids"] == 1 + per_person["has_second"].cast(pl.UInt32)).all()
    assert frame.group_by("id").agg(pl.col("person").n_unique())["person"].max() == 1  # no shared IDs
    # numbered as issued: first use of each ID in time is in ID order
    first_use = frame.sort("order", "row").group_by("id", maintain_order=True).first()
    assert first_use["id"].is_sorted()
    again, again_second = assign_agency_ids(persons, order, rate, np.random.default_rng(4), make_id)
    assert (again == ids).all() and (again_second == second).all()
