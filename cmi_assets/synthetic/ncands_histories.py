"""True report histories of one state for the synthetic NCANDS Child Files: who was
reported when, with which findings, before any data-quality noise.

Two streams make up a state's report-child rows (the same columns as the world
simulator's `home_reports`, CFSR R4 rules, section 6):
- victim histories: a child's substantiated or indicated reports form a chain. After
  each victimization another follows within (14, 365] days with the child's age-group,
  race/ethnicity and state probability (section 2.3), or else, sometimes, 1-4 years
  later. Because the chain is memoryless, the share of a cohort's children with another
  victimization within 12 months of their first in-window one is that probability,
  whatever happened before the window (section 2.1 step 5: no look-back). Around each
  victimization come the reports the rules must ignore: re-reports within 14 days,
  same-incident duplicates, alternative-response and unsubstantiated reports.
- non-victim families: reports whose children are not found to be victims (AR,
  unsubstantiated, closed with no finding), one to three siblings per report. They give
  the files their volume (about 6.6 report-child rows per victim child).

Dates are integer days since 1970-01-01 inside this module (numpy), pl.Date outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from scipy.special import expit, logit

from cmi_assets.reference.age_groups import AGE_GROUPS

EPOCH = date(1970, 1, 1)
DAYS_PER_MONTH = 365.25 / 12
# The six age groups of section 2.2 in months [lo, hi), from the one definition (reference/age_groups.py).
GROUP_MONTHS = tuple((group.lo_months, group.hi_months) for group in AGE_GROUPS)
RECURRENCE_LAG_DAYS = (15, 365)  # (14, 365] days after the victimization (section 2.1 steps 9, 11)
MAX_CHAGE_YEARS = 21  # NCANDS ChAge codes stop at 21 (section 6, element #12)
MAX_DISPOSITION_LAG_DAYS = 180

RACE_FLAGS = ("CHRACAI", "CHRACAS", "CHRACBL", "CHRACNH", "CHRACWH", "CHRACUD")
MALTREATMENT_SLOTS = (("CHMAL1", "MAL1LEV"), ("CHMAL2", "MAL2LEV"), ("CHMAL3", "MAL3LEV"), ("CHMAL4", "MAL4LEV"))
# Report-child columns handed to to_child_file (the world simulator's home_reports schema).
REPORT_COLUMNS = (
    "STATERR",
    "RPTID",
    "CHID",
    "RPTDT",
    "INVDATE",
    "RPTSRC",
    "RPTDISP",
    "RPTDISDT",
    "CHBDATE",
    "CHSEX",
    *RACE_FLAGS,
    "CHETHN",
    "RPTCNTY",
    "CHCNTY",
    *(c for slot in MALTREATMENT_SLOTS for c in slot),
    "MALDEATH",
    "INCIDDT",
    "AFCARSID",
    "true_person_id",
)
# Disposition of a report that is not a victimization -> level of each of its maltreatments.
LEVEL_CODES = ["1", "2", "3", "4", "5", "6", "7", "8", "88", "99"]  # MALnLEV (element #27 ...)
NONVICTIM_LEVEL = {"03": "3", "04": "4", "05": "5", "06": "6", "07": "7", "88": "88", "99": "99"}
# Alphabet of the "encrypted" IDs (element #3, #4: up to 12 letters and digits).
ID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
ID_LENGTH = 8  # 36^8 > 2^40: every 40-bit number has an 8-character code
ID_BITS = 40
ID_KINDS = {"report": 0, "child": 1, "afcars": 2}


def day_number(d: date) -> int:
    return (d - EPOCH).days


def fiscal_year_start(fy: int) -> int:
    """Day number of 1 October of FY `fy` (federal FY t runs 10/1/(t-1) - 9/30/t)."""
    return day_number(date(fy - 1, 10, 1))


def whole_months(dob: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whole months from dob to day (both day numbers), as in section 2.2."""
    dob_m = dob.astype("datetime64[D]").astype("datetime64[M]")
    day_m = day.astype("datetime64[D]").astype("datetime64[M]")
    dob_dom = (dob.astype("datetime64[D]") - dob_m).astype(np.int64)
    day_dom = (day.astype("datetime64[D]") - day_m).astype(np.int64)
    return (day_m - dob_m).astype(np.int64) - (day_dom < dob_dom)


def whole_years(dob: np.ndarray, day: np.ndarray) -> np.ndarray:
    return np.floor_divide(whole_months(dob, day), 12)


def encoded_ids(kind: str, state_number: int, index: np.ndarray) -> np.ndarray:
    """Distinct 8-character letter-and-digit IDs: a bijection of the 40-bit number
    (kind, state, running index), so IDs never collide within or across states, and
    look random rather than sequential (as encrypted NCANDS IDs do)."""
    if np.any(index >= 2**30):
        raise ValueError("ID index out of range")
    x = (np.uint64(ID_KINDS[kind] * 64 + state_number) << np.uint64(30)) + index.astype(np.uint64)
    return base36_strings(mix_40_bits(x), ID_LENGTH)


def mix_40_bits(x: np.ndarray) -> np.ndarray:
    """A bijection on 40-bit integers (odd multipliers and xor-shifts modulo 2^40)."""
    mask = np.uint64(2**ID_BITS - 1)
    with np.errstate(over="ignore"):
        x = (x * np.uint64(0x9E3779B97F4A7C15)) & mask
        x ^= x >> np.uint64(19)
        x = (x * np.uint64(0xBF58476D1CE4E5B9)) & mask
        x ^= x >> np.uint64(21)
    return x


def base36_strings(values: np.ndarray, length: int) -> np.ndarray:
    """Fixed-width base-36 text of non-negative integers, vectorised."""
    powers = np.uint64(36) ** np.arange(length - 1, -1, -1, dtype=np.uint64)
    digits = (values.astype(np.uint64)[:, None] // powers[None, :]) % np.uint64(36)
    chars = ID_ALPHABET[digits].astype(np.uint8)
    return np.ascontiguousarray(chars).view(f"S{length}").ravel().astype(f"U{length}")


def choice_from(weights: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """Codes drawn with the profile's relative weights (keys become strings)."""
    keys = np.array([str(k) for k in weights])
    p = np.array([float(v) for v in weights.values()])
    return keys[rng.choice(len(keys), size=size, p=p / p.sum())]


def nullable_strings(name: str, values: np.ndarray, present: np.ndarray) -> pl.Series:
    """A string Series that is null where `present` is False."""
    series = pl.Series(name, values.astype(str))
    return pl.select(pl.when(pl.Series(present)).then(series)).to_series().alias(name)


def truncated_exponential(mean: float, upper: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Exponential with the given scale, truncated to [0, upper) by inversion."""
    tail = 1.0 - np.exp(-upper / mean)
    return -mean * np.log1p(-rng.random(size) * tail)


@dataclass(frozen=True)
class StateModel:
    """What the generator needs to know about one state."""

    state: str
    state_number: int
    size: float  # expected victims per year (denominator scale) at this world's volume
    state_effect: float  # logit shift, intercept included
    expected_rate: float
    indicated_share: float


# --------------------------------------------------------------------------- recurrence


def age_group_index(age_months: np.ndarray, groups: list[dict]) -> np.ndarray:
    """Index of the section 2.2 age group (0-3 mo ... 17 y); unborn children count in
    the first group, 18+ get len(groups)."""
    edges = np.array([hi for _, hi in GROUP_MONTHS])
    if [g["group"] for g in groups] != [group.label for group in AGE_GROUPS]:
        raise ValueError("ncands profile: recurrence.age_groups must list the six groups of section 2.2 in order")
    return np.searchsorted(edges, np.maximum(age_months, 0), side="right")


def share_of_recurrences_before_18(lag_mean: float, group_months: tuple[int, int]) -> float:
    """Of next victimizations within (14, 365] days, the share that comes before the 18th
    birthday, for ages uniform in the group: after it the rules drop the record (section
    2.1 step 6), which is why the observed 17 y rate (3.7%) is low. Dividing the observed
    target by this share gives the underlying probability the chain must use."""
    lo, hi = RECURRENCE_LAG_DAYS
    ages_days = np.linspace(group_months[0], group_months[1], 2001)[:-1] * DAYS_PER_MONTH
    days_to_18 = 18 * 365.25 - ages_days
    span = np.clip(days_to_18 - lo, 0, hi - lo)
    cdf = (1 - np.exp(-span / lag_mean)) / (1 - np.exp(-(hi - lo) / lag_mean))
    return float(np.mean(np.where(days_to_18 > lo, cdf, 0.0)))


def recurrence_probability(
    age_months: np.ndarray, race_log_or: np.ndarray, state: StateModel, recurrence: dict, lag_mean: float
) -> np.ndarray:
    """Probability of another victimization within (14, 365] days: logit of the observed
    age-group rate + race/ethnicity log odds ratio + state effect (section 2.3, the
    multilevel model of section 4.1), corrected for the follow-up lost at 18. Zero at 18+."""
    groups = recurrence["age_groups"]
    observed_logit = logit([g["rate"] for g in groups])
    before_18 = np.array([share_of_recurrences_before_18(lag_mean, b) for b in GROUP_MONTHS])
    index = age_group_index(age_months, groups)
    adult = index >= len(groups)
    index = np.minimum(index, len(groups) - 1)
    p = expit(observed_logit[index] + race_log_or + state.state_effect) / before_18[index]
    return np.where(adult, 0.0, np.minimum(p, 0.95))


def victims_per_starter(rate: float, later: float, lag_mean: float) -> float:
    """Distinct victim children in a FY per history started in it, in steady state: a
    history has 1/(1-c) victimizations (c = chance of one more), and a later one makes
    the child count again in a new FY when it crosses a FY boundary (always for lags
    over a year; with probability lag/365 for a recurrence)."""
    cont = rate + (1 - rate) * later
    if cont <= 0:
        return 1.0
    links = 1.0 / (1.0 - cont)
    lo, hi = RECURRENCE_LAG_DAYS
    span = hi - lo
    mean_lag = lo + lag_mean - span * np.exp(-span / lag_mean) / (1 - np.exp(-span / lag_mean))
    new_fy = (rate * mean_lag / 365.0 + (1 - rate) * later) / cont
    return 1.0 + (links - 1.0) * new_fy


# --------------------------------------------------------------------------- children


def draw_race_groups(recurrence: dict, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Race/ethnicity group per child and its log odds ratio against the reference rate."""
    races = recurrence["race_ethnicity"]
    share = np.array([r["share"] for r in races])
    index = rng.choice(len(races), size=size, p=share / share.sum())
    log_or = logit([r["rate"] for r in races]) - logit(recurrence["reference_rate"])
    return np.array([r["group"] for r in races])[index], log_or[index]


def race_flags(groups: np.ndarray, rng) -> dict[str, np.ndarray]:
    """NCANDS race flags (1 yes / 2 no, 9 unknown) and Hispanic ethnicity per group."""
    n = len(groups)
    flags = {name: np.full(n, "2", dtype="U1") for name in RACE_FLAGS}
    ethnicity = np.full(n, "2", dtype="U1")
    single = {"white": "CHRACWH", "black": "CHRACBL", "aian": "CHRACAI", "asian": "CHRACAS", "nhpi": "CHRACNH"}
    for group, flag in single.items():
        flags[flag][groups == group] = "1"
    hispanic = groups == "hispanic"
    ethnicity[hispanic] = "1"
    hispanic_white = hispanic & (rng.random(n) < 0.6)
    flags["CHRACWH"][hispanic_white] = "1"
    flags["CHRACUD"][hispanic & ~hispanic_white] = "1"
    pairs = (("CHRACWH", "CHRACBL"), ("CHRACWH", "CHRACAI"), ("CHRACWH", "CHRACAS"), ("CHRACBL", "CHRACAI"))
    two = np.flatnonzero(groups == "two_or_more")
    pick = rng.choice(len(pairs), size=two.size, p=[0.6, 0.15, 0.15, 0.1])
    for k, (a, b) in enumerate(pairs):
        flags[a][two[pick == k]] = "1"
        flags[b][two[pick == k]] = "1"
    missing = np.flatnonzero(groups == "missing")
    undetermined = missing[rng.random(missing.size) < 0.5]
    for name in RACE_FLAGS:
        flags[name][missing] = "9"
        flags[name][undetermined] = "2"
    flags["CHRACUD"][undetermined] = "1"
    ethnicity[missing] = "9"
    ethnicity[undetermined] = "3"
    return {**flags, "CHETHN": ethnicity}


def county_codes(n_counties: int, size: int, rng) -> np.ndarray:
    """3-digit county FIPS codes (odd numbers, as most are), Zipf-like county sizes."""
    weights = 1.0 / np.arange(1, n_counties + 1) ** 0.9
    index = rng.choice(n_counties, size=size, p=weights / weights.sum())
    codes = (2 * index + 1).astype("U3")
    return np.char.zfill(codes, 3) if codes.size else codes  # zfill cannot size an empty array


def children_frame(
    state: StateModel, first_child: int, dob: np.ndarray, race_group: np.ndarray, afcars_share: float, cfg: dict, rng
) -> pl.DataFrame:
    """Identity of children first_child.. : true person, Child ID, DOB, sex, race, county."""
    n = dob.size
    index = np.arange(first_child, first_child + n)
    afcars = rng.random(n) < afcars_share
    return pl.DataFrame(
        {
            "child": index,
            "true_person_id": 8_000_000_000_000_000 + state.state_number * 1_000_000_000_000 + index,
            "CHID": encoded_ids("child", state.state_number, index),
            "CHBDATE": pl.Series(dob.astype(np.int32)).cast(pl.Date),
            "CHSEX": np.where(rng.random(n) < 0.51, "2", "1"),
            **race_flags(race_group, rng),
            "CHCNTY": county_codes(cfg["reports"]["counties"], n, rng),
            "AFCARSID": nullable_strings("AFCARSID", encoded_ids("afcars", state.state_number, index), afcars),
        }
    )


# --------------------------------------------------------------------------- victim histories


def continuing_age_mix(
    shares: np.ndarray, rate: float, later: float, lag_mean: float, later_lag_mean: float
) -> np.ndarray:
    """Age-group mix of children whose first victimization in a FY continues an earlier
    history: ages of the target mix moved on by one recurrence or later-victimization
    lag (a deterministic grid, not a sample); those reaching 18 drop out."""
    lo, hi = RECURRENCE_LAG_DAYS
    quantiles = (np.arange(64) + 0.5) / 64
    tail = 1 - np.exp(-(hi - lo + 1) / lag_mean)
    recurrence_lags = lo + -lag_mean * np.log1p(-quantiles * tail)
    later_lags = 366 - later_lag_mean * np.log1p(-quantiles)
    p_recur = rate / (rate + (1 - rate) * later)
    mix = np.zeros(len(GROUP_MONTHS))
    for share, (g_lo, g_hi) in zip(shares, GROUP_MONTHS):
        ages = np.linspace(g_lo, g_hi, 41)[:-1] + (g_hi - g_lo) / 80
        for lags, weight in ((recurrence_lags, p_recur), (later_lags, 1 - p_recur)):
            months = ages[:, None] + lags[None, :] / DAYS_PER_MONTH
            index = np.searchsorted([g[1] for g in GROUP_MONTHS], months, side="right")
            counts = np.bincount(index.ravel(), minlength=len(GROUP_MONTHS) + 1)[: len(GROUP_MONTHS)]
            mix += share * weight * counts / months.size
    return mix / mix.sum()


def starter_age_shares(recurrence: dict, histories: dict, rate: float) -> np.ndarray:
    """Age mix of first victimizations such that, once children continuing earlier
    histories join them, a FY's victims have the section 2.3 mix."""
    shares = np.array([g["share"] for g in recurrence["age_groups"]], dtype=float)
    shares /= shares.sum()
    later, lag_mean = histories["later_victimization"], histories["recurrence_lag_mean_days"]
    continuing = 1 - 1 / victims_per_starter(rate, later, lag_mean)
    mix = continuing_age_mix(shares, rate, later, lag_mean, histories["later_lag_mean_days"])
    starters = np.clip((shares - continuing * mix) / (1 - continuing), 0.1 * shares, None)
    return starters / starters.sum()


def starter_ages_days(recurrence: dict, histories: dict, rate: float, size: int, rng) -> np.ndarray:
    """Age in days at the first victimization (starter_age_shares), plus small shares of
    unborn children (negative ages) and young adults 18-21 that the rules must drop."""
    bounds = np.array(GROUP_MONTHS, dtype=float)
    share = starter_age_shares(recurrence, histories, rate)
    unborn, adult = histories["unborn_share"], histories["adult_share"]
    p = np.concatenate([share * (1 - unborn - adult), [unborn, adult]])
    pick = rng.choice(len(p), size=size, p=p)
    lo = np.concatenate([bounds[:, 0], [0.0, 216.0]])[pick] * DAYS_PER_MONTH
    hi = np.concatenate([bounds[:, 1], [0.0, 264.0]])[pick] * DAYS_PER_MONTH
    age = np.floor(lo + rng.random(size) * (hi - lo))
    is_unborn = pick == len(share)
    age[is_unborn] = -rng.integers(1, 150, size=int(is_unborn.sum()))
    return age.astype(np.int64)


def victimization_chains(
    start_day: np.ndarray, dob: np.ndarray, race_log_or: np.ndarray, state: StateModel, cfg: dict, last_day: int, rng
) -> pl.DataFrame:
    """Every victimization of each child: child, day, death. Vectorised over children,
    one loop step per victimization number (a few dozen at most)."""
    histories, recurrence = cfg["victim_histories"], cfg["recurrence"]
    lag_mean = histories["recurrence_lag_mean_days"]
    child = np.arange(start_day.size)
    day = start_day.astype(np.int64)
    parts = [(child[:0], day[:0], np.zeros(0, dtype=bool))]  # a tiny state can have no victims at all
    while child.size:
        death = rng.random(child.size) < histories["death_share"]
        parts.append((child, day, death))
        p = recurrence_probability(whole_months(dob[child], day), race_log_or[child], state, recurrence, lag_mean)
        draw = rng.random(child.size)
        recur = draw < p
        later = ~recur & (rng.random(child.size) < histories["later_victimization"]) & (p > 0)
        lo, hi = RECURRENCE_LAG_DAYS
        lag = np.where(
            recur,
            lo + np.floor(truncated_exponential(lag_mean, hi - lo + 1, child.size, rng)),
            366 + np.floor(rng.exponential(histories["later_lag_mean_days"], child.size)),
        ).astype(np.int64)
        go_on = (recur | later) & ~death & (day + lag <= last_day)
        child, day = child[go_on], (day + lag)[go_on]
    children, days, deaths = (np.concatenate(x) for x in zip(*parts))
    return pl.DataFrame({"child": children, "day": days, "death": deaths}).sort("child", "day")


def victim_report_rows(chains: pl.DataFrame, cfg: dict, last_day: int, rng) -> pl.DataFrame:
    """The victimizations plus the reports around them that must not count: re-reports
    within 14 days (section 2.1 step 9), same-incident duplicates 15-120 days later with
    the same INCIDDT (step 10), and non-victim reports (AR, unsubstantiated) within a
    year either side (step 3). Columns: child, day, incident_day, kind, death."""
    histories, reports = cfg["victim_histories"], cfg["reports"]
    n = chains.height
    child = chains["child"].to_numpy()
    day = chains["day"].to_numpy()
    death = chains["death"].to_numpy()
    incident = day - np.floor(rng.exponential(reports["incident_lag_mean_days"], n)).astype(np.int64)
    has_incident = rng.random(n) < reports["incident_date"]
    duplicate = (rng.random(n) < histories["same_incident_duplicate"]) & ~death
    has_incident |= duplicate  # both reports of a duplicate pair carry the incident date
    rereport = (rng.random(n) < histories["rereport_within_14_days"]) & ~death
    nonvictim = rng.random(n) < histories["nonvictim_report"]

    frames = [_rows(child, day, np.where(has_incident, incident, -1), "victim", death)]
    k = int(rereport.sum())
    re_day = day[rereport] + rng.integers(0, 15, size=k)
    same = rng.random(k) < 0.5
    re_incident = np.where(same & has_incident[rereport], incident[rereport], re_day - rng.integers(0, 8, size=k))
    re_incident = np.where(rng.random(k) < reports["incident_date"], re_incident, -1)
    frames.append(_rows(child[rereport], re_day, re_incident, "victim", np.zeros(k, bool)))
    k = int(duplicate.sum())
    frames.append(
        _rows(
            child[duplicate],
            day[duplicate] + rng.integers(15, 121, size=k),
            incident[duplicate],
            "victim",
            np.zeros(k, bool),
        )
    )
    k = int(nonvictim.sum())
    shift = rng.integers(-365, 366, size=k)
    shift = np.where(death[nonvictim], -np.abs(shift), shift)  # nothing after a fatal report
    nv_day = day[nonvictim] + shift
    disposition = choice_from(cfg["nonvictim_families"]["dispositions"], k, rng)
    frames.append(_rows(child[nonvictim], nv_day, nv_day - rng.integers(0, 15, size=k), disposition, np.zeros(k, bool)))
    rows = pl.concat(frames).filter(pl.col("day") <= last_day)
    return _no_reports_after_death(rows)


def _rows(child, day, incident_day, kind, death) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "child": child.astype(np.int64),
            "day": day.astype(np.int64),
            "incident_day": incident_day.astype(np.int64),
            "kind": np.broadcast_to(np.asarray(kind), child.shape).astype(str),
            "death": death.astype(bool),
        }
    )


def _no_reports_after_death(rows: pl.DataFrame) -> pl.DataFrame:
    died = rows.filter(pl.col("death")).group_by("child").agg(pl.col("day").min().alias("death_day"))
    return (
        rows.join(died, on="child", how="left", maintain_order="left")
        .filter(pl.col("death_day").is_null() | (pl.col("day") <= pl.col("death_day")))
        .drop("death_day")
    )


def victim_histories(
    state: StateModel, cfg: dict, first_day: int, last_day: int, rng
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Children with victim histories starting in [first_day, last_day] and their report
    rows (before report details): (children, rows)."""
    histories, recurrence = cfg["victim_histories"], cfg["recurrence"]
    per_starter = victims_per_starter(
        state.expected_rate, histories["later_victimization"], histories["recurrence_lag_mean_days"]
    )
    years = (last_day - first_day + 1) / 365.25
    n = int(rng.poisson(state.size / per_starter * years))
    start_day = first_day + np.sort(rng.integers(0, last_day - first_day + 1, size=n))
    dob = start_day - starter_ages_days(recurrence, histories, state.expected_rate, n, rng)
    race_group, race_log_or = draw_race_groups(recurrence, n, rng)
    children = children_frame(state, 0, dob, race_group, histories["afcars_share"], cfg, rng)
    chains = victimization_chains(start_day, dob, race_log_or, state, cfg, last_day, rng)
    rows = victim_report_rows(chains, cfg, last_day, rng)
    born_or_victim = (pl.col("kind") == "victim") | (pl.col("day") >= pl.col("dob_day"))
    rows = (
        rows.join(pl.DataFrame({"child": np.arange(n), "dob_day": dob}), on="child", maintain_order="left")
        .filter(born_or_victim & (pl.col("day") - pl.col("dob_day") < (MAX_CHAGE_YEARS + 1) * 365))
        .drop("dob_day")
    )
    return children, rows


# --------------------------------------------------------------------------- non-victim families


def nonvictim_families(
    state: StateModel, cfg: dict, first_child: int, first_day: int, last_day: int, rng
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Families whose reports find no victim: 1-3 siblings named on every report of the
    family. (children, rows) with rows: report, child, day, kind = disposition code."""
    families = cfg["nonvictim_families"]
    sibling_p = np.array(list(families["children"].values()), dtype=float)
    sibling_n = np.array([int(k) for k in families["children"]])
    mean_children = float(sibling_n @ sibling_p / sibling_p.sum())
    rows_per_family = mean_children * (1 + families["extra_reports_mean"])
    years = (last_day - first_day + 1) / 365.25
    n_families = int(rng.poisson(state.size * cfg["nonvictim_rows_per_victim"] * years / rows_per_family))
    n_children = sibling_n[rng.choice(len(sibling_n), size=n_families, p=sibling_p / sibling_p.sum())]
    family_of_child = np.repeat(np.arange(n_families), n_children)
    n = family_of_child.size
    n_reports = 1 + rng.poisson(families["extra_reports_mean"], size=n_families)
    family_of_report = np.repeat(np.arange(n_families), n_reports)
    report_day = first_day + rng.integers(0, last_day - first_day + 1, size=family_of_report.size)
    # Ages at the family's first report: the eldest 0-17, siblings younger by 1-5 years.
    first_report_day = np.full(n_families, np.iinfo(np.int64).max)
    np.minimum.at(first_report_day, family_of_report, report_day)
    eldest_age = rng.integers(0, 18 * 365, size=n_families)
    birth_order = np.arange(n) - np.repeat(np.cumsum(n_children) - n_children, n_children)
    gap = np.where(birth_order > 0, rng.integers(365, 5 * 365, size=n), 0)
    dob = (
        first_report_day[family_of_child]
        - eldest_age[family_of_child]
        + np.cumsum(gap)
        - _family_cumsum(gap, n_children)
    )
    race_group, _ = draw_race_groups(cfg["recurrence"], n_families, rng)
    children = children_frame(state, first_child, dob, race_group[family_of_child], families["afcars_share"], cfg, rng)
    children = children.with_columns(pl.Series("family", family_of_child))
    reports = pl.DataFrame(
        {
            "family": family_of_report,
            "report": np.arange(family_of_report.size),
            "day": report_day,
            "kind": choice_from(families["dispositions"], family_of_report.size, rng),
        }
    ).with_columns(incident_day=_family_incident_days(report_day, cfg["reports"], rng))
    rows = (
        reports.join(
            pl.DataFrame(
                {
                    "family": family_of_child,
                    "child": np.arange(first_child, first_child + n),
                    "dob_day": dob,
                    "birth_order": birth_order,
                }
            ),
            on="family",
            maintain_order="left_right",
        )
        .filter((pl.col("day") >= pl.col("dob_day")) & (pl.col("day") - pl.col("dob_day") < 18 * 365))
        .sort("report", "child")
    )
    no_allegation = (rows["birth_order"].to_numpy() > 0) & (rng.random(rows.height) < families["no_allegation_sibling"])
    rows = rows.with_columns(pl.Series("no_allegation", no_allegation), pl.lit(False).alias("death"))
    return children, rows.select("report", "child", "day", "incident_day", "kind", "death", "no_allegation")


def _family_incident_days(report_day: np.ndarray, reports: dict, rng) -> np.ndarray:
    """INCIDDT of a family report (-1 when not reported), shared by the siblings on it."""
    incident = report_day - np.floor(rng.exponential(reports["incident_lag_mean_days"], report_day.size))
    return np.where(rng.random(report_day.size) < reports["incident_date"], incident, -1).astype(np.int64)


def _family_cumsum(gap: np.ndarray, n_children: np.ndarray) -> np.ndarray:
    """Cumulative sum of sibling gaps up to the start of each child's family (so that
    np.cumsum(gap) - this is the running sum within the family)."""
    starts = np.cumsum(n_children) - n_children
    before = np.concatenate([[0], np.cumsum(gap)])[starts]
    return np.repeat(before, n_children)


# --------------------------------------------------------------------------- report details


def maltreatment_columns(
    kind: np.ndarray, no_allegation: np.ndarray, death: np.ndarray, indicated_share: float, cfg: dict, rng
) -> dict[str, pl.Series]:
    """CHMAL1-4 and MAL1LEV-4 per report-child row (section 6, elements #26-33): 1-4
    distinct maltreatment types; a victim row has at least one substantiated or indicated
    level (in a random slot, other slots substantiated or not), a non-victim row the level
    of its report's disposition, a sibling with no allegation type 6 / level 8. A share
    of deaths carries no finding at all: such a child is a victim through MALDEATH."""
    reports = cfg["reports"]
    n = kind.size
    counts = np.array([int(k) for k in reports["maltreatments"]])
    count_p = np.array(list(reports["maltreatments"].values()), dtype=float)
    n_mal = counts[rng.choice(len(counts), size=n, p=count_p / count_p.sum())]
    types = [str(k) for k in reports["maltreatment_types"]]
    type_w = np.array(list(reports["maltreatment_types"].values()), dtype=float)
    # Distinct types in random order: Gumbel top-k over the weights.
    order = np.argsort(-(np.log(type_w)[None, :] + rng.gumbel(size=(n, len(types)))), axis=1)
    # Codes are built as indices into small code tables and gathered by polars, which is
    # much faster than turning millions of numpy strings into a polars column.
    type_codes = pl.Series(types + ["6"])
    level_codes = pl.Series(LEVEL_CODES)
    level_index = {code: i for i, code in enumerate(LEVEL_CODES)}
    kinds, kind_index = np.unique(kind, return_inverse=True)
    nonvictim_level = np.array([level_index[NONVICTIM_LEVEL.get(k, "5")] for k in kinds])[kind_index]
    victim = kind == "victim"
    finding = np.where(rng.random(n) < indicated_share, level_index["2"], level_index["1"])
    finding_slot = np.floor(rng.random(n) * n_mal).astype(np.int64)
    no_finding_death = victim & death & (rng.random(n) < cfg["victim_histories"]["death_without_finding_share"])
    out: dict[str, pl.Series] = {}
    for slot, (type_col, level_col) in enumerate(MALTREATMENT_SLOTS):
        present = (slot < n_mal) & ~(no_allegation & (slot > 0))
        other_victim_level = np.where(rng.random(n) < 0.5, finding, level_index["5"])
        level = np.where(victim, np.where(slot == finding_slot, finding, other_victim_level), nonvictim_level)
        level = np.where(no_finding_death, level_index["7"], level)
        mal_type = order[:, slot]
        if slot == 0:
            mal_type = np.where(no_allegation, len(types), mal_type)
            level = np.where(no_allegation, level_index["8"], level)
        out[type_col] = _gather_where(type_codes, mal_type, present, type_col)
        out[level_col] = _gather_where(level_codes, level, present, level_col)
    return out


def _gather_where(codes: pl.Series, index: np.ndarray, present: np.ndarray, name: str) -> pl.Series:
    gathered = codes.gather(index.astype(np.uint32))
    return pl.select(pl.when(pl.Series(present)).then(gathered)).to_series().alias(name)


def report_disposition(levels: list[pl.Series], kind: np.ndarray) -> np.ndarray:
    """RPTDISP: 01 when any maltreatment is substantiated, else 02 when indicated, else
    the non-victim report's own disposition (07 for a death without a finding)."""
    substantiated = np.any([(lv == "1").fill_null(False).to_numpy() for lv in levels], axis=0)
    indicated = np.any([(lv == "2").fill_null(False).to_numpy() for lv in levels], axis=0)
    victim_other = np.where(kind == "victim", "07", kind)
    return np.where(substantiated, "01", np.where(indicated, "02", victim_other))


def report_detail_columns(n_reports: int, report_day: np.ndarray, cfg: dict, rng) -> dict[str, np.ndarray]:
    """Per report: source, investigation start, disposition date (a lognormal lag, so
    reports late in a FY are disposed in the next one and land in its file)."""
    reports = cfg["reports"]
    inv_lag = rng.poisson(reports["investigation_lag_mean_days"], n_reports)
    disp_lag = np.floor(
        reports["disposition_lag_median_days"]
        * np.exp(reports["disposition_lag_sigma"] * rng.standard_normal(n_reports))
    ).astype(np.int64)
    disp_lag = np.clip(np.maximum(disp_lag, inv_lag), 0, MAX_DISPOSITION_LAG_DAYS)
    inv_day = report_day + inv_lag
    return {
        "RPTSRC": choice_from(reports["report_sources"], n_reports, rng),
        "INVDATE": np.where(rng.random(n_reports) < reports["investigation_date"], inv_day, -1),
        "RPTDISDT": report_day + disp_lag,
    }


def state_report_rows(
    state: StateModel, cfg: dict, first_day: int, bulk_first_day: int, last_day: int, rng
) -> pl.DataFrame:
    """All true report-child rows of one generated state, in the home_reports schema."""
    v_children, v_rows = victim_histories(state, cfg, first_day, last_day, rng)
    f_children, f_rows = nonvictim_families(state, cfg, v_children.height, bulk_first_day, last_day, rng)
    v_rows = v_rows.with_columns(pl.int_range(pl.len()).alias("report"), pl.lit(False).alias("no_allegation"))
    f_rows = f_rows.with_columns(pl.col("report") + v_rows.height)
    rows = pl.concat([v_rows.select(f_rows.columns), f_rows])
    kind = rows["kind"].to_numpy()
    mal = maltreatment_columns(
        kind, rows["no_allegation"].to_numpy(), rows["death"].to_numpy(), state.indicated_share, cfg, rng
    )
    report_index = rows["report"].to_numpy()
    rows = rows.with_columns(
        pl.Series("RPTID", encoded_ids("report", state.state_number, report_index)),
        # String whatever numpy infers (an empty state's codes come back as objects)
        pl.Series(
            "disposition", report_disposition([mal[level] for _, level in MALTREATMENT_SLOTS], kind), dtype=pl.String
        ),
        *mal.values(),
    )
    # Report-level values are shared by the siblings named on one report.
    reports = rows.group_by("report", maintain_order=True).agg(
        pl.col("day").first(), pl.col("disposition").min().alias("RPTDISP")
    )
    details = report_detail_columns(reports.height, reports["day"].to_numpy(), cfg, rng)
    reports = reports.with_columns(
        *(pl.Series(k, v) for k, v in details.items()),
        pl.Series("same_county", rng.random(reports.height) < 0.92),
        pl.Series("other_county", county_codes(cfg["reports"]["counties"], reports.height, rng)),
    ).drop("day")
    children = pl.concat([v_children, f_children.drop("family")])
    # A victim child's AFCARS ID (foster care) is reported with its victimizations.
    afcars_where_placed = pl.when((pl.col("kind") == "victim") | (pl.col("child") >= v_children.height)).then(
        pl.col("AFCARSID")
    )
    frame = (
        rows.join(reports, on="report", how="left", maintain_order="left")
        .join(children, on="child", how="left", maintain_order="left")
        .with_columns(
            STATERR=pl.lit(state.state),
            RPTDT=_as_date(pl.col("day")),
            INCIDDT=pl.when(pl.col("incident_day") >= 0).then(_as_date(pl.col("incident_day"))),
            INVDATE=pl.when(pl.col("INVDATE") >= 0).then(_as_date(pl.col("INVDATE"))),
            RPTDISDT=_as_date(pl.col("RPTDISDT")),
            RPTCNTY=pl.when(pl.col("same_county")).then(pl.col("CHCNTY")).otherwise(pl.col("other_county")),
            MALDEATH=pl.when(pl.col("death")).then(pl.lit("1")).otherwise(pl.lit("2")),
            AFCARSID=afcars_where_placed,
        )
    )
    return frame.select(REPORT_COLUMNS)


def _as_date(day: pl.Expr) -> pl.Expr:
    return day.cast(pl.Int32).cast(pl.Date)
