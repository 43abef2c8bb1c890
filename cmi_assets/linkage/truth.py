"""The synthetic world's truth as linkage_quality and the clerical sample read it (truth
folder: record_persons.parquet, persons.parquet, children.parquet). Production has none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class LinkageTruth:
    records: pl.DataFrame  # the true person of every record slot
    persons: pl.DataFrame | None  # sex, dob, ethnicity and role of every true person
    children: pl.DataFrame | None  # study population and outcome of every true child


def record_truth_file(truth_dir: Path) -> Path | None:
    """record_persons.parquet, the truth every linkage measure needs, or None."""
    path = truth_dir / "record_persons.parquet"
    return path if path.exists() else None


def read_linkage_truth(truth_dir: Path) -> LinkageTruth | None:
    records = record_truth_file(truth_dir)
    if records is None:
        return None
    persons, children = truth_dir / "persons.parquet", truth_dir / "children.parquet"
    return LinkageTruth(
        records=pl.read_parquet(records),
        persons=pl.read_parquet(persons, columns=["true_person_id", "sex", "dob", "ethnicity", "role"])
        if persons.exists()
        else None,
        children=pl.read_parquet(children, columns=["true_person_id", "in_study_population", "finding_by_age_2"])
        if children.exists()
        else None,
    )
