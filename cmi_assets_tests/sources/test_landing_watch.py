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
