"""The landing sensor's decisions, tick by tick, without Dagster."""

from __future__ import annotations

from cmi_assets.sources.landing_watch import FileObservation, WatchState, plan_tick

SEC = 1_000_000_000


def _tick(files, state, hashes, now, **kw):
    hashed = []

    def sha(name):
        hashed.append(name)
        return hashes[name]

    new_state, requests = plan_tick(
        [FileObservation(n, size, mtime) for n, (size, mtime) in files.items()], state, sha, now, **kw
    )
    # the cursor round-trips through JSON
    new_state = WatchState.from_cursor(new_state.to_cursor())
    return new_state, requests, hashed


def test_new_file_waits_until_settled_then_requests_once():
    files = {"b_2020.csv": (100, 1 * SEC)}
    hashes = {"b_2020.csv": "h1"}
    state, req, _ = _tick(files, WatchState(), hashes, now=2 * SEC)
    assert req == []  # first sight of a fresh file: wait one tick
    state, req, _ = _tick(files, state, hashes, now=32 * SEC)
    assert [(r.name, r.sha256, r.new_partition) for r in req] == [("b_2020.csv", "h1", True)]
    assert req[0].run_key == "b_2020.csv:h1"
    state, req, hashed = _tick(files, state, hashes, now=62 * SEC)
    assert req == [] and hashed == []  # unchanged: not even re-hashed


def test_file_still_growing_keeps_waiting():
    hashes = {"x.csv": "h"}
    state = WatchState()
    for i, size in enumerate([10, 20, 30]):
        state, req, hashed = _tick({"x.csv": (size, (100 + i) * SEC)}, state, hashes, now=(100 + i) * SEC + 1)
        assert req == [] and hashed == []
    state, req, _ = _tick({"x.csv": (30, 102 * SEC)}, state, hashes, now=103 * SEC)
    assert len(req) == 1


def test_old_file_is_settled_at_first_sight():
    state, req, _ = _tick({"old.csv": (5, 0)}, WatchState(), {"old.csv": "h"}, now=3600 * SEC)
    assert len(req) == 1 and req[0].new_partition


def test_same_bytes_landing_again_gives_no_run_but_new_content_does():
    hashes = {"f.csv": "h1"}
    state, req, _ = _tick({"f.csv": (5, 0)}, WatchState(), hashes, now=100 * SEC)
    assert len(req) == 1
    # copied again: new mtime, same content
    state, req, hashed = _tick({"f.csv": (5, 200 * SEC)}, state, hashes, now=300 * SEC)
    assert req == [] and hashed == ["f.csv"]
    # corrected file, same name, new content
    hashes["f.csv"] = "h2"
    state, req, _ = _tick({"f.csv": (6, 400 * SEC)}, state, hashes, now=500 * SEC)
    assert [(r.sha256, r.new_partition) for r in req] == [("h2", False)]


def test_files_already_materialized_are_not_reloaded_by_a_new_sensor():
    hashes = {"a.csv": "ha", "b.csv": "hb"}
    loaded = {"a.csv": "ha", "b.csv": "old"}
    state, req, _ = _tick(
        {"a.csv": (1, 0), "b.csv": (1, 0)}, WatchState(), hashes, now=100 * SEC, materialized_sha256=loaded.get
    )
    assert [r.name for r in req] == ["b.csv"]


def test_thousands_of_unchanged_files_hash_nothing():
    files = {f"e_{i:05d}.csv": (i, 0) for i in range(5000)}
    hashes = {n: f"h{n}" for n in files}
    state, req, hashed = _tick(files, WatchState(), hashes, now=100 * SEC)
    assert len(req) == 5000 and len(hashed) == 5000
    state, req, hashed = _tick(files, state, hashes, now=200 * SEC)
    assert req == [] and hashed == []


# --- the compact cursor: the ledger lives in a store, the cursor only names it ---


class DictStore:
    def __init__(self):
        self.value, self.writes = None, 0

    def read(self):
        return self.value

    def write(self, value):
        self.value, self.writes = value, self.writes + 1


def _stored_tick(files, cursor, store, hashes, now, **kw):
    hashed = []

    def sha(name):
        hashed.append(name)
        return hashes[name]

    state = WatchState.from_cursor(cursor, store)
    state, requests = plan_tick(
        [FileObservation(n, size, mtime) for n, (size, mtime) in files.items()], state, sha, now, **kw
    )
    return state.to_cursor(store), requests, hashed, state


def test_cursor_stays_small_with_thousands_of_files_and_the_ledger_is_written_only_on_change():
    import json

    files = {f"births_registrations_{i:05d}.csv": (1000 + i, i * SEC) for i in range(5000)}
    hashes = {n: f"{i:064x}" for i, n in enumerate(files)}
    store = DictStore()
    cursor, req, hashed, _ = _stored_tick(files, None, store, hashes, now=10**6 * SEC)
    assert len(req) == 5000 and len(hashed) == 5000
    assert len(cursor) < 200, cursor
    assert json.loads(cursor)["files"] == 5000 and store.writes == 1
    # The self-contained cursor this replaces would be about 100 times larger.
    state = WatchState.from_cursor(cursor, store)
    assert len(WatchState(acted=state.acted).to_cursor()) > 100 * len(cursor)

    for now in (2 * 10**6, 3 * 10**6):  # nothing changed: nothing hashed, nothing written
        same, req, hashed, _ = _stored_tick(files, cursor, store, hashes, now=now * SEC)
        assert (same, req, hashed, store.writes) == (cursor, [], [], 1)

    files["births_registrations_05000.csv"] = (7, 0)
    hashes["births_registrations_05000.csv"] = "new"
    cursor2, req, hashed, _ = _stored_tick(files, cursor, store, hashes, now=4 * 10**6 * SEC)
    assert [r.name for r in req] == hashed == ["births_registrations_05000.csv"]
    assert json.loads(cursor2)["files"] == 5001 and store.writes == 2
    # The store keeps the previous ledger too: a tick whose cursor was not saved still finds it.
    again, req, hashed, _ = _stored_tick(files, cursor, store, hashes, now=5 * 10**6 * SEC)
    assert [r.name for r in req] == hashed == ["births_registrations_05000.csv"]


def test_settling_files_stay_in_the_cursor_and_wait_a_tick():
    import json

    store = DictStore()
    cursor, req, _, _ = _stored_tick({"b.csv": (3, 100 * SEC)}, None, store, {"b.csv": "h"}, now=101 * SEC)
    assert req == [] and json.loads(cursor)["settling"] == {"b.csv": [3, 100 * SEC]}
    assert json.loads(cursor)["ledger"] is None and store.writes == 0
    cursor, req, _, _ = _stored_tick({"b.csv": (3, 100 * SEC)}, cursor, store, {"b.csv": "h"}, now=102 * SEC)
    assert [r.name for r in req] == ["b.csv"] and json.loads(cursor)["settling"] == {}


def test_a_lost_ledger_rehashes_once_and_reloads_only_what_changed():
    files = {"a.csv": (1, 0), "b.csv": (2, 0)}
    hashes = {"a.csv": "ha", "b.csv": "hb"}
    store = DictStore()
    cursor, req, _, _ = _stored_tick(files, None, store, hashes, now=100 * SEC)
    assert len(req) == 2
    store.value = None  # the instance was wiped, or someone cleared the key
    hashes["b.csv"] = "hb2"
    files["b.csv"] = (3, 50 * SEC)
    state = WatchState.from_cursor(cursor, store)
    assert state.ledger_missing and state.acted == {}
    cursor, req, hashed, _ = _stored_tick(
        files, cursor, store, hashes, now=200 * SEC, materialized_sha256={"a.csv": "ha", "b.csv": "hb"}.get
    )
    assert sorted(hashed) == ["a.csv", "b.csv"] and [r.name for r in req] == ["b.csv"]
    assert not WatchState.from_cursor(cursor, store).ledger_missing


def test_a_version_1_cursor_is_still_read():
    legacy = '{"acted":{"a.csv":[1,0,"ha"]},"settling":{"b.csv":[2,5]}}'
    state = WatchState.from_cursor(legacy, DictStore())
    assert state.acted == {"a.csv": (1, 0, "ha")} and state.settling == {"b.csv": (2, 5)}
    cursor, req, hashed, _ = _stored_tick({"a.csv": (1, 0)}, legacy, DictStore(), {}, now=100 * SEC)
    assert req == [] and hashed == [] and "acted" not in cursor


def test_withdrawn_correction_runs_again():
    """v1, then a correction v2, then v1 again: three loads, three distinct run keys
    (Dagster skips a run key it has seen, so going back to v1 must not reuse v1's key)."""
    hashes = {"f.csv": "h1"}
    state, req1, _ = _tick({"f.csv": (5, 0)}, WatchState(), hashes, now=100 * SEC)
    hashes["f.csv"] = "h2"
    state, req2, _ = _tick({"f.csv": (6, 200 * SEC)}, state, hashes, now=300 * SEC)
    hashes["f.csv"] = "h1"
    state, req3, _ = _tick({"f.csv": (5, 400 * SEC)}, state, hashes, now=500 * SEC)
    keys = [r.run_key for r in req1 + req2 + req3]
    assert [r.sha256 for r in req1 + req2 + req3] == ["h1", "h2", "h1"]
    assert len(set(keys)) == 3 and keys[0] == "f.csv:h1"
    assert req3[0].replaces == "h2" and not req3[0].new_partition
