"""Progress of a long library step, for whoever runs it to show.

A library says where it is (`with steps("training the linkage model", 4) as step: step("u
probabilities")`); nothing is shown unless the caller installed a reporter, as `cmi demo` does
on a terminal. Step names are fixed texts and column names, never a value from the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (label, steps done, steps in all, the step now running; "" once the work has ended, done or not)
Reporter = Callable[[str, int, int, str], None]
_reporters: list[Reporter] = []


@contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    """Send the progress of every step run inside this block to `reporter`."""
    _reporters.append(reporter)
    try:
        yield
    finally:
        _reporters.remove(reporter)


def _report(label: str, done: int, total: int, current: str) -> None:
    for reporter in _reporters:
        reporter(label, done, total, current)


@contextmanager
def steps(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A long piece of work in `total` steps: call the yielded function as each step starts."""
    started = 0

    def start(name: str) -> None:
        nonlocal started
        _report(label, min(started, total), total, name)
        started += 1

    try:
        yield start
    except BaseException:
        _report(label, max(started - 1, 0), total, "")
        raise
    _report(label, total, total, "")
