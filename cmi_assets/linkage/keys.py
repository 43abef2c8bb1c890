"""Persistent pseudonymous person keys.

A person_key is an HMAC-SHA256 (secret from the environment) of a cluster's founding
record reference, so it reveals nothing without the secret and is reproducible with it.
Across runs a new cluster inherits the previous key of the records it shares most with
(greatest overlap; each previous key goes to one cluster only), so persons untouched by a
new extract or a relink keep their keys. Splits and merges are recorded as events.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import polars as pl

KEY_ENV = "CMI_PSEUDONYM_KEY"
KEY_FILE_ENV = "CMI_PSEUDONYM_KEY_FILE"
KEY_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are negligible at any scale here

EVENT_SCHEMA = {
    "level": pl.String,
    "event": pl.String,  # new | split | merge | retired
    "person_key": pl.String,  # the key the event is about (the surviving key for a merge)
    "other_person_key": pl.String,  # split: the new key taking part; merge: the absorbed key
    "records": pl.Int64,  # records moved with the event
}


class MissingPseudonymKey(RuntimeError):
    pass


def pseudonym_secret(environ: dict | None = None) -> bytes:
    """The HMAC secret: CMI_PSEUDONYM_KEY, or the content of the file named by
    CMI_PSEUDONYM_KEY_FILE. Never logged; an absent secret is an error (a key built from
    a default secret would be reversible by anyone)."""
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV):
        return environ[KEY_ENV].encode("utf-8")
    path = environ.get(KEY_FILE_ENV)
    if path and Path(path).is_file():
        secret = Path(path).read_bytes().strip()
        if secret:
            return secret
    raise MissingPseudonymKey(f"set {KEY_ENV} or {KEY_FILE_ENV} (a file holding the secret) to build person keys")


def person_key(secret: bytes, level: str, founding_record_ref: str, salt: int = 0) -> str:
    message = f"{level}|{founding_record_ref}|{salt}".encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def assign_person_keys(
    clusters: pl.DataFrame,
    previous: pl.DataFrame | None,
    secret: bytes,
    level: str,
    issued_keys: set[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keys for clusters (record_ref, cluster_id) given the previous spine (record_ref,
    person_key) of the same level. Returns the spine (record_ref, cluster_id, person_key)
    and the events. `issued_keys`: keys ever issued before (so a retired key is never
    reissued to someone else); the previous spine's keys always count."""
    clusters = clusters.select("record_ref", "cluster_id")
    previous = previous.select("record_ref", "person_key") if previous is not None else pl.DataFrame(
        schema={"record_ref": pl.String, "person_key": pl.String}
    )
    overlap = (
        clusters.join(previous, on="record_ref")
        .group_by("cluster_id", "person_key")
        .len("overlap")
        .sort(["overlap", "person_key", "cluster_id"], descending=[True, False, False])
    )
    inherited: dict[int, str] = {}
    taken: set[str] = set()
    for cluster_id, key, _ in overlap.iter_rows():
        if cluster_id not in inherited and key not in taken:
            inherited[cluster_id] = key
            taken.add(key)
    used = set(previous["person_key"].unique().to_list()) | set(issued_keys or ())
    founders = clusters.group_by("cluster_id").agg(pl.col("record_ref").min().alias("founder")).sort("cluster_id")
    keys: dict[int, str] = {}
    fresh: list[str] = []
    for cluster_id, founder in founders.iter_rows():
        if cluster_id in inherited:
            keys[cluster_id] = inherited[cluster_id]
            continue
        salt = 0
        key = person_key(secret, level, founder)
        while key in used:
            salt += 1
            key = person_key(secret, level, founder, salt)
        used.add(key)
        keys[cluster_id] = key
        fresh.append(key)
    key_frame = pl.DataFrame({"cluster_id": list(keys), "person_key": list(keys.values())}, schema={"cluster_id": clusters.schema["cluster_id"], "person_key": pl.String})
    spine = clusters.join(key_frame, on="cluster_id", how="left")
    events = _key_events(spine, previous, set(fresh), level)
    return spine, events


def _key_events(spine: pl.DataFrame, previous: pl.DataFrame, fresh: set[str], level: str) -> pl.DataFrame:
    """Events between two spines: a previous key whose records now carry several keys
    split; a current key holding records of several previous keys absorbed (merged) them;
    a previous key no longer used and not merged is retired; fresh keys are new."""
    moved = spine.join(previous.rename({"person_key": "previous_key"}), on="record_ref").group_by("previous_key", "person_key").len("records")
    rows = []
    splits = moved.filter(pl.col("previous_key") != pl.col("person_key"))
    current_keys = set(spine["person_key"].to_list())
    for previous_key, key, n in splits.iter_rows():
        if previous_key in current_keys:
            rows.append((level, "split", previous_key, key, n))  # part of a surviving key moved away
        else:
            rows.append((level, "merge", key, previous_key, n))  # a retired key's records joined another
    moved_away = set(splits["previous_key"].to_list())
    for previous_key in sorted(set(previous["person_key"].to_list()) - current_keys - moved_away):
        rows.append((level, "retired", previous_key, None, 0))
    new_sizes = spine.filter(pl.col("person_key").is_in(list(fresh))).group_by("person_key").len("records")
    for key, n in new_sizes.sort("person_key").iter_rows():
        rows.append((level, "new", key, None, n))
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
