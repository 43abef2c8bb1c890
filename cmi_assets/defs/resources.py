"""The one storage resource every asset uses: the engine stays behind it, so a
deployment switches paths, limits or engines by configuration, not code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage


class StorageResource(dg.ConfigurableResource):
    """Paths and DuckDB limits; every field falls back to the CMI_* environment."""

    data_dir: str | None = None
    landing_dir: str | None = None
    memory_limit: str | None = None
    temp_dir: str | None = None

    def storage(self) -> Storage:
        base = Storage.from_env()
        data_dir = Path(self.data_dir).resolve() if self.data_dir else base.data_dir
        landing = Path(self.landing_dir).resolve() if self.landing_dir else base.landing_dir
        if self.data_dir and not self.landing_dir:
            landing = data_dir / "world" / "landing"
        return Storage(
            data_dir=data_dir,
            landing_dir=landing,
            quarantine_dir=landing.parent / "quarantine"
            if (self.data_dir or self.landing_dir)
            else base.quarantine_dir,
            truth_dir=landing.parent / "truth" if (self.data_dir or self.landing_dir) else base.truth_dir,
            memory_limit=self.memory_limit or base.memory_limit,
            temp_dir=Path(self.temp_dir) if self.temp_dir else base.temp_dir,
            threads=base.threads,
            lock_wait_seconds=base.lock_wait_seconds,
        )

    @contextmanager
    def identified(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(IDENTIFIED, read_only=read_only) as con:
            yield con

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.storage().connect(WAREHOUSE, read_only=read_only) as con:
            yield con


# DuckDB allows one writer process per file: every writing asset declares this pool,
# and dagster.yaml limits it to one slot.
DUCKDB_WRITE_POOL = "duckdb_write"


@dg.definitions
def resources() -> dg.Definitions:
    # In-process by default: steps share one process (no ~3 s subprocess start per step) and
    # the DuckDB writers are serialised by the pool of one anyway.
    return dg.Definitions(resources={"storage": StorageResource()}, executor=dg.in_process_executor)
