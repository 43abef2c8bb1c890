"""Progress of long library steps: what the libraries report and how the demo draws it."""

from __future__ import annotations

import io

import pytest

from cmi_assets import progress
from cmi_assets.demo import TerminalSteps


def _recorded() -> tuple[list[tuple], progress.Reporter]:
    seen: list[tuple] = []
    return seen, lambda *event: seen.append(event)


def test_steps_report_each_start_then_the_end():
    seen, reporter = _recorded()
    with progress.steps("unreported", 1) as step:
        step("before any reporter")
    with progress.reporting_to(reporter), progress.steps("work", 2) as step:
        step("first")
        step("second")
    assert seen == [("work", 0, 2, "first"), ("work", 1, 2, "second"), ("work", 2, 2, "")]


def test_a_failed_step_ends_the_bar_where_it_stopped():
    seen, reporter = _recorded()
    with pytest.raises(RuntimeError), progress.reporting_to(reporter), progress.steps("work", 3) as step:
        step("first")
        step("second")
        raise RuntimeError("failed in the second step")
    assert seen[-1] == ("work", 1, 3, "")


def test_the_terminal_bar_redraws_one_line_and_ends_it():
    stream = io.StringIO()
    draw = TerminalSteps(stream)
    draw("training", 1, 4, "u probabilities")
    draw("training", 4, 4, "")
    first, last = stream.getvalue().split("\r\x1b[2K")[1:]
    assert first.startswith("      training [" + "#" * 6 + "-" * 18 + "] 1/4 0 s: u probabilities")
    assert "\n" not in first and last.startswith("      training [" + "#" * 24 + "] 4/4") and last.endswith("\n")
