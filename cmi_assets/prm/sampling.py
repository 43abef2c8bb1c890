"""Modelling samples: under-sample the children without the outcome, keep every child with
it, then split 70/30 into training and validation sets (NZ study, paras 61-62).

The NZ sample sizes imply about four negatives per positive: 2007 cohort 62,273 children,
2.3% positive = ~1,432 positives, sample 7,170 = 1,432 + ~5,738 (4.0 each); 2010 cohort
63,176 x 2.8% = ~1,769, sample 8,750 (3.95 each) (NZ study, Table 1). Hence the default 4.0.

Every draw takes a numpy Generator, so the caller decides the stream (e.g.
`component_rng(seed, "prm_sampling")`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cmi_assets.prm.design import as_polars, outcome_array
from cmi_assets.prm.prior import PriorCorrection

NZ_NEGATIVES_PER_POSITIVE = 4.0
NZ_TRAIN_SHARE = 0.7


@dataclass(frozen=True)
class ModellingSample:
    """Training and validation sets plus the prevalences needed for prior correction."""

    train: pl.DataFrame
    validation: pl.DataFrame
    outcome: str
    population_size: int
    population_positives: int

    @property
    def population_prevalence(self) -> float:
        return self.population_positives / self.population_size

    @property
    def sample_size(self) -> int:
        return self.train.height + self.validation.height

    @property
    def train_prevalence(self) -> float:
        return float(self.train[self.outcome].cast(pl.Float64).mean())

    def prior_correction(self) -> PriorCorrection:
        """King-Zeng correction from the training prevalence (what the model was fitted on)
        to the population prevalence."""
        return PriorCorrection(self.population_prevalence, self.train_prevalence)

    def sizes(self) -> dict[str, int]:
        return {
            "population": self.population_size,
            "population_positives": self.population_positives,
            "sample": self.sample_size,
            "train": self.train.height,
            "train_positives": int(self.train[self.outcome].cast(pl.Int64).sum()),
            "validation": self.validation.height,
            "validation_positives": int(self.validation[self.outcome].cast(pl.Int64).sum()),
        }


def undersample_negatives(
    frame: Any, outcome: str, rng: np.random.Generator, negatives_per_positive: float = NZ_NEGATIVES_PER_POSITIVE
) -> pl.DataFrame:
    """Every row with outcome 1 and round(ratio x positives) rows with outcome 0 drawn
    without replacement (all of them if there are fewer). Rows keep their original order."""
    data = as_polars(frame)
    y = outcome_array(data[outcome], outcome)
    negatives = np.flatnonzero(y == 0)
    wanted = min(len(negatives), int(round(negatives_per_positive * y.sum())))
    keep = y == 1
    keep[rng.choice(negatives, size=wanted, replace=False)] = True
    return data.filter(pl.Series(keep))


def stratified_split(
    frame: Any, outcome: str, rng: np.random.Generator, train_share: float = NZ_TRAIN_SHARE
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, validation): within each outcome class, round(train_share x class size) rows
    go to training, so both sets keep the sample prevalence."""
    if not 0.0 < train_share < 1.0:
        raise ValueError("train_share must lie strictly between 0 and 1")
    data = as_polars(frame)
    y = outcome_array(data[outcome], outcome)
    in_train = np.zeros(len(y), dtype=bool)
    for value in (0.0, 1.0):
        rows = np.flatnonzero(y == value)
        in_train[rng.choice(rows, size=int(round(train_share * len(rows))), replace=False)] = True
    mask = pl.Series(in_train)
    return data.filter(mask), data.filter(~mask)


def modelling_sample(
    population: Any,
    outcome: str,
    rng: np.random.Generator,
    negatives_per_positive: float = NZ_NEGATIVES_PER_POSITIVE,
    train_share: float = NZ_TRAIN_SHARE,
) -> ModellingSample:
    """Under-sample, then split: the NZ base-model sampling design (paras 61-62)."""
    data = as_polars(population)
    y = outcome_array(data[outcome], outcome)
    if y.sum() == 0:
        raise ValueError(f"outcome {outcome!r} has no positives; nothing to model")
    sample = undersample_negatives(data, outcome, rng, negatives_per_positive)
    train, validation = stratified_split(sample, outcome, rng, train_share)
    return ModellingSample(train, validation, outcome, data.height, int(y.sum()))
