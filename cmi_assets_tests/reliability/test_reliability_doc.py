"""docs/reliability.md is the table the reliability tests observed, not one typed by hand."""

from __future__ import annotations

import difflib
import os

import pytest

from cmi_assets_tests.reliability.harness import RELIABILITY_DOC, WRITE_DOC_VARIABLE, render_reliability_doc


def test_reliability_doc_is_what_the_cases_observed(reliability_log, every_case_ran):
    if not every_case_ran:
        pytest.skip("docs/reliability.md is compared only when every reliability test runs")
    generated = render_reliability_doc(reliability_log)
    if os.environ.get(WRITE_DOC_VARIABLE) == "1":
        RELIABILITY_DOC.parent.mkdir(parents=True, exist_ok=True)
        RELIABILITY_DOC.write_text(generated, encoding="utf-8")
        return
    committed = RELIABILITY_DOC.read_text(encoding="utf-8") if RELIABILITY_DOC.exists() else ""
    diff = "\n".join(
        difflib.unified_diff(
            committed.splitlines(),
            generated.splitlines(),
            "docs/reliability.md (committed)",
            "observed by this run",
            lineterm="",
        )
    )
    assert committed == generated, (
        f"docs/reliability.md differs from what the cases observed; regenerate it with "
        f"{WRITE_DOC_VARIABLE}=1 .venv/bin/pytest -q cmi_assets_tests/reliability\n{diff}"
    )
