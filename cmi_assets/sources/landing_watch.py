"""What a landing sensor should do on each tick, as plain data in and out.

The state remembers, per file name, the size, modification time and content hash it
last acted on (the *ledger*), and the files still settling. A tick therefore stats
every file but hashes only files that are new or changed, so it stays fast with
thousands of extracts. A file is acted on once it is settled: unchanged since the
previous tick, or untouched for `settle_seconds` (an upload still being written keeps
changing size or mtime). A re-delivery with the same name and new content gets a new
hash and so a new run; the same bytes landing again get none.

Where the state lives. The sensor's cursor is what the UI shows on the sensor page, so
it stays a few hundred bytes whatever the number of files:

    {"v": 2, "files": 4812, "ledger": "3f9c0a1be2d47a65", "settling": {"x.csv": [size, mtime_ns]}}

`files` and `ledger` count and fingerprint the settled files; `settling` lists the few
files still being written. The ledger itself (name -> size, mtime, SHA-256; zlib and
base64 encoded) goes to a `LedgerStore`: the sensor uses the Dagster instance's key-value
store, so it lives wherever the cursor lives (SQLite under DAGSTER_HOME, or Postgres)
and the landing folder can stay read-only. The store keeps the ledger the cursor names
and the one before it, so a tick whose cursor was not saved still finds its ledger.

If the ledger the cursor names is gone (the instance was wiped, the cursor was reset by
hand), nothing is lost: every file is hashed once more and compared with the hash the
last materialization of its partition recorded, so nothing already loaded runs again.
A cursor written before version 2 (the whole ledger as JSON) is still read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cmi_assets.sources.landing import IN_PROGRESS_SUFFIXES

CURSOR_VERSION = 2


@dataclass(frozen=True)
class FileObservation:
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ExtractRequest:
    """A landed extract to (re-)materialize: its partition key and content hash.
    `replaces` is the hash of the content it corrects (None for a new file)."""

    name: str
    sha256: str
    new_partition: bool
    mtime_ns: int = 0
    replaces: str | None = None

    @property
    def run_key(self) -> str:
        # One run per distinct content of a file name: the same bytes never run twice.
        # A correction also carries its mtime, so that going back to an earlier content
        # (a withdrawn correction) is a new run rather than a key Dagster already used.
        if self.replaces is None:
            return f"{self.name}:{self.sha256}"
        return f"{self.name}:{self.sha256}@{self.mtime_ns}"


class LedgerStore(Protocol):
    """Somewhere to keep one text value between ticks (the sensor: the instance's
    key-value store; tests: a dict)."""

    def read(self) -> str | None: ...

    def write(self, value: str) -> None: ...


@dataclass
class WatchState:
    acted: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> (size, mtime_ns, sha256)
    settling: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (size, mtime_ns)
    # The digest of the ledger this state was read from, and whether `acted` changed since:
    # an unchanged ledger is neither re-encoded nor written again.
    loaded_from: str | None = field(default=None, compare=False, repr=False)
    ledger_changed: bool = field(default=False, compare=False, repr=False)
    # True when the cursor named a ledger the store no longer has (every file is re-checked).
    ledger_missing: bool = field(default=False, compare=False)

    def ledger_digest(self) -> str:
        if self.loaded_from is not None and not self.ledger_changed:
            return self.loaded_from
        return _digest(_ledger_json(self.acted))

    def to_cursor(self, store: LedgerStore | None = None) -> str:
        """The cursor text. With a store, the ledger goes there and the cursor only names
        it; without one (unit tests, a sensor with no instance), the cursor holds it all."""
        settling = {name: list(seen) for name, seen in sorted(self.settling.items())}
        if store is None:
            return json.dumps(
                {"v": CURSOR_VERSION, "acted": self.acted, "settling": settling}, separators=(",", ":"), sort_keys=True
            )
        digest = self.ledger_digest() if self.acted else None
        if digest is not None:
            ledgers = _read_ledgers(store)
            if digest not in ledgers:
                kept = {k: v for k, v in ledgers.items() if k == self.loaded_from}
                store.write(json.dumps({**kept, digest: _encode(self.acted)}, sort_keys=True))
        return json.dumps(
            {"v": CURSOR_VERSION, "files": len(self.acted), "ledger": digest, "settling": settling},
            separators=(",", ":"),
        )

    @classmethod
    def from_cursor(cls, cursor: str | None, store: LedgerStore | None = None) -> WatchState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        settling = {k: tuple(v) for k, v in data.get("settling", {}).items()}
        if "acted" in data:  # self-contained (version 1, or written without a store)
            return cls(acted={k: tuple(v) for k, v in data["acted"].items()}, settling=settling)
        digest = data.get("ledger")
        if not digest:
            return cls(settling=settling)
        encoded = _read_ledgers(store).get(digest) if store is not None else None
        text = _decompress(encoded) if encoded is not None else None
        if text is None or _digest(text) != digest:
            return cls(settling=settling, ledger_missing=True)
        acted = {k: tuple(v) for k, v in json.loads(text).items()}
        return cls(acted=acted, settling=settling, loaded_from=digest)


def _ledger_json(acted: dict[str, tuple[int, int, str]]) -> str:
    return json.dumps({k: list(v) for k, v in acted.items()}, separators=(",", ":"), sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(acted: dict[str, tuple[int, int, str]]) -> str:
    return base64.b64encode(zlib.compress(_ledger_json(acted).encode(), 6)).decode("ascii")


def _decompress(encoded: str) -> str | None:
    try:
        return zlib.decompress(base64.b64decode(encoded)).decode()
    except (ValueError, zlib.error):
        return None


def _read_ledgers(store: LedgerStore) -> dict[str, str]:
    text = store.read()
    if not text:
        return {}
    try:
        ledgers = json.loads(text)
    except ValueError:
        return {}
    return ledgers if isinstance(ledgers, dict) else {}


def observe_folder(folder: Path) -> list[FileObservation]:
    """Name, size and mtime of every landed file in one folder: the files
    cmi_assets.sources.landing.landed_files lists (not hidden, no upload suffix), with one
    stat each and no Path objects, since this runs on every tick over every file."""
    if not os.path.isdir(folder):
        return []
    observations = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES) or not entry.is_file():
                continue
            stat = entry.stat()
            observations.append(FileObservation(entry.name, stat.st_size, stat.st_mtime_ns))
    return observations


def plan_tick(
    observations: Iterable[FileObservation],
    state: WatchState,
    sha256_of: Callable[[str], str],
    now_ns: int,
    settle_seconds: float = 10.0,
    materialized_sha256: Callable[[str], str | None] = lambda name: None,
) -> tuple[WatchState, list[ExtractRequest]]:
    """The requests for this tick and the state to store for the next one.

    `materialized_sha256(name)` gives the hash recorded by the last materialization of
    that partition, if any: a file the ledger has never seen (a new sensor, files loaded
    by `cmi demo` or by hand, a lost ledger) is not loaded again when its content is
    unchanged.
    """
    acted = dict(state.acted)
    settling: dict[str, tuple[int, int]] = {}
    requests: list[ExtractRequest] = []
    changed = False
    for obs in sorted(observations, key=lambda o: o.name):
        seen = (obs.size, obs.mtime_ns)
        previous = acted.get(obs.name)
        if previous is not None and tuple(previous[:2]) == seen:
            continue  # unchanged since we acted on it: no re-hash
        untouched_long_enough = now_ns - obs.mtime_ns >= settle_seconds * 1e9
        if state.settling.get(obs.name) != seen and not untouched_long_enough:
            settling[obs.name] = seen  # still being written, or first sight: wait a tick
            continue
        sha256 = sha256_of(obs.name)
        acted[obs.name] = (obs.size, obs.mtime_ns, sha256)
        changed = True
        if previous is not None and previous[2] == sha256:
            continue  # touched (copied again) but identical content
        if previous is None and materialized_sha256(obs.name) == sha256:
            continue  # already loaded before this sensor saw it
        requests.append(
            ExtractRequest(
                name=obs.name,
                sha256=sha256,
                new_partition=previous is None,
                mtime_ns=obs.mtime_ns,
                replaces=previous[2] if previous is not None else None,
            )
        )
    new_state = WatchState(
        acted=acted, settling=settling, loaded_from=state.loaded_from, ledger_changed=state.ledger_changed or changed
    )
    return new_state, requests
