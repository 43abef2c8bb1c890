"""`cmi demo` stopped by a signal part-way: one line, no traceback, nothing half-written,
and the next `cmi demo` resumes and finishes (a real subprocess, instance and DuckDB)."""

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
    return subprocess.Popen([*DEMO, "--data-dir", str(data), "--log-file", str(log)], env=_demo_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"the demo ended (rc {process.returncode}) before {text!r}")
        time.sleep(0.2)
    pytest.fail(f"no {text!r} within {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_stopped_demo_says_so_in_one_line_and_resumes(tmp_path, signum):
    data, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    first = _start_demo(data, home, tmp_path / "first.log")
    _wait_for(tmp_path / "first.log", "[3/", first)  # two stages done, the third under way
    first.send_signal(signum)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 128 + signum, (out, err)
    assert "Traceback" not in out + err
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"cmi demo stopped by {signal.Signals(signum).name} after") and "run `cmi demo` again" in last
    assert "[4/" not in (tmp_path / "first.log").read_text()  # no further stage started

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        # every run finished one way or the other: none left started or queued
        assert runs and all(run.is_finished for run in runs)
        stopped = len(runs)

    second = _start_demo(data, home, tmp_path / "second.log")
    out, err = second.communicate(timeout=1200)
    assert second.returncode == 0, (out[-2000:], err[-2000:])
    assert "0 failed" in out and "Traceback" not in out + err
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs(limit=100_000)) > stopped
