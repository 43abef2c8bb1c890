"""The README and the code cite only files that exist in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a repository path as the docs write it: a known top folder, then a file or folder name
CITED = re.compile(
    r"(?<![\w./-])((?:cmi_assets|cmi_assets_tests|benchmarks|scripts|docs|deploy|\.ci)/[\w./<>*-]*[\w>*])"
)


def cited_paths(text: str) -> set[str]:
    return {m for m in CITED.findall(text) if "<" not in m and "*" not in m}


def test_readme_cites_only_files_that_exist():
    cited = cited_paths((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(cited) >= 5  # the pattern finds what the README cites
    missing = sorted(p for p in cited if not (ROOT / p).exists())
    assert not missing, missing


def test_code_cites_design_and_docs_that_exist():
    for path in [*ROOT.glob("cmi_assets/**/*.py"), ROOT / "pyproject.toml"]:
        text = path.read_text(encoding="utf-8")
        for cited in re.findall(r"(docs/[\w.-]+\.md|DESIGN\.md)", text):
            assert (ROOT / cited).exists() or (ROOT / "docs" / cited).exists(), (path, cited)


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    command = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")]
    assert len(command) == 1 and f"\n{command[0]}\n" in readme
