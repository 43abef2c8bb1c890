"""People and places: the area reference table, mothers with their latent disadvantage,
ethnicity and home postcode, and identities (names) for any set of persons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from cmi_assets.synthetic.dates import day_number, year_start


def make_areas(jurisdiction: dict, rng: np.random.Generator) -> pl.DataFrame:
    """Postcode -> county FIPS, CP office and deprivation decile. Deprivation is
    homogeneous within an office (every postcode of a high-deprivation office is in
    deciles 8-10), so the office category of Box 1 carries the area effect: the oracle
    stays reachable from Box 1 variables."""
    n_offices = int(jurisdiction["n_offices"])
    n_high = int(jurisdiction["n_high_deprivation_offices"])
    per_decile = int(jurisdiction["postcodes_per_decile"])
    offices = np.array([f"O{i:02d}" for i in range(1, n_offices + 1)])
    order = rng.permutation(n_offices)
    high_offices, low_offices = offices[order[:n_high]], offices[order[n_high:]]
    office_county = dict(zip(offices, rng.choice(np.array(jurisdiction["county_fips"]), n_offices)))

    deciles = np.repeat(np.arange(1, 11), per_decile)
    office = np.empty(deciles.size, dtype=object)
    high = deciles >= 8
    # round-robin first so that every office serves at least one postcode
    office[high] = np.resize(rng.permutation(high_offices), high.sum())
    office[~high] = np.resize(rng.permutation(low_offices), (~high).sum())
    numbers = int(jurisdiction["postcode_first"]) + rng.permutation(deciles.size)
    return pl.DataFrame(
        {
            "postcode": [f"{n:05d}" for n in numbers],
            "county_fips": [office_county[o] for o in office],
            "office_code": office.astype(str),
            "deprivation_decile": deciles.astype("int64"),
        }
    ).sort("postcode")


@dataclass(frozen=True)
class Mothers:
    """All women who give birth in the world (one row each), as numpy arrays."""

    dob: np.ndarray  # day numbers
    group: np.ndarray  # index into population.groups
    z: np.ndarray  # latent family disadvantage

    def __len__(self) -> int:
        return self.dob.size

    def take(self, index: np.ndarray) -> Mothers:
        return Mothers(self.dob[index], self.group[index], self.z[index])


def draw_mothers(params: dict, scale: float, rng: np.random.Generator) -> Mothers:
    """Mothers born over `timeline.mother_birth_years`, a fixed number per year at scale
    1; each with an ethnic group and z ~ N(group shift, 1)."""
    first, last = params["timeline"]["mother_birth_years"]
    per_year = max(1, int(round(params["fertility"]["mothers_per_cohort_year"] * scale)))
    years = np.repeat(np.arange(first, last + 1), per_year)
    starts = year_start(years)
    dob = starts + rng.integers(0, 365, years.size)
    pop = params["population"]
    group = rng.choice(len(pop["groups"]), size=years.size, p=np.asarray(pop["shares"]) / np.sum(pop["shares"]))
    z = np.asarray(pop["z_shift"])[group] + rng.standard_normal(years.size)
    return Mothers(dob=dob, group=group, z=z)


def partner_z(z: np.ndarray, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """Disadvantage of a partner, correlated with the mother's (assortative partnering)."""
    return correlation * z + np.sqrt(1 - correlation**2) * rng.standard_normal(z.size)


def deprivation_thresholds(params: dict) -> np.ndarray:
    """Cut points on the area score s = loading * z + noise giving deciles 1..10, with
    `high_deprivation_share` of mothers in deciles 8-10 and the rest spread evenly."""
    pop = params["population"]
    shares, shifts = np.asarray(pop["shares"]), np.asarray(pop["z_shift"])
    shares = shares / shares.sum()
    mean_z = float(shares @ shifts)
    var_z = 1.0 + float(shares @ (shifts - mean_z) ** 2)
    loading = float(pop["area_z_loading"])
    sd = np.sqrt(loading**2 * var_z + 1 - loading**2)
    high = float(pop["high_deprivation_share"])
    cumulative = np.concatenate([np.arange(1, 8) * (1 - high) / 7, 1 - high + np.arange(1, 3) * high / 3])
    return loading * mean_z + sd * norm.ppf(cumulative)


def draw_home_postcodes(z: np.ndarray, areas: pl.DataFrame, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Home postcode per family: disadvantaged families live in more deprived areas."""
    loading = float(params["population"]["area_z_loading"])
    score = loading * z + np.sqrt(1 - loading**2) * rng.standard_normal(z.size)
    decile = np.searchsorted(deprivation_thresholds(params), score) + 1
    return draw_postcode_in_decile(decile, areas, rng)


def draw_postcode_in_decile(decile: np.ndarray, areas: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """A uniformly chosen postcode of the given deprivation decile (moves stay in the same
    decile, so a family's deprivation marker is stable)."""
    by_decile = areas.sort("deprivation_decile", "postcode")
    codes = by_decile["postcode"].to_numpy().astype(str)
    counts = by_decile.group_by("deprivation_decile").len().sort("deprivation_decile")["len"].to_numpy().astype("int64")
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype("int64")
    decile = np.asarray(decile, dtype="int64")
    pick = offsets[decile - 1] + (rng.random(decile.size) * counts[decile - 1]).astype("int64")
    return codes[pick]


def draw_ethnicity_labels(group: np.ndarray, second_group: np.ndarray | None, params: dict) -> np.ndarray:
    """Multi-response ethnicity ("AIAN;WHITE"), groups in the spec's code order."""
    names = np.asarray(params["population"]["groups"], dtype=object)
    first = names[group]
    if second_group is None:
        return first.astype(str)
    out = first.copy()
    two = (second_group >= 0) & (second_group != group)
    a, b = group[two], second_group[two]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    out[two] = names[lo] + ";" + names[hi]
    return out.astype(str)


def observation_days(params: dict) -> tuple[int, int]:
    timeline = params["timeline"]
    return day_number(timeline["observation_start"]), day_number(timeline["observation_end"])
