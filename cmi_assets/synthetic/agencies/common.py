"""What every agency writer shares: identities as of a date, agency ID formats, record
key counters, identity noise through noise.py, and the truth rows of person slots."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from cmi_assets.reference.random_streams import component_rng
from cmi_assets.synthetic.dates import MISSING_DAY
from cmi_assets.synthetic.noise import PersonColumns, apply_identity_noise, assign_agency_ids, noise_rates_for

STREET_TYPES = ["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Way"]


@dataclass
class Output:
    """One record type's rows for one block: the typed frame in the spec's column order,
    the column deciding its file, the truth rows of its person slots and the noise log."""

    agency: str
    record_type: str
    frame: pl.DataFrame
    date_column: str
    record_persons: pl.DataFrame
    noise_log: pl.DataFrame


@dataclass
class Context:
    """Per-run state shared by the agency writers: counters keep keys and IDs unique across
    blocks; every block draws from its own random stream per agency."""

    profile: dict
    seed: int
    pools: object
    areas: pl.DataFrame
    block: int = 0
    counters: dict = field(default_factory=dict)

    def rng(self, part: str) -> np.random.Generator:
        return component_rng(self.seed, f"{part}:{self.block}")

    def take(self, name: str, n: int) -> np.ndarray:
        """The next n sequence numbers of a counter (keys, IDs)."""
        start = self.counters.get(name, 1)
        self.counters[name] = start + n
        return np.arange(start, start + n, dtype="int64")

    @property
    def params(self) -> dict:
        return self.profile["world"]


def days_to_date(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == MISSING_DAY).then(None).otherwise(expr).cast(pl.Int32).cast(pl.Date)


def formatted(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.asarray(numbers).astype(str), width))


def health_id(numbers: np.ndarray) -> np.ndarray:
    """National health ID style: 3 letters + 4 digits ('ABC1234')."""
    n = np.asarray(numbers, dtype="int64")
    letters = n // 10000
    a, b, c = (letters // 676) % 26, (letters // 26) % 26, letters % 26
    chars = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return np.char.add(
        np.char.add(np.char.add(chars[a], chars[b]), chars[c]), np.char.zfill((n % 10000).astype(str), 4)
    )


def with_identity(
    frame: pl.DataFrame, persons: pl.DataFrame, id_col: str, day_col: str | None, prefix: str
) -> pl.DataFrame:
    """Adds the person's identity as it stood on `day_col`: given, middle, family (the
    family name in use then), alt_family (the other true surname, for surname noise), dob
    (pl.Date) and sex, all prefixed."""
    cols = ["given_name", "middle_name", "family_name", "birth_family_name", "name_change_day", "dob_day", "sex"]
    p = persons.select(pl.col("true_person_id").alias("_pid"), *[pl.col(c).alias(f"_p_{c}") for c in cols])
    joined = frame.join(p, left_on=id_col, right_on="_pid", how="left", coalesce=False).drop("_pid")
    c = lambda name: pl.col(f"_p_{name}")  # noqa: E731
    changed = (
        (c("name_change_day") != MISSING_DAY) & (pl.col(day_col) >= c("name_change_day")) if day_col else pl.lit(True)
    )
    current = pl.when(changed).then(c("family_name")).otherwise(c("birth_family_name"))
    other = pl.when(c("family_name") != c("birth_family_name")).then(
        pl.when(changed).then(c("birth_family_name")).otherwise(c("family_name"))
    )
    return joined.with_columns(
        c("given_name").alias(f"{prefix}given"),
        c("middle_name").alias(f"{prefix}middle"),
        current.alias(f"{prefix}family"),
        other.alias(f"{prefix}alt_family"),
        days_to_date(c("dob_day")).alias(f"{prefix}dob"),
        c("sex").alias(f"{prefix}sex"),
    ).drop([f"_p_{x}" for x in cols])


def given_names(prefix: str) -> pl.Expr:
    """'Given Middle' in one column (births, corrections)."""
    return (
        pl.when(pl.col(f"{prefix}middle").is_null())
        .then(pl.col(f"{prefix}given"))
        .otherwise(pl.concat_str([pl.col(f"{prefix}given"), pl.col(f"{prefix}middle")], separator=" "))
    )


def noisy(
    ctx: Context, agency: str, record_type: str, frame: pl.DataFrame, slots: list[PersonColumns], key: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rates = noise_rates_for(agency, ctx.profile)
    return apply_identity_noise(
        frame,
        slots,
        rates,
        ctx.rng(f"nz:{agency[:4]}:{record_type[:5]}"),
        ctx.pools,
        key=key,
        agency=agency,
        record_type=record_type,
    )


def agency_ids(
    ctx: Context, agency: str, person_ids: np.ndarray, event_day: np.ndarray, make_id, counter: str
) -> tuple[np.ndarray, np.ndarray]:
    """Agency person IDs for rows (second identities at the agency's rate), numbered on
    from earlier blocks."""
    rate = noise_rates_for(agency, ctx.profile).second_identity
    first = ctx.counters.get(counter, 1)
    ids, second = assign_agency_ids(
        np.asarray(person_ids), np.asarray(event_day), rate, ctx.rng(f"ids:{agency[:6]}"), make_id, first_number=first
    )
    # numbers first..first+k-1 were issued, k = distinct identities used
    ctx.counters[counter] = first + len(np.unique(np.asarray(ids)))
    return ids, second


def record_persons(agency: str, record_type: str, keys: pl.Series, slot: str, person_ids: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame({"record_key": keys.cast(pl.String), "true_person_id": person_ids.cast(pl.Int64)})
    return frame.filter(pl.col("true_person_id").is_not_null()).select(
        pl.lit(agency).alias("agency"),
        pl.lit(record_type).alias("record_type"),
        "record_key",
        pl.lit(slot).alias("slot"),
        "true_person_id",
    )


def address_lines(ctx: Context, n: int, part: str) -> list[str]:
    rng = ctx.rng(f"addr:{part}")
    numbers = rng.integers(1, 400, n)
    streets = ctx.pools.draw_family(rng, n)
    kinds = rng.choice(np.array(STREET_TYPES), n)
    return [f"{a} {b} {c}" for a, b, c in zip(numbers, streets, kinds)]
