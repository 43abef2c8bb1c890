"""Persistent pseudonymous person keys.

A person_key is an HMAC-SHA256 (secret from the environment) of a cluster's founding
record reference, so it reveals nothing without the secret and is reproducible with it.
Across runs a new cluster inherits the previous key of the records it shares most with
(greatest overlap; each previous key goes to one cluster only), so persons untouched by a
new extract or a relink keep their keys. Splits and merges are recorded as events.

The keys are computed where the clusters are, in DuckDB (assign_keys; the HMAC from its
sha256, person_key_sql); person_key is the same function in Python, for a single key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import duckdb
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


DATA_DIR_KEY_FILE = ".pseudonym_key"


def pseudonym_secret(environ: dict | None = None) -> bytes:
    """The HMAC secret: CMI_PSEUDONYM_KEY, or the content of the file named by
    CMI_PSEUDONYM_KEY_FILE, or else of $CMI_DATA_DIR/.pseudonym_key (where `cmi demo`
    generates one, so `dg dev` on the demo's data finds it). Never logged; an absent
    secret is an error (a key built from a default secret would be reversible by anyone)."""
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV):
        return environ[KEY_ENV].encode("utf-8")
    path = environ.get(KEY_FILE_ENV) or (
        str(Path(environ["CMI_DATA_DIR"]) / DATA_DIR_KEY_FILE) if environ.get("CMI_DATA_DIR") else None
    )
    if path and Path(path).is_file():
        secret = Path(path).read_bytes().strip()
        if secret:
            return secret
    raise MissingPseudonymKey(f"set {KEY_ENV} or {KEY_FILE_ENV} (a file holding the secret) to build person keys")


def person_key(secret: bytes, level: str, founding_record_ref: str, salt: int = 0) -> str:
    message = f"{level}|{founding_record_ref}|{salt}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def _hmac_pads(secret: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), so DuckDB can compute the
    same keys as person_key: sha256(outer || sha256(inner || message))."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    return bytes(x ^ 0x36 for x in key), bytes(x ^ 0x5C for x in key)


def person_key_sql(message: str) -> str:
    """SQL for person_key over a message expression (level|founder|salt); the padded keys
    are the statement's parameters $inner and $outer (never written into SQL text)."""
    return f"left(sha256($outer::BLOB || unhex(sha256($inner::BLOB || encode({message})))), {KEY_HEX_CHARS})"


def assign_keys(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    previous: str | None,
    secret: bytes,
    level: str,
    issued: str | None = None,
    out_table: str = "cmi_cluster_keys",
    founders: str | None = None,
) -> pl.DataFrame:
    """Keys for clusters in DuckDB. clusters: a relation (record_ref, cluster_id);
    previous: the previous spine of the level (record_ref, person_key) or None; issued: a
    relation (person_key) of every key issued before at the level (so a retired key is
    never reissued to someone else; the previous spine's keys always count); founders:
    optionally, each cluster's founding (smallest) record reference and record count
    (cluster_id, founder, records), when the caller has them cheaper than from clusters.
    Writes the temp table out_table (cluster_id, person_key, fresh) and returns the key
    events.

    A cluster inherits the previous key it shares most records with (greedy by overlap,
    then key, then cluster id; each key goes to one cluster). A cluster with exactly one
    candidate key that is no other cluster's candidate (almost all of them) inherits it
    directly; only the rest go through the greedy loop. Other clusters get a fresh key:
    the HMAC of their founding record reference, salted past any key issued before."""
    inner, outer = _hmac_pads(secret)
    founders = (
        founders
        or f"(SELECT cluster_id, min(record_ref) AS founder, count(*) AS records FROM {clusters} GROUP BY cluster_id)"
    )
    inherited = pl.DataFrame(schema={"cluster_id": pl.Int64, "person_key": pl.String})
    if previous is not None:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_key_overlap AS
                        SELECT *, count(*) OVER (PARTITION BY cluster_id) = 1 AND count(*) OVER (PARTITION BY person_key) = 1 AS sole
                        FROM (SELECT c.cluster_id, p.person_key, count(*) AS overlap
                              FROM {clusters} c JOIN {previous} p USING (record_ref) GROUP BY ALL)""")
        direct = con.sql("SELECT cluster_id, person_key FROM cmi_key_overlap WHERE sole").pl()
        contested = con.sql(
            "SELECT cluster_id, person_key FROM cmi_key_overlap WHERE NOT sole ORDER BY overlap DESC, person_key, cluster_id"
        ).fetchall()
        con.execute("DROP TABLE cmi_key_overlap")
        chosen: dict[int, str] = {}
        taken: set[str] = set()
        for cluster_id, key in contested:
            if cluster_id not in chosen and key not in taken:
                chosen[cluster_id] = key
                taken.add(key)
        inherited = pl.concat(
            [
                direct.cast(inherited.schema),
                pl.DataFrame(
                    {"cluster_id": list(chosen), "person_key": list(chosen.values())}, schema=inherited.schema
                ),
            ]
        )
    used = (
        " UNION ".join(f"SELECT person_key FROM {r}" for r in (previous, issued) if r is not None)
        or "SELECT NULL::VARCHAR AS person_key"
    )
    con.register("cmi_inherited_keys", inherited)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE cmi_fresh_keys AS
                SELECT cluster_id, founder, records, {person_key_sql(f"'{level}|' || founder || '|0'")} AS person_key
                FROM {founders} WHERE cluster_id NOT IN (SELECT cluster_id FROM cmi_inherited_keys)""",
            {"inner": inner, "outer": outer},
        )
        # a founder's key issued before (the same founder in an earlier run): the next salts,
        # tried in SQL, the smallest unused one wins (keys of distinct founders never collide)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cmi_key_clashes AS
                        SELECT cluster_id, founder FROM cmi_fresh_keys f
                        WHERE EXISTS (SELECT 1 FROM ({used}) u WHERE u.person_key = f.person_key)""")
        salt = 1
        while con.execute("SELECT count(*) FROM cmi_key_clashes").fetchone()[0]:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE cmi_salted_keys AS
                    SELECT cluster_id, founder, {person_key_sql(f"'{level}|' || founder || '|{salt}'")} AS person_key
                    FROM cmi_key_clashes""",
                {"inner": inner, "outer": outer},
            )
            con.execute(f"""DELETE FROM cmi_salted_keys s WHERE EXISTS (SELECT 1 FROM ({used}) u WHERE u.person_key = s.person_key)
                            OR s.person_key IN (SELECT person_key FROM cmi_fresh_keys)""")
            con.execute(
                "UPDATE cmi_fresh_keys f SET person_key = s.person_key FROM cmi_salted_keys s WHERE s.cluster_id = f.cluster_id"
            )
            con.execute("DELETE FROM cmi_key_clashes WHERE cluster_id IN (SELECT cluster_id FROM cmi_salted_keys)")
            salt += 1
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {out_table} AS
                        SELECT cluster_id, person_key, FALSE AS fresh FROM cmi_inherited_keys
                        UNION ALL SELECT cluster_id, person_key, TRUE FROM cmi_fresh_keys""")
        new = "SELECT 'new' AS event, person_key, NULL AS other_person_key, records FROM cmi_fresh_keys"
        events = _key_events(con, clusters, previous, out_table, level, new)
    finally:
        con.unregister("cmi_inherited_keys")
        for table in ("cmi_fresh_keys", "cmi_key_clashes", "cmi_salted_keys"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return events


def _key_events(
    con: duckdb.DuckDBPyConnection, clusters: str, previous: str | None, keys: str, level: str, new: str
) -> pl.DataFrame:
    """Events between two spines: a previous key whose records now carry several keys
    split; a current key holding records of several previous keys absorbed (merged) them;
    a previous key no longer used and not merged is retired; fresh keys are new (`new`:
    their rows)."""
    sql = new
    if previous is not None:
        sql = f"""
            WITH current AS (SELECT DISTINCT person_key FROM {keys}),
            moved AS (SELECT p.person_key AS previous_key, k.person_key, count(*) AS records
                      FROM {clusters} c JOIN {keys} k USING (cluster_id) JOIN {previous} p USING (record_ref)
                      WHERE p.person_key <> k.person_key GROUP BY ALL)
            SELECT CASE WHEN previous_key IN (SELECT person_key FROM current) THEN 'split' ELSE 'merge' END AS event,
                   CASE WHEN previous_key IN (SELECT person_key FROM current) THEN previous_key ELSE person_key END AS person_key,
                   CASE WHEN previous_key IN (SELECT person_key FROM current) THEN person_key ELSE previous_key END AS other_person_key,
                   records
            FROM moved
            UNION ALL
            SELECT DISTINCT 'retired', person_key, NULL, 0 FROM {previous}
            WHERE person_key NOT IN (SELECT person_key FROM current) AND person_key NOT IN (SELECT previous_key FROM moved)
            UNION ALL {new}"""
    events = con.sql(f"SELECT '{level}' AS level, * FROM ({sql}) ORDER BY event, person_key, other_person_key").pl()
    return events.cast(EVENT_SCHEMA).select(list(EVENT_SCHEMA))


def assign_person_keys(
    clusters: pl.DataFrame,
    previous: pl.DataFrame | None,
    secret: bytes,
    level: str,
    issued_keys: set[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """assign_keys for frames: clusters (record_ref, cluster_id), the previous spine
    (record_ref, person_key) of the same level or None, and the keys ever issued before.
    Returns the spine (record_ref, cluster_id, person_key) and the events."""
    con = duckdb.connect()
    try:
        con.register("cmi_clusters", clusters.select("record_ref", pl.col("cluster_id").cast(pl.Int64)))
        if previous is not None:
            con.register("cmi_previous", previous.select("record_ref", "person_key"))
        con.register(
            "cmi_issued", pl.DataFrame({"person_key": sorted(issued_keys or ())}, schema={"person_key": pl.String})
        )
        events = assign_keys(
            con, "cmi_clusters", "cmi_previous" if previous is not None else None, secret, level, "cmi_issued"
        )
        spine = con.sql(
            "SELECT c.record_ref, c.cluster_id, k.person_key FROM cmi_clusters c JOIN cmi_cluster_keys k USING (cluster_id)"
        ).pl()
    finally:
        con.close()
    return clusters.select("record_ref").join(spine, on="record_ref", how="left"), events
