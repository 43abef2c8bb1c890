"""The reliability tests' shared table of observed cases, and the run order that puts the
check of docs/reliability.md after every case."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmi_assets_tests.reliability.harness import ReliabilityLog

HERE = Path(__file__).parent
DOC_TEST_FILE = "test_reliability_doc.py"

_LOG = ReliabilityLog()
_COLLECTED_FILES: set[str] = set()
_DESELECTED: list[str] = []


def pytest_collection_modifyitems(session, config, items):
    _COLLECTED_FILES.update(Path(item.path).name for item in items if Path(item.path).parent == HERE)
    # A stable sort: every case keeps its order, the document check goes last.
    items.sort(key=lambda item: Path(item.path).parent == HERE and Path(item.path).name == DOC_TEST_FILE)


def pytest_deselected(items):
    _DESELECTED.extend(item.nodeid for item in items if Path(item.path).parent == HERE)


@pytest.fixture(scope="session")
def reliability_log() -> ReliabilityLog:
    """Where each case records (case, expected, observed) before it asserts."""
    return _LOG


@pytest.fixture(scope="session")
def every_case_ran() -> bool:
    """Whether this session runs every reliability test (the table is then complete)."""
    test_files = {path.name for path in HERE.glob("test_*.py")}
    return test_files <= _COLLECTED_FILES and not _DESELECTED
