"""`cmi demo` over its own earlier work, in a real subprocess with a real instance and
DuckDB files: stopped by a signal part-way it says so in one line and leaves no run
unfinished; the next demo resumes and builds only what is missing; a demo with nothing
changed launches nothing; a redelivered extract launches exactly what is built on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

DEMO = [sys.executable, "-m", "cmi_assets.cli", "demo", "--profile", "small", "--scale", "0.003", "--seed", "11"]


def _demo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMI_", "DAGSTER_"))}
    return {**env, "DAGSTER_HOME": str(home), "CMI_PSEUDONYM_KEY": "test-only-key"}


def _start_demo(data: Path, home: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*DEMO, "--data-dir", str(data), "--log-file", str(log)],
        env=_demo_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"the demo ended (rc {process.returncode}) before {text!r}")
        time.sleep(0.2)
    pytest.fail(f"no {text!r} within {timeout} s")


def _demo_output_runs(out: str) -> tuple[int, int]:
    """(runs, up to date) from the report's first line."""
    line = next(line for line in out.splitlines() if line.startswith("cmi demo finished"))
    runs = int(line.split(": ", 1)[1].split(" runs")[0])
    up_to_date = int(line.split("failed, ", 1)[1].split(" up to date")[0])
    return runs, up_to_date


def _materialized_since(home: Path, known_runs: set[str]) -> dict[str, set]:
    """Asset key -> partitions materialized by the runs not in known_runs."""
    built: dict[str, set] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs(limit=100_000):
            if run.run_id in known_runs:
                continue
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records:
                event = record.event_log_entry.dagster_event
                built.setdefault(event.asset_key.to_user_string(), set()).add(event.partition)
    return built


def _run_ids(home: Path) -> set[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {run.run_id for run in instance.get_runs(limit=100_000)}


@pytest.fixture(scope="module")
def stopped_demo(tmp_path_factory):
    """A demo stopped by SIGTERM while its third stage runs."""
    root = tmp_path_factory.mktemp("demo")
    data, home = root / "data", root / "home"
    home.mkdir()
    first = _start_demo(data, home, root / "first.log")
    _wait_for(root / "first.log", "[3/", first)  # two stages done, the third under way
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=600)
    return {"root": root, "data": data, "home": home, "rc": first.returncode, "out": out, "err": err}


def test_a_stopped_demo_says_so_in_one_line(stopped_demo):
    out, err = stopped_demo["out"], stopped_demo["err"]
    assert stopped_demo["rc"] == 128 + signal.SIGTERM, (out, err)
    assert "Traceback" not in out + err
    last = out.strip().splitlines()[-1]
    assert last.startswith("cmi demo stopped by SIGTERM after") and "run `cmi demo` again" in last
    assert "[4/" not in (stopped_demo["root"] / "first.log").read_text()  # no further stage started
    with dg.DagsterInstance.from_config(str(stopped_demo["home"])) as instance:
        runs = instance.get_runs()
        assert runs and all(run.is_finished for run in runs)  # none left started or queued


@pytest.fixture(scope="module")
def resumed_demo(stopped_demo):
    data, home, root = stopped_demo["data"], stopped_demo["home"], stopped_demo["root"]
    before = _run_ids(home)
    second = _start_demo(data, home, root / "second.log")
    out, err = second.communicate(timeout=1200)
    return {**stopped_demo, "rc": second.returncode, "out": out, "err": err, "runs_before": before}


def test_the_next_demo_resumes_and_builds_only_what_is_missing(resumed_demo):
    out, err = resumed_demo["out"], resumed_demo["err"]
    assert resumed_demo["rc"] == 0, (out[-2000:], err[-2000:])
    assert "Traceback" not in out + err
    runs, up_to_date = _demo_output_runs(out)
    assert runs > 0 and up_to_date > 0  # the first two stages' runs were not launched again
    built = _materialized_since(resumed_demo["home"], resumed_demo["runs_before"])
    # the two stages the first demo finished (raw_benefits, raw_births) were not run again;
    # everything after them was missing and is built now
    assert "raw_benefits" not in built and "raw_births" not in built
    assert {"stg_births_registrations", "person_spine", "cfsr_report"} <= set(built)


@pytest.fixture(scope="module")
def unchanged_demo(resumed_demo):
    data, home, root = resumed_demo["data"], resumed_demo["home"], resumed_demo["root"]
    before = _run_ids(home)
    started = time.monotonic()
    third = _start_demo(data, home, root / "third.log")
    out, err = third.communicate(timeout=600)
    return {
        **resumed_demo,
        "rc": third.returncode,
        "out": out,
        "err": err,
        "runs_before": before,
        "seconds": time.monotonic() - started,
    }


def test_a_demo_with_nothing_changed_launches_nothing(unchanged_demo):
    assert unchanged_demo["rc"] == 0, unchanged_demo["err"][-2000:]
    runs, up_to_date = _demo_output_runs(unchanged_demo["out"])
    assert runs == 0 and up_to_date > 0
    assert _run_ids(unchanged_demo["home"]) == unchanged_demo["runs_before"]


def test_a_redelivered_extract_launches_exactly_what_is_built_on_it(unchanged_demo):
    from cmi_assets.definitions import defs as load_defs

    data, home, root = unchanged_demo["data"], unchanged_demo["home"], unchanged_demo["root"]
    births = sorted((data / "world" / "landing" / "births").iterdir())[-1]
    header, *rows = births.read_text(encoding="utf-8").splitlines(keepends=True)
    births.write_text(header + "".join([rows[1], rows[0], *rows[2:]]), encoding="utf-8")  # same rows, other bytes
    before = _run_ids(home)
    fourth = _start_demo(data, home, root / "fourth.log")
    out, err = fourth.communicate(timeout=1200)
    assert fourth.returncode == 0, (out[-2000:], err[-2000:])
    built = _materialized_since(home, before)

    graph = load_defs().resolve_asset_graph()
    staged = dg.AssetKey("stg_births_registrations")
    downstream, pending = set(), [staged]
    while pending:  # every asset built on the staged births, at any distance
        key = pending.pop()
        downstream.add(key.to_user_string())
        pending.extend(child for child in graph.get(key).child_keys if child.to_user_string() not in downstream)
    assert set(built) == {"raw_births"} | downstream
    assert built["raw_births"] == {births.name}  # the other births extracts were not reloaded
    assert not any(name.startswith("cfsr") for name in built)  # the CFSR chain reads no births
