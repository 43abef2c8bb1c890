"""One submission year's NCANDS Child File as staged, beside what the previous year and the
stored table hold: the states it lacks since last year (CFSR R4 rules, section 2.1 step 1:
every state) and whether its extracts changed since it was last stored."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import duckdb
import polars as pl

from cmi_assets.cfsr.child_file import (
    CHILD_FILE_TABLE,
    extracts_fingerprint,
    staged_child_file,
    states_in_year,
    states_missing_from,
)
from cmi_assets.tables import table_exists


@dataclass(frozen=True)
class ChildFileYear:
    fy: int
    frame: pl.DataFrame  # the year's staged rows, every state (identified zone)
    previous_states: list[str]  # states with rows in the year before
    stored_rows: int  # the year's rows already in CHILD_FILE_TABLE

    @property
    def delivered(self) -> bool:
        return not self.frame.is_empty()

    @cached_property
    def states(self) -> list[str]:
        return sorted(self.frame["staterr"].unique().to_list())

    @property
    def missing_states(self) -> list[str]:
        return states_missing_from(self.states, self.previous_states)

    @cached_property
    def fingerprint(self) -> str:
        return extracts_fingerprint(self.frame)

    def unchanged_since(self, fingerprint: str | None) -> bool:
        """Stored already from the same extracts: another year's extract changed the staged
        table, not this year's, so the periods that use this file need no rerun."""
        return fingerprint == self.fingerprint and self.stored_rows == self.frame.height


def staged_year(con: duckdb.DuckDBPyConnection, fy: int) -> ChildFileYear:
    stored = (
        con.execute(f"select count(*) from {CHILD_FILE_TABLE} where subyr = ?", [fy]).fetchone()[0]
        if table_exists(con, CHILD_FILE_TABLE)
        else 0
    )
    return ChildFileYear(
        fy=fy, frame=staged_child_file(con, fy), previous_states=states_in_year(con, fy - 1), stored_rows=stored
    )
