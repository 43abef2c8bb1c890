"""Name pools and the nickname lexicon, built from kept name data rather than hand-typed lists:
the synthetic world draws names from them and standardisation reads the lexicon.

Given names and surnames come from the US census frequency files shipped with the `names`
package (dist.male.first, dist.female.first, dist.all.last); nicknames and the formal names
they stand for come from the `nicknames` lexicon. Everything loads once (`load_name_pools`
is cached) and every draw is vectorised over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import names as _names_package
import numpy as np
from nicknames import NickNamer

_CENSUS_DIR = Path(_names_package.__file__).parent


def title_case_name(name: str) -> str:
    """'MARY' -> 'Mary', 'MCDONALD' -> 'McDonald', "O'BRIEN" -> "O'Brien", 'ANNE-MARIE' -> 'Anne-Marie'."""
    out = []
    for word in name.lower().split(" "):
        parts = [p[:1].upper() + p[1:] for p in word.split("-")]
        word = "-".join(parts)
        if word.startswith("O'") and len(word) > 2:
            word = "O'" + word[2].upper() + word[3:]
        elif word.startswith("Mc") and len(word) > 2:
            word = "Mc" + word[2].upper() + word[3:]
        out.append(word)
    return " ".join(out)


def match_case(name: str, like: str) -> str:
    """`name` written in the case style of `like` (UPPER, lower or Title), so a replacement
    name looks as if the same clerk typed it."""
    if like.isupper() and len(like) > 1:
        return name.upper()
    if like.islower():
        return name.lower()
    return title_case_name(name)


def _read_census_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Names (Title case) and their population shares from one census frequency file.

    The files round shares to 0.001 %, so the long tail of rare surnames reads as 0.000;
    those names share equally the mass the cumulative column says they hold (last
    cumulative share minus the sum of the non-zero shares), so rare surnames still occur.
    """
    raw_names, shares, cumulative = [], [], 0.0
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        raw_names.append(fields[0])
        shares.append(float(fields[1]))
        cumulative = float(fields[2])
    share = np.array(shares)
    zero = share == 0.0
    if zero.any():
        share[zero] = max(cumulative - share[~zero].sum(), 0.0) / zero.sum() or 1e-6
    return np.array([title_case_name(n) for n in raw_names], dtype=object), share


@dataclass(frozen=True)
class _WeightedPool:
    """Names with cumulative probabilities, for inverse-CDF draws with np.searchsorted."""

    names: np.ndarray
    weights: np.ndarray

    @property
    def cumulative(self) -> np.ndarray:
        return self._cumulative

    def __post_init__(self) -> None:
        cumulative = np.cumsum(self.weights)
        object.__setattr__(self, "_cumulative", cumulative / cumulative[-1])

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        index = np.searchsorted(self.cumulative, rng.random(n), side="right")
        return self.names[np.minimum(index, len(self.names) - 1)]


def _merge_pools(a: _WeightedPool, b: _WeightedPool) -> _WeightedPool:
    """One pool holding both sexes' names (a name in both keeps the sum of its shares)."""
    totals: dict[str, float] = {}
    for pool in (a, b):
        for name, weight in zip(pool.names, pool.weights / pool.weights.sum()):
            totals[name] = totals.get(name, 0.0) + weight
    return _WeightedPool(np.array(list(totals), dtype=object), np.array(list(totals.values())))


class NamePools:
    """Frequency-weighted given names by sex, surnames, and the nickname lexicon."""

    def __init__(self, male: _WeightedPool, female: _WeightedPool, family: _WeightedPool, nicknamer: NickNamer):
        self._given = {"M": male, "F": female, "U": _merge_pools(male, female)}
        self._family = family
        self._nicknamer = nicknamer
        self._similar_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, int]] = {}
        self._shape_cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._nickname_cache: dict[str, list[str]] = {}

    # ---- frequency-weighted draws -------------------------------------------------------
    def draw_given(self, rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
        """A given name per row from the pool of that row's sex ('M'/'F'; anything else draws
        from both pools together)."""
        sex = np.asarray(sex, dtype=object)
        out = np.empty(len(sex), dtype=object)
        groups = {"M": sex == "M", "F": sex == "F"}
        groups["U"] = ~(groups["M"] | groups["F"])
        for code, rows in groups.items():
            if rows.any():
                out[rows] = self._given[code].draw(rng, int(rows.sum()))
        return out

    def draw_family(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._family.draw(rng, n)

    def given_share(self, name: str, sex: str) -> float:
        """The population share of a given name in a sex's pool (0 when absent); for tests
        and calibration."""
        pool = self._given[sex if sex in ("M", "F") else "U"]
        hits = np.flatnonzero(pool.names == title_case_name(name))
        return float(pool.weights[hits].sum() / pool.weights.sum()) if len(hits) else 0.0

    # ---- nickname lexicon -----------------------------------------------------------------
    def nicknames_of(self, name: str) -> list[str]:
        """Diminutive / informal forms of a formal name ('William' -> 'Bill', 'Will', ...),
        in the case style of `name`, sorted; empty when the lexicon has none."""
        if name not in self._nickname_cache:
            self._nickname_cache[name] = _lexicon_forms(self._nicknamer.nicknames_of(name), name)
        return list(self._nickname_cache[name])

    def canonical_forms(self, name: str) -> list[str]:
        """The formal names a nickname stands for ('Bill' -> 'William', ...), in the case
        style of `name`, sorted; for name comparisons in linkage."""
        return _lexicon_forms(self._nicknamer.canonicals_of(name), name)

    # ---- look-alike names (twins) -----------------------------------------------------------
    def draw_similar_given(self, rng: np.random.Generator, names: np.ndarray, sex: np.ndarray) -> np.ndarray:
        """A different given name that looks alike: same first letter and a length within one
        of the original, frequency-weighted within that sex's pool. Twins often carry such
        names, and name-based linkage then merges them (NZ study, para 102). Null stays null."""
        names = np.asarray(names, dtype=object)
        sex = np.asarray(sex, dtype=object)
        out = np.empty(len(names), dtype=object)
        present = np.array([isinstance(n, str) and n.strip() != "" for n in names], dtype=bool)
        sex_code = np.where(np.isin(sex, ["M", "F"]), sex, "U").astype(object)
        if not present.any():
            return out
        keys = np.char.add(sex_code[present].astype(str), np.char.add("|", names[present].astype(str)))
        unique_keys, group = np.unique(keys, return_inverse=True)
        rows_present = np.flatnonzero(present)
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(unique_keys) + 1))
        for k, key in enumerate(unique_keys):
            code, name = key.split("|", 1)
            rows = rows_present[order[bounds[k] : bounds[k + 1]]]
            candidates, cumulative, own = self._similar_candidates(name, code)
            drawn = _draw_excluding(rng, candidates, cumulative, own, len(rows))
            out[rows] = [match_case(str(n), name) for n in drawn]
        return out

    def _similar_candidates(self, name: str, sex: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Look-alike candidates for a name (first letter, length within 1, widening when the
        pool has nothing closer), their cumulative weights, and the name's own index (-1 if
        absent from the candidates)."""
        cache_key = (name.lower(), sex)
        if cache_key not in self._similar_cache:
            pool = self._given[sex]
            lower, lengths, first_letters = self._pool_shape(sex)
            name_lower = name.lower()
            same_letter = first_letters == name_lower[:1]
            not_self = lower != name_lower
            keep = not_self  # fallback: no name shares the first letter
            for max_gap in (1, 2, 4, 1000):
                candidate = same_letter & (np.abs(lengths - len(name)) <= max_gap)
                if (candidate & not_self).any():
                    keep = candidate
                    break
            index = np.flatnonzero(keep)
            own = np.flatnonzero(lower[index] == name_lower)
            own_index = int(own[0]) if len(own) else -1
            self._similar_cache[cache_key] = (pool.names[index], np.cumsum(pool.weights[index]), own_index)
        return self._similar_cache[cache_key]

    def _pool_shape(self, sex: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower-case names, lengths and first letters of a sex's pool (computed once)."""
        if sex not in self._shape_cache:
            lower = np.array([n.lower() for n in self._given[sex].names]).astype(object)
            lengths = np.array([len(n) for n in lower])
            first = np.array([n[:1] for n in lower]).astype(object)
            self._shape_cache[sex] = (lower, lengths, first)
        return self._shape_cache[sex]


def _draw_excluding(
    rng: np.random.Generator, candidates: np.ndarray, cumulative: np.ndarray, own: int, n: int
) -> np.ndarray:
    """Weighted draws from candidates never returning index `own`: draw on the total mass
    without own's weight and step over own's interval."""
    own_weight = 0.0
    start_of_own = 0.0
    if own >= 0:
        own_weight = cumulative[own] - (cumulative[own - 1] if own > 0 else 0.0)
        start_of_own = cumulative[own] - own_weight
    target = rng.random(n) * (cumulative[-1] - own_weight)
    if own >= 0:
        target = np.where(target >= start_of_own, target + own_weight, target)
    index = np.minimum(np.searchsorted(cumulative, target, side="right"), len(candidates) - 1)
    if own >= 0:  # floating point at the boundary: step off own to a neighbour
        index = np.where(index == own, np.where(own + 1 < len(candidates), own + 1, own - 1), index)
    return candidates[index]


def _lexicon_forms(forms: set[str], like: str) -> list[str]:
    own = like.strip().lower()
    return sorted(match_case(f, like.strip()) for f in forms if f != own and f.strip())


@lru_cache(maxsize=1)
def load_name_pools() -> NamePools:
    """The name pools (loaded once per process; read-only, safe to share)."""
    male = _WeightedPool(*_read_census_file(_CENSUS_DIR / "dist.male.first"))
    female = _WeightedPool(*_read_census_file(_CENSUS_DIR / "dist.female.first"))
    family = _WeightedPool(*_read_census_file(_CENSUS_DIR / "dist.all.last"))
    return NamePools(male, female, family, NickNamer())
