"""Birth-cohort partitions: one key per study birth year ("2004" ... "2016" by default),
read from CMI_COHORT_YEARS when the code location loads ("2004-2016", or a comma list
such as "2007,2010"). The synthetic world's children are born 2000-2020 (profile
world.yaml, study_birth_years); the default keeps cohorts old enough for outcomes by age
two (PRM training) and by age five (PRM scoring) within the data's extent."""

from __future__ import annotations

import os

import dagster as dg

COHORT_YEARS_ENV = "CMI_COHORT_YEARS"
DEFAULT_COHORT_YEARS = "2004-2016"


def parse_cohort_years(text: str) -> list[int]:
    """ "2004-2016" -> [2004, ..., 2016]; "2007,2010" -> [2007, 2010]; sorted, unique."""
    years: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        start, end = int(first), int(last or first)
        if end < start:
            raise ValueError(f"birth-year range runs backwards: {part!r}")
        years.update(range(start, end + 1))
    if not years:
        raise ValueError(f"no birth years in {text!r}")
    return sorted(years)


def cohort_years() -> list[int]:
    return parse_cohort_years(os.environ.get(COHORT_YEARS_ENV) or DEFAULT_COHORT_YEARS)


BIRTH_YEARS = dg.StaticPartitionsDefinition([str(year) for year in cohort_years()])
