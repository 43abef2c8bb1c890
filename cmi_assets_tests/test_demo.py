"""The demo's printed instructions: the variables `dg dev` needs, and no more."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from cmi_assets import progress
from cmi_assets.demo import (
    CFSR_YEAR_VARIABLES,
    DemoReport,
    StopRequests,
    format_report,
    installed_command,
    materialize_everything,
)


@pytest.fixture(autouse=True)
def no_cfsr_year_variables(monkeypatch):
    for name in CFSR_YEAR_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def report(tmp_path: Path, key_file: Path | None) -> DemoReport:
    return DemoReport(
        data_dir=tmp_path, dagster_home=tmp_path / ".dagster_home", world_summary=None, pseudonym_key_file=key_file
    )


def test_a_key_in_the_data_dir_needs_no_variable_of_its_own(tmp_path):
    demo = report(tmp_path, tmp_path / ".pseudonym_key")
    assert demo.ui_environment() == {"DAGSTER_HOME": str(tmp_path / ".dagster_home"), "CMI_DATA_DIR": str(tmp_path)}
    assert f"secret in {tmp_path / '.pseudonym_key'}" in format_report(demo)


def test_a_key_elsewhere_is_named_for_dg_dev(tmp_path):
    elsewhere = tmp_path / "secrets" / "key"
    demo = report(tmp_path, elsewhere)
    assert demo.ui_environment()["CMI_PSEUDONYM_KEY_FILE"] == str(elsewhere)
    assert f"CMI_PSEUDONYM_KEY_FILE={elsewhere} {installed_command('dg')} dev" in format_report(demo)


def test_no_key_note_when_the_secret_comes_from_the_environment(tmp_path):
    demo = report(tmp_path, None)
    assert "CMI_PSEUDONYM_KEY_FILE" not in demo.ui_environment()
    assert "HMAC" not in format_report(demo)


def test_the_printed_ui_command_works_as_printed():
    """The README never activates the venv: the printed `dg` must be the venv's own, a path
    that exists from the project folder (or absolute), not a bare name the shell lacks."""
    import os
    import shutil

    for name in ("dg", "dagster"):
        command = installed_command(name)
        assert shutil.which(command) or (os.path.isfile(command) and os.access(command, os.X_OK)), command
        assert "/" in command  # a path, not a name looked up on PATH


def test_a_world_whose_generation_was_stopped_is_not_complete(tmp_path):
    from cmi_assets.demo import world_is_complete

    (tmp_path / "landing" / "births").mkdir(parents=True)
    assert world_is_complete(tmp_path)  # an agency's own extracts: no truth of ours
    (tmp_path / "truth").mkdir()
    assert not world_is_complete(tmp_path)  # stopped before the summary was written
    (tmp_path / "truth" / "world.json").write_text('{"births": 10}')
    assert not world_is_complete(tmp_path)  # stopped before the generator's last write
    (tmp_path / "truth" / "world.json").write_text('{"births": 10, "seconds": 1.5}')
    assert world_is_complete(tmp_path)


def test_bad_arguments_are_one_line_rc_2_and_write_nothing(tmp_path):
    from click.testing import CliRunner

    from cmi_assets.cli import main

    for args in (
        ["synth", "--scale", "-1", "--out", str(tmp_path / "world")],
        ["synth", "--profile", "nope", "--out", str(tmp_path / "world")],
        ["demo", "--scale", "0", "--data-dir", str(tmp_path / "data")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, args
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
    assert not (tmp_path / "world").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_taken_by_dagsters_handler_mid_run_is_named(signum):
    """Dagster maps both signals to one handler during a run; the demo still names the one sent."""

    @dg.asset
    def stopped_mid_run() -> None:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the interruption arrives here

    with dg.instance_for_test() as instance, StopRequests() as stop:
        result = dg.materialize([stopped_mid_run], instance=instance, raise_on_error=False)
        stop.note_interrupted_run(result)
    assert not result.success
    assert stop.received == signal.Signals(signum).name


def test_a_single_long_run_draws_its_library_steps_on_the_terminal(capsys):
    @dg.asset
    def trained() -> None:
        with progress.steps("training", 2) as step:
            step("first pass")
            step("second pass")

    with dg.instance_for_test() as instance:
        done = materialize_everything(
            dg.Definitions(assets=[trained]), instance, log=lambda *_: None, progress_bar=True
        )
    assert done.runs == 1 and not done.failed
    drawn = capsys.readouterr().err.split("\r\x1b[2K")[1:]
    assert [line.split("] ")[1].split(" ")[0] for line in drawn] == ["0/2", "1/2", "2/2"]
    assert drawn[1].endswith("s: second pass") and drawn[-1].endswith("\n")
