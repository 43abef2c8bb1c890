"""What a landing sensor should do on each tick, as plain data in and out.

The state (the sensor's cursor) remembers, per file name, the size, modification time
and content hash it last acted on, and the files still settling. A tick therefore
stats every file but hashes only files that are new or changed, so it stays fast with
thousands of extracts. A file is acted on once it is settled: unchanged since the
previous tick, or untouched for `settle_seconds` (an upload still being written keeps
changing size or mtime). A re-delivery with the same name and new content gets a new
hash and so a new run; the same bytes landing again get none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass(frozen=True)
class FileObservation:
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ExtractRequest:
    """A landed extract to (re-)materialize: its partition key and content hash."""

    name: str
    sha256: str
    new_partition: bool

    @property
    def run_key(self) -> str:
        # One run per distinct content of a file name: the same bytes never run twice.
        return f"{self.name}:{self.sha256}"


@dataclass
class WatchState:
    acted: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> (size, mtime_ns, sha256)
    settling: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (size, mtime_ns)

    def to_cursor(self) -> str:
        return json.dumps({"acted": self.acted, "settling": self.settling}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "WatchState":
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            acted={k: tuple(v) for k, v in data.get("acted", {}).items()},
            settling={k: tuple(v) for k, v in data.get("settling", {}).items()},
        )


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
    that partition, if any: a file the cursor has never seen (a new sensor, or files
    loaded by `cmi demo` or by hand) is not loaded again when its content is unchanged.
    """
    acted = dict(state.acted)
    settling: dict[str, tuple[int, int]] = {}
    requests: list[ExtractRequest] = []
    for obs in sorted(observations, key=lambda o: o.name):
        seen = (obs.size, obs.mtime_ns)
        previous = acted.get(obs.name)
        if previous is not None and previous[:2] == seen:
            continue  # unchanged since we acted on it: no re-hash
        untouched_long_enough = now_ns - obs.mtime_ns >= settle_seconds * 1e9
        if state.settling.get(obs.name) != seen and not untouched_long_enough:
            settling[obs.name] = seen  # still being written, or first sight: wait a tick
            continue
        sha256 = sha256_of(obs.name)
        acted[obs.name] = (obs.size, obs.mtime_ns, sha256)
        if previous is not None and previous[2] == sha256:
            continue  # touched (copied again) but identical content
        if previous is None and materialized_sha256(obs.name) == sha256:
            continue  # already loaded before this sensor saw it
        requests.append(ExtractRequest(name=obs.name, sha256=sha256, new_partition=previous is None))
    return WatchState(acted=acted, settling=settling), requests
