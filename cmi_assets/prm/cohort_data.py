"""The cohort tables as the PRM recipe reads them: which birth cohorts are complete, which
are pooled for training and which one is scored, and the features joined to the outcomes.

The table names are passed in (the cohorts asset group owns them)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cmi_assets.cohorts import TARGETS, outcome_column
from cmi_assets.tables import table_exists


def cohort_label(years: list[int]) -> str:
    """'2010' or '2008-2010': the training cohort(s) as the artefact and the tables name them."""
    return f"{min(years)}" if len(years) == 1 else f"{min(years)}-{max(years)}"


@dataclass(frozen=True)
class CohortTables:
    features: str
    outcomes: str

    def complete_birth_years(self, con, outcome: str, linkage_level: str) -> list[int]:
        """Birth years (newest first) whose every child has `outcome` observed."""
        if not table_exists(con, self.outcomes):
            return []
        rows = con.execute(
            f"select birth_year from {self.outcomes} where linkage_level = ? group by 1 "
            f"having count(*) > 0 and count({outcome}) = count(*) order by 1 desc",
            [linkage_level],
        ).fetchall()
        return [int(r[0]) for r in rows]

    def frame(self, con, linkage_level: str, birth_years: list[int]) -> pl.DataFrame:
        """Features joined to outcomes, one row per child of the given birth years, by person_key."""
        if not birth_years:
            return pl.DataFrame()
        years = ", ".join(str(int(y)) for y in birth_years)
        return con.execute(
            f"select f.*, o.* exclude (person_key, birth_year, linkage_level) from {self.features} f "
            f"join {self.outcomes} o using (person_key, birth_year, linkage_level) "
            f"where f.linkage_level = ? and f.birth_year in ({years}) order by f.birth_year, f.person_key",
            [linkage_level],
        ).pl()

    def training_cohorts(
        self, con, outcome: str, linkage_level: str, min_positives: int, max_pooled: int
    ) -> tuple[list[int], list[str]]:
        """The newest complete cohort, plus earlier complete cohorts while positives are too few."""
        years = self.complete_birth_years(con, outcome, linkage_level)
        if not years:
            return [], [f"no birth cohort has {outcome} observed for every child"]
        positives = dict(
            con.execute(
                f"select birth_year, sum({outcome}::int) from {self.outcomes} where linkage_level = ? group by 1",
                [linkage_level],
            ).fetchall()
        )
        chosen = [years[0]]
        while sum(positives.get(y) or 0 for y in chosen) < min_positives and len(chosen) < min(max_pooled, len(years)):
            chosen.append(years[len(chosen)])
        notes = []
        if len(chosen) > 1:
            notes.append(
                f"cohort {years[0]} has {positives.get(years[0]) or 0} children with {outcome} (< {min_positives}): "
                f"pooled cohorts {min(chosen)}-{max(chosen)} for training"
            )
        return sorted(chosen), notes

    def scoring_birth_year(self, con, training_years: list[int], outcome: str) -> tuple[int | None, list[str]]:
        """The newest cohort with `outcome` observed for every child that is older than every
        training cohort (the NZ study scored earlier cohorts to see outcomes to age 5)."""
        years = self.complete_birth_years(con, outcome, "conservative")
        earlier = [y for y in years if not training_years or y < min(training_years)]
        if earlier:
            return earlier[0], []
        if years:
            return years[0], [
                f"no cohort older than the training cohorts has {outcome} for every child: scored cohort "
                f"{years[0]}, which overlaps training (optimistic)"
            ]
        return None, [f"no cohort has {outcome} observed for every child: nothing scored"]

    def training_by_target(self, con, level: str, min_positives: int, max_pooled: int, age: int = 2) -> dict:
        """Table 10's training frames: for each target, its newest complete cohort(s), pooled
        while positives are too few (NZ Table 10 note 3); or the reason there is none."""
        schema, table = self.outcomes.split(".")
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        }
        out: dict = {}
        for target in TARGETS:
            if outcome_column(target, age) not in columns:
                out[target] = f"{outcome_column(target, age)} is not in {self.outcomes}"
                continue
            years, notes = self.training_cohorts(con, outcome_column(target, age), level, min_positives, max_pooled)
            if not years:
                out[target] = notes[-1] if notes else "no complete cohort"
                continue
            out[target] = (self.frame(con, level, years), cohort_label(years))
        return out
