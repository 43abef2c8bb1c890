"""Identity noise for agency extracts: the errors that make record linkage hard.

Each noise type is one small pure function over one value (a name, a date) plus the
uniform draws it needs, so it can be tested by hand; `apply_identity_noise` decides which
cells get which noise, with rates from `profiles/<profile>/noise.yaml`, and logs every
changed cell. `assign_agency_ids` gives persons their agency IDs, some of them a second one.

Rates are per field per person-slot per record and are *conditional on the noise being
possible*: every row draws independently, and a hit on a row where the noise cannot apply
(nickname of a name the lexicon does not know, a day/month swap of the 20th, a field already
blank) changes nothing. So a realised rate is measured as changes / rows where the noise was
possible. The four DOB noises are exclusive (one categorical draw per DOB cell): a date has
at most one of these errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from cmi_assets.reference.names import NamePools, match_case
from cmi_assets.synthetic.profile import load_profile

# ---------------------------------------------------------------------------------------
# Rates
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseRates:
    typo: float  # one keyboard edit (substitution/insertion/deletion/adjacent swap) in a name field
    nickname: float  # given name -> a nickname from the lexicon (when one exists)
    informal_name: float  # CP: nickname, dropped middle name, initial only, or a caregiver's family name
    given_middle_swap: float  # given and middle names exchanged
    surname_change: float  # family name replaced by an alternative, or hyphenated
    dob_missing: float  # DOB blank
    dob_first_of_month: float  # DOB approximated to the 1st of its month
    dob_age_only: float  # DOB blank, age in years at the event filled instead (layouts with an age column)
    dob_day_month_swap: float  # day and month transposed (only when day <= 12 and day != month)
    sex_unknown: float  # sex recorded as unknown
    second_identity: float  # share of persons (with 2+ rows) given a second agency ID for part of their rows

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"noise rate {f.name} must be in [0, 1]")
        if sum(getattr(self, name) for name in DOB_NOISE_TYPES) > 1.0:
            raise ValueError(f"the DOB noise rates ({', '.join(DOB_NOISE_TYPES)}) must sum to at most 1")

    @classmethod
    def zero(cls) -> NoiseRates:
        """No noise at all (for tests and for switching one noise type on at a time)."""
        return cls(**{f.name: 0.0 for f in fields(cls)})


# One categorical draw per DOB cell picks at most one of these, in this order.
DOB_NOISE_TYPES = ("dob_missing", "dob_age_only", "dob_first_of_month", "dob_day_month_swap")
NOISE_TYPES = tuple(f.name for f in fields(NoiseRates))


def noise_rates_for(agency: str, profile: dict | None = None) -> NoiseRates:
    """The agency's rates from the profile's `noise` section (the merged profile or the
    section itself; the default profile when None). Every rate must be listed: the YAML is
    the only place rates live."""
    section = load_profile()["noise"] if profile is None else profile.get("noise", profile)
    if agency not in section:
        raise KeyError(f"noise profile has no block for agency {agency!r}")
    block = section[agency] or {}
    missing = [name for name in NOISE_TYPES if name not in block]
    unknown = [name for name in block if name not in NOISE_TYPES]
    if missing or unknown:
        raise ValueError(f"noise profile block {agency!r}: missing rates {missing}, unknown keys {unknown}")
    return NoiseRates(**{name: float(block[name]) for name in NOISE_TYPES})


# ---------------------------------------------------------------------------------------
# Name noise: one pure function per noise type
# ---------------------------------------------------------------------------------------

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Keys next to each letter on a staggered QWERTY keyboard (same row left/right, the two
    touching keys above and below)."""
    position = {ch: (r, c) for r, row in enumerate(_KEYBOARD_ROWS) for c, ch in enumerate(row)}
    neighbours = {}
    for ch, (r, c) in position.items():
        spots = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
        neighbours[ch] = "".join(
            _KEYBOARD_ROWS[rr][cc] for rr, cc in spots if 0 <= rr < 3 and 0 <= cc < len(_KEYBOARD_ROWS[rr])
        )
    return neighbours


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()
TYPO_EDITS = ("substitution", "insertion", "deletion", "adjacent_swap")


def _pick(options: Sequence, u: float):
    return options[min(int(u * len(options)), len(options) - 1)]


def _with_case_of(ch: str, like: str) -> str:
    return ch.upper() if like.isupper() else ch.lower()


def _typo_options(name: str) -> dict[str, list[int]]:
    """Positions where each keyboard edit can happen. Deletion only inside words of two or
    more letters (a name never becomes empty); swaps only of two different adjacent letters
    (so the edit always changes the name)."""
    letters = [i for i, ch in enumerate(name) if ch.lower() in KEYBOARD_NEIGHBOURS]
    word_length = {}
    start = 0
    for word in name.replace("-", " ").split(" "):
        length = sum(ch.isalpha() for ch in word)
        word_length.update((i, length) for i in range(start, start + len(word)))
        start += len(word) + 1
    return {
        "substitution": letters,
        "insertion": letters,
        "deletion": [i for i in letters if word_length.get(i, 0) >= 2],
        "adjacent_swap": [
            i for i in letters if i + 1 < len(name) and name[i + 1].isalpha() and name[i].lower() != name[i + 1].lower()
        ],
    }


def keyboard_typo(name: str, u: Sequence[float]) -> str:
    """One keyboard edit of `name`, chosen by three uniforms in [0, 1): which edit (among those
    possible), where, and which neighbouring key. Letter cases stay where they were ('Mary'
    with the first two letters swapped is 'Amry'). Always returns a different, non-empty
    name; a name with no letters comes back unchanged."""
    options = {edit: spots for edit, spots in _typo_options(name).items() if spots}
    if not options:
        return name
    edit = _pick(list(options), u[0])
    i = _pick(options[edit], u[1])
    ch = name[i]
    if edit == "substitution":
        return name[:i] + _with_case_of(_pick(KEYBOARD_NEIGHBOURS[ch.lower()], u[2]), ch) + name[i + 1 :]
    if edit == "insertion":  # after position i: a neighbouring key or the same key struck twice
        struck = _pick(ch.lower() + KEYBOARD_NEIGHBOURS[ch.lower()], u[2])
        like = name[i + 1] if i + 1 < len(name) and name[i + 1].isalpha() else ch
        return name[: i + 1] + _with_case_of(struck, like) + name[i + 1 :]
    if edit == "deletion":
        rest = name[i + 1 :]
        if ch.isupper() and rest[:1].islower():  # 'Mary' -> 'Ary', not 'ary'
            rest = rest[0].upper() + rest[1:]
        return name[:i] + rest
    first, second = name[i], name[i + 1]  # adjacent swap: letters move, cases stay in place
    return name[:i] + _with_case_of(second, first) + _with_case_of(first, second) + name[i + 2 :]


def _first_word(names: str) -> str:
    return names.split(" ", 1)[0]


def _replace_first_word(names: str, word: str) -> str:
    parts = names.split(" ", 1)
    return word if len(parts) == 1 else f"{word} {parts[1]}"


def nickname_of(name: str, pools: NamePools, u: float) -> str | None:
    """A nickname for the first given name (the rest of a 'Given Middle' value is kept),
    chosen uniformly among the lexicon's forms; None when the lexicon has none."""
    forms = pools.nicknames_of(_first_word(name))
    return _replace_first_word(name, _pick(forms, u)) if forms else None


def given_initial_only(name: str) -> str | None:
    """The first given name reduced to its initial ('William James' -> 'W James'); None
    when it already is one."""
    first = _first_word(name)
    return _replace_first_word(name, first[0]) if len(first) > 1 else None


def middle_dropped(given_names: str) -> str | None:
    """'Given Middle' without the middle name(s); None when there is none."""
    first = _first_word(given_names)
    return first if first != given_names.strip() else None


def given_and_middle_swapped(given_names: str) -> str | None:
    """'Given Middle ...' with the first two names exchanged; None when fewer than two
    names or both alike."""
    parts = given_names.split(" ")
    if len(parts) < 2 or parts[0].lower() == parts[1].lower():
        return None
    return " ".join([parts[1], parts[0], *parts[2:]])


def changed_surname(family: str, alternative: str | None, drawn: str, u: float) -> str | None:
    """A surname change, picked uniformly among the possible forms. With a true alternative
    surname (partner's, birth or new family's, from the caller) the record carries it or the
    double-barrelled form; without one a drawn surname stands in. None when nothing differs."""
    other = alternative if alternative and alternative.lower() != family.lower() else drawn
    if not other or other.lower() == family.lower():
        return None
    other = match_case(other, family)
    return _pick([other, f"{family}-{other}"], u)


# ---------------------------------------------------------------------------------------
# Date of birth noise
# ---------------------------------------------------------------------------------------


def dob_first_of_month(dob: dt.date) -> dt.date | None:
    """The DOB approximated to the 1st of its month; None when it already is the 1st."""
    return dob.replace(day=1) if dob.day != 1 else None


def dob_day_month_swapped(dob: dt.date) -> dt.date | None:
    """Day and month transposed (a US/NZ date-format mix-up); None when impossible (day > 12)
    or invisible (day == month)."""
    if dob.day > 12 or dob.day == dob.month:
        return None
    return dob.replace(month=dob.day, day=dob.month)


def age_in_years(dob: dt.date, at: dt.date) -> int | None:
    """Completed years of age at a date. A 29 February birthday is reached on 1 March in
    common years (the day after 28 February). None when `at` is before the birth."""
    if at < dob:
        return None
    return at.year - dob.year - ((at.month, at.day) < (dob.month, dob.day))


# ---------------------------------------------------------------------------------------
# Applying noise to a frame
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonColumns:
    """The identity columns of one person slot in a frame (None = absent)."""

    slot: str  # "child", "mother", "father", "client", "caregiver1", ...
    given: str | None = None
    middle: str | None = None
    given_names: str | None = None  # "Given Middle" in one column (births, corrections)
    family: str | None = None
    alt_family: str | None = None  # a true alternative surname for surname_change, if the caller has one
    dob: str | None = None  # pl.Date column
    age_years: str | None = None  # int column filled by dob_age_only
    event_date: str | None = None  # pl.Date column: age at this date
    sex: str | None = None
    unknown_sex_code: str = "U"


NOISE_LOG_SCHEMA = {
    "agency": pl.String,
    "record_type": pl.String,
    "record_key": pl.String,
    "slot": pl.String,
    "field": pl.String,  # the frame's column name
    "noise_type": pl.String,
}


class _NoisyFrame:
    """Working copies of the columns being changed, and the log of changed cells."""

    def __init__(self, frame: pl.DataFrame):
        self.original = frame
        self.columns: dict[str, pl.Series] = {}
        self.log: list[tuple[np.ndarray, str, str, str]] = []

    def get(self, column: str) -> pl.Series:
        if column not in self.columns:
            self.columns[column] = self.original[column].clone()
        return self.columns[column]

    def set(self, column: str, rows: np.ndarray, values: list, slot: str, noise_type: str) -> None:
        """Write changed values. A value equal to the current one, or one that would restore
        the original (a nickname's nickname can be the formal name again), is not a change;
        so every logged change leaves its cell different from the truth, and the log lists
        exactly the changed cells."""
        old = self.get(column).gather(rows).to_list()
        truth = self.original[column].gather(rows).to_list()
        changed = [k for k, (a, t, b) in enumerate(zip(old, truth, values)) if b is not _KEEP and b != a and b != t]
        if not changed:
            return
        rows_changed = rows[changed]
        self.columns[column] = self.get(column).scatter(rows_changed, [values[k] for k in changed])
        self.log.append((rows_changed, slot, column, noise_type))

    def result(self) -> pl.DataFrame:
        return self.original.with_columns(
            [series.cast(self.original.schema[name]) for name, series in self.columns.items()]
        )


_KEEP = object()  # marks "this noise is not possible here"


def _hit_rows(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Rows drawn for a noise: a draw for every row, so the stream does not depend on data."""
    return np.flatnonzero(rng.random(n) < rate)


def _apply_per_value(
    work: _NoisyFrame, column: str, rows: np.ndarray, func: Callable, slot: str, noise_type: str
) -> None:
    """Apply `func(value, k)` to the hit rows' non-blank values; None from func = not possible."""
    if len(rows) == 0:
        return
    values = work.get(column).gather(rows).to_list()
    new = []
    for k, value in enumerate(values):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            new.append(_KEEP)  # a blank field stays blank
            continue
        out = func(value, k)
        new.append(_KEEP if out is None else out)
    work.set(column, rows, new, slot, noise_type)


def _given_column(slot: PersonColumns) -> str | None:
    return slot.given_names or slot.given


def _noise_informal_name(
    work: _NoisyFrame, slot: PersonColumns, slots: Sequence[PersonColumns], rates: NoiseRates, rng, pools: NamePools
) -> None:
    """Child-protection informal forms, given without identity verification (NZ study, para
    97): a nickname, the middle name dropped, the given name as an initial, or the family name
    of another person on the record as recorded (the child under a caregiver's surname, a
    caregiver under the child's). One form per hit, uniformly among those possible."""
    n = work.original.height
    rows = _hit_rows(rng, n, rates.informal_name)
    if len(rows) == 0:
        return
    u = rng.random((len(rows), 2))
    given_col = _given_column(slot)
    given = work.get(given_col).gather(rows).to_list() if given_col else [None] * len(rows)
    middle = work.get(slot.middle).gather(rows).to_list() if slot.middle else [None] * len(rows)
    family = work.get(slot.family).gather(rows).to_list() if slot.family else [None] * len(rows)
    others = [work.original[s.family].gather(rows).to_list() for s in slots if s.family and s is not slot]
    updates: dict[str, list] = {c: [_KEEP] * len(rows) for c in (given_col, slot.middle, slot.family) if c}
    for k in range(len(rows)):
        forms = []
        if given[k]:
            if nickname_of(given[k], pools, 0.0) is not None:
                forms.append((given_col, nickname_of(given[k], pools, u[k, 1])))
            if slot.given_names and middle_dropped(given[k]) is not None:
                forms.append((given_col, middle_dropped(given[k])))
            if given_initial_only(given[k]) is not None:
                forms.append((given_col, given_initial_only(given[k])))
        if slot.middle and middle[k]:
            forms.append((slot.middle, None))
        if family[k]:
            other = next((o[k] for o in others if o[k] and o[k].lower() != family[k].lower()), None)
            if other:
                forms.append((slot.family, other))
        if forms:
            column, value = _pick(forms, u[k, 0])
            updates[column][k] = value
    for column, values in updates.items():
        work.set(column, rows, values, slot.slot, "informal_name")


def _noise_names(
    work: _NoisyFrame, slot: PersonColumns, slots: Sequence[PersonColumns], rates: NoiseRates, rng, pools: NamePools
) -> None:
    """Name noise in a fixed order: informal forms, nickname, given/middle swap, surname
    change, then typos on whatever the name has become."""
    n = work.original.height
    given_col = _given_column(slot)
    _noise_informal_name(work, slot, slots, rates, rng, pools)

    if given_col:
        rows = _hit_rows(rng, n, rates.nickname)
        u = rng.random(len(rows))
        _apply_per_value(work, given_col, rows, lambda v, k: nickname_of(v, pools, u[k]), slot.slot, "nickname")

    rows = _hit_rows(rng, n, rates.given_middle_swap)
    if slot.given_names:
        swapped = lambda v, k: given_and_middle_swapped(v)  # noqa: E731
        _apply_per_value(work, slot.given_names, rows, swapped, slot.slot, "given_middle_swap")
    elif slot.given and slot.middle and len(rows):
        given = work.get(slot.given).gather(rows).to_list()
        middle = work.get(slot.middle).gather(rows).to_list()
        swap = [bool(g and m and g.strip() and m.strip() and g.lower() != m.lower()) for g, m in zip(given, middle)]
        work.set(slot.given, rows, [m if s else _KEEP for m, s in zip(middle, swap)], slot.slot, "given_middle_swap")
        work.set(slot.middle, rows, [g if s else _KEEP for g, s in zip(given, swap)], slot.slot, "given_middle_swap")

    if slot.family:
        rows = _hit_rows(rng, n, rates.surname_change)
        u = rng.random(len(rows))
        drawn = pools.draw_family(rng, len(rows))
        alternative = work.original[slot.alt_family].gather(rows).to_list() if slot.alt_family else [None] * len(rows)
        changed = lambda v, k: changed_surname(v, alternative[k], drawn[k], u[k])  # noqa: E731
        _apply_per_value(work, slot.family, rows, changed, slot.slot, "surname_change")

    for column in (given_col, slot.middle, slot.family):  # typos last: they land on the final forms
        if column:
            rows = _hit_rows(rng, n, rates.typo)
            u = rng.random((len(rows), 3))
            _apply_per_value(work, column, rows, lambda v, k, u=u: keyboard_typo(v, u[k]), slot.slot, "typo")


def _noise_dob(work: _NoisyFrame, slot: PersonColumns, rates: NoiseRates, rng) -> None:
    """One categorical draw per DOB cell: missing, age only, first of month, day/month swap."""
    n = work.original.height
    cut = np.cumsum([getattr(rates, name) for name in DOB_NOISE_TYPES])
    kind = np.searchsorted(cut, rng.random(n), side="right")  # len(cut) = no DOB noise
    if slot.dob is None:
        return
    for index, noise_type in enumerate(DOB_NOISE_TYPES):
        rows = np.flatnonzero(kind == index)
        if noise_type == "dob_missing":
            _noise_dob_missing(work, slot, rows)
        elif noise_type == "dob_age_only":
            _noise_dob_age_only(work, slot, rows)
        elif noise_type == "dob_first_of_month":
            _apply_per_value(work, slot.dob, rows, lambda v, k: dob_first_of_month(v), slot.slot, noise_type)
        else:
            _apply_per_value(work, slot.dob, rows, lambda v, k: dob_day_month_swapped(v), slot.slot, noise_type)


def _noise_dob_missing(work: _NoisyFrame, slot: PersonColumns, rows: np.ndarray) -> None:
    dob = work.get(slot.dob).gather(rows).to_list()
    work.set(slot.dob, rows, [None if d is not None else _KEEP for d in dob], slot.slot, "dob_missing")


def _noise_dob_age_only(work: _NoisyFrame, slot: PersonColumns, rows: np.ndarray) -> None:
    """DOB blank, age in completed years at the event date written instead; only where the
    layout has an age column and the event date is known."""
    if not (slot.age_years and slot.event_date) or len(rows) == 0:
        return
    dob = work.get(slot.dob).gather(rows).to_list()
    at = work.original[slot.event_date].gather(rows).to_list()
    ages = [age_in_years(d, a) if d is not None and a is not None else None for d, a in zip(dob, at)]
    possible = [age is not None for age in ages]
    work.set(slot.age_years, rows, [age if ok else _KEEP for age, ok in zip(ages, possible)], slot.slot, "dob_age_only")
    work.set(slot.dob, rows, [None if ok else _KEEP for ok in possible], slot.slot, "dob_age_only")


def _noise_sex(work: _NoisyFrame, slot: PersonColumns, rates: NoiseRates, rng) -> None:
    rows = _hit_rows(rng, work.original.height, rates.sex_unknown)
    if slot.sex:
        code = slot.unknown_sex_code
        _apply_per_value(work, slot.sex, rows, lambda v, k: code if v != code else None, slot.slot, "sex_unknown")


def apply_identity_noise(
    frame: pl.DataFrame,
    slots: Sequence[PersonColumns],
    rates: NoiseRates,
    rng: np.random.Generator,
    pools: NamePools,
    key: str,
    agency: str,
    record_type: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns the noisy frame (same rows, same columns and dtypes) and a noise log with one row
    per changed cell: agency, record_type, record_key (value of `key`), slot, field (column
    name), noise_type. A noise changing two cells (given/middle swap in separate columns, age
    only: DOB and age) logs both; count distinct (record_key, slot, noise_type) for rates."""
    _check_columns(frame, slots, key)
    work = _NoisyFrame(frame)
    for slot in slots:
        _noise_names(work, slot, slots, rates, rng, pools)
        _noise_dob(work, slot, rates, rng)
        _noise_sex(work, slot, rates, rng)
    return work.result(), _noise_log(work, frame, key, agency, record_type)


def _check_columns(frame: pl.DataFrame, slots: Sequence[PersonColumns], key: str) -> None:
    """Name columns must be strings and dates pl.Date (an object column built from a numpy
    array starting with None is a common slip); errors name the column, never a value."""
    expected = {key: None}
    for slot in slots:
        for role in ("given", "middle", "given_names", "family", "alt_family", "sex"):
            expected[getattr(slot, role)] = pl.String
        expected[slot.dob] = pl.Date
        expected[slot.event_date] = pl.Date
        expected[slot.age_years] = "integer"
    expected.pop(None, None)
    for column, dtype in expected.items():
        if column not in frame.columns:
            raise KeyError(f"identity noise: column {column!r} not in frame")
        actual = frame.schema[column]
        if (dtype == "integer" and not actual.is_integer()) or (dtype not in (None, "integer") and actual != dtype):
            raise TypeError(f"identity noise: column {column!r} has dtype {actual}, expected {dtype}")


def _noise_log(work: _NoisyFrame, frame: pl.DataFrame, key: str, agency: str, record_type: str) -> pl.DataFrame:
    if not work.log:
        return pl.DataFrame(schema=NOISE_LOG_SCHEMA)
    rows = np.concatenate([r for r, *_ in work.log])
    repeat = [len(r) for r, *_ in work.log]
    return pl.DataFrame(
        {
            "agency": pl.Series([agency] * len(rows), dtype=pl.String),
            "record_type": pl.Series([record_type] * len(rows), dtype=pl.String),
            "record_key": frame[key].cast(pl.String).gather(rows),
            "slot": pl.Series(np.repeat([s for _, s, _, _ in work.log], repeat), dtype=pl.String),
            "field": pl.Series(np.repeat([c for _, _, c, _ in work.log], repeat), dtype=pl.String),
            "noise_type": pl.Series(np.repeat([t for *_, t in work.log], repeat), dtype=pl.String),
        },
        schema=NOISE_LOG_SCHEMA,
    )


# ---------------------------------------------------------------------------------------
# Agency IDs and second identities
# ---------------------------------------------------------------------------------------


def assign_agency_ids(
    person_ids: np.ndarray,
    event_order: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    make_id: Callable[[np.ndarray], np.ndarray],
    first_number: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Agency person ID per row. Each distinct person gets one ID; with probability `rate` a
    person with two or more rows also gets a second ID (child protection does not verify
    identities, so a child can be registered twice). The second ID is first used at a random
    row after the person's first (in `event_order`), always there, and on each later row with
    probability 1/2 (workers find the old record or not). Sequence numbers (from
    `first_number`) follow the time each ID is first used, as a register issuing numbers
    would, so second IDs are not a tell-tale block: the IDs used are exactly numbers
    first_number .. first_number + (distinct IDs) - 1, and `make_id` formats them.
    Returns (ids, is_second_identity flag per row)."""
    person_ids = np.asarray(person_ids)
    n = len(person_ids)
    if n == 0:
        return make_id(np.array([], dtype=np.int64)), np.zeros(0, dtype=bool)
    time_order = np.lexsort((np.arange(n), np.asarray(event_order)))  # stable: ties keep row order
    persons, person_index = np.unique(person_ids, return_inverse=True)
    by_person = time_order[np.argsort(person_index[time_order], kind="stable")]  # rows grouped by person, in time
    counts = np.bincount(person_index, minlength=len(persons))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_in_person = np.empty(n, dtype=np.int64)
    rank_in_person[by_person] = np.arange(n) - np.repeat(starts, counts)

    gets_second = (rng.random(len(persons)) < rate) & (counts >= 2)
    switch_rank = 1 + np.floor(rng.random(len(persons)) * np.maximum(counts - 1, 1)).astype(np.int64)
    later_coin = rng.random(n) < 0.5
    row_switch = switch_rank[person_index]
    is_second = gets_second[person_index] & (
        (rank_in_person == row_switch) | ((rank_in_person > row_switch) & later_coin)
    )

    # identity 2p for primary, 2p+1 for second; numbered by the time of first use
    identity = 2 * person_index + is_second
    first_use = np.full(2 * len(persons), n, dtype=np.int64)
    position_in_time = np.empty(n, dtype=np.int64)
    position_in_time[time_order] = np.arange(n)
    np.minimum.at(first_use, identity, position_in_time)
    used = np.flatnonzero(first_use < n)
    number = np.empty(2 * len(persons), dtype=np.int64)
    number[used[np.argsort(first_use[used], kind="stable")]] = first_number + np.arange(len(used))
    return np.asarray(make_id(number[identity])), is_second
