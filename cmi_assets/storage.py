"""Where data lives: the landing folder, quarantine and the two DuckDB zones.

Identified zone (`identified.duckdb`): raw and staged extracts with names, dates of
birth and agency IDs, and the linkage tables. Analysis zone (`warehouse.duckdb`):
everything downstream of the spine, keyed by pseudonymous `person_key` only.
File names never equal a schema name (DuckDB rejects `raw.raw` style ambiguity).
Both files live in the data folder (CMI_DATA_DIR) unless CMI_IDENTIFIED_DIR names a folder
of its own for the identified file, one that only the linker can open (docs/separation.md).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

IDENTIFIED = "identified"
WAREHOUSE = "warehouse"
ZONES = (IDENTIFIED, WAREHOUSE)

# DuckDB lets one process at a time open a file for writing; another process opening it
# meanwhile gets an IOException about the file's lock. Writing assets are serialised by
# the duckdb_write pool, but a run on an instance without that pool, a check or a command
# line `cmi` can still meet a writer: it waits this long for the lock, then fails with
# one line naming the file, the holder's PID and what to close (never a value).
LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT_SECONDS = "CMI_DUCKDB_LOCK_WAIT_SECONDS", 120.0
_LOCK_RETRY_MAX_DELAY_SECONDS = 1.0
_log = logging.getLogger(__name__)
IDENTIFIED_DIR_ENV = "CMI_IDENTIFIED_DIR"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


def _identified_dir_from_env() -> Path | None:
    value = os.environ.get(IDENTIFIED_DIR_ENV)
    return Path(value).expanduser().resolve() if value else None


@dataclass(frozen=True)
class Storage:
    """Paths of one deployment. Built from the environment by `Storage.from_env()`."""

    data_dir: Path
    landing_dir: Path
    quarantine_dir: Path
    truth_dir: Path
    memory_limit: str | None = None
    temp_dir: Path | None = None
    threads: int | None = None
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    # The zones this process may open: the analyst code location opens the analysis zone
    # only, so a mistake that reaches for the identified file fails before touching it.
    zones: tuple[str, ...] = ZONES
    # identified.duckdb's folder; None: the data folder. Read from the environment also
    # where a Storage is built field by field (the storage resource), so no process of a
    # deployment that sets CMI_IDENTIFIED_DIR writes the identified file anywhere else.
    identified_dir: Path | None = field(default_factory=_identified_dir_from_env)

    @classmethod
    def from_env(cls) -> Storage:
        data_dir = _env_path("CMI_DATA_DIR", Path("data"))
        world_dir = data_dir / "world"
        landing = _env_path("CMI_LANDING_DIR", world_dir / "landing")
        return cls(
            data_dir=data_dir,
            landing_dir=landing,
            quarantine_dir=_env_path("CMI_QUARANTINE_DIR", landing.parent / "quarantine"),
            truth_dir=_env_path("CMI_TRUTH_DIR", landing.parent / "truth"),
            memory_limit=os.environ.get("CMI_DUCKDB_MEMORY_LIMIT") or None,
            temp_dir=Path(os.environ["CMI_DUCKDB_TEMP_DIR"]) if os.environ.get("CMI_DUCKDB_TEMP_DIR") else None,
            threads=int(os.environ["CMI_DUCKDB_THREADS"]) if os.environ.get("CMI_DUCKDB_THREADS") else None,
            lock_wait_seconds=float(os.environ.get(LOCK_WAIT_ENV) or DEFAULT_LOCK_WAIT_SECONDS),
            identified_dir=_identified_dir_from_env(),
        )

    def zone_path(self, zone: str) -> Path:
        if zone not in ZONES:
            raise ValueError(f"unknown zone {zone!r}; expected one of {ZONES}")
        folder = self.identified_dir if zone == IDENTIFIED and self.identified_dir else self.data_dir
        return folder / f"{zone}.duckdb"

    @contextmanager
    def connect(self, zone: str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to one zone's DuckDB file, closed on exit."""
        path = self.zone_path(zone)
        if zone not in self.zones:
            raise ZoneRefusedError(
                f"this code location opens only the {', '.join(self.zones)} zone and never {path.name}: "
                f"materialize what reads the {zone} zone in the linker code location (docs/separation.md)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not path.exists():
            # Creating the file keeps read-only callers simple on a fresh deployment.
            connect_waiting_for_lock(path, False, self.lock_wait_seconds).close()
        con = connect_waiting_for_lock(path, read_only, self.lock_wait_seconds)
        try:
            configure_connection(con, self.memory_limit, self.temp_dir, self.threads)
            yield con
        finally:
            con.close()


class ZoneRefusedError(PermissionError):
    """A zone this code location may not open (the analyst location and the identified zone)."""


class ZoneFileLockedError(duckdb.IOException):
    """A zone's file stayed locked by another process for the whole wait."""


def connect_waiting_for_lock(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried with a growing pause while another process holds the file's lock;
    then one line naming the file, the holder and what to close."""
    deadline = time.monotonic() + wait_seconds
    delay, waiting = 0.05, False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            remaining = deadline - time.monotonic()
            if not _is_lock_conflict(error):
                raise
            if remaining <= 0:
                raise ZoneFileLockedError(
                    f"{path} is locked by another process {_lock_holder(error)} after a wait of {wait_seconds:.0f} s"
                    f" ({LOCK_WAIT_ENV}): {_WHAT_TO_CLOSE}"
                ) from error
            if not waiting:
                _log.warning(
                    f"{path.name} is locked by another process {_lock_holder(error)}; waiting up to"
                    f" {wait_seconds:.0f} s: {_WHAT_TO_CLOSE}"
                )
                waiting = True
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _LOCK_RETRY_MAX_DELAY_SECONDS)


# DuckDB allows one process per file when any of them writes: even a read-only session
# (a notebook, the duckdb shell, a BI tool) keeps a run from writing.
_WHAT_TO_CLOSE = (
    "close that process's DuckDB connection (a notebook, a duckdb shell or a BI tool; a read-only one"
    " blocks a run too) and run again"
)
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def _lock_holder(error: duckdb.IOException) -> str:
    """'(PID 123, python3.11)' from DuckDB's message, or '' where it names none."""
    match = _HOLDER.search(str(error))
    return f"(PID {match['pid']}, {Path(match['program']).name})" if match else ""


def _is_lock_conflict(error: duckdb.IOException) -> bool:
    return "could not set lock on file" in str(error).lower()


def configure_connection(
    con: duckdb.DuckDBPyConnection,
    memory_limit: str | None = None,
    temp_dir: Path | None = None,
    threads: int | None = None,
) -> None:
    """Apply the deployment's DuckDB limits (memory, spill folder, threads)."""
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{Path(temp_dir).as_posix()}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
