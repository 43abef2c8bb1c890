"""Quarantine: an extract that breaks its spec leaves landing, with a reason beside it.

quarantine/<agency>/<name> holds the file, <name>.reason.txt says why (file, line,
field and rule of each problem, never a value). A later bad delivery with the same
name gets a numbered copy (<stem>~2<suffix>), so an earlier quarantined file is never
overwritten: the agency may need both to see what went wrong.
"""

from __future__ import annotations

import glob
import shutil
from datetime import UTC, datetime
from pathlib import Path

from cmi_assets.sources.landing import file_sha256
from cmi_assets.sources.validate import ExtractError

REASON_SUFFIX = ".reason.txt"


def quarantine_extract(path: Path, quarantine_dir: Path, agency: str, error: ExtractError) -> Path:
    """Move `path` to quarantine/<agency>/ and write its reason file; returns the new path."""
    path = Path(path)
    folder = Path(quarantine_dir) / agency
    folder.mkdir(parents=True, exist_ok=True)
    sha256 = file_sha256(path)
    target = _free_name(folder, path.name)
    shutil.move(str(path), str(target))
    reason_path(target).write_text(reason_text(path.name, agency, sha256, error), encoding="utf-8")
    return target


def reason_path(quarantined: Path) -> Path:
    return quarantined.with_name(quarantined.name + REASON_SUFFIX)


def reason_text(file_name: str, agency: str, sha256: str, error: ExtractError) -> str:
    lines = [
        f"file: {file_name}",
        f"agency: {agency}",
        f"sha256: {sha256}",
        f"quarantined_at: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"problems: {error.total} (listed: {len(error.errors)})",
        "",
    ]
    for problem in error.errors:
        row = problem.row if problem.row is not None else "-"
        field = problem.field if problem.field is not None else "-"
        lines.append(f"line {row}\tfield {field}\trule {problem.rule}\t{problem.reason}")
    return "\n".join(lines) + "\n"


def quarantined_copies(quarantine_dir: Path, agency: str, name: str) -> list[Path]:
    """Earlier quarantined copies of a file name, oldest first."""
    folder = Path(quarantine_dir) / agency
    stem, suffix = _split(name)
    numbered = [p for p in folder.glob(f"{glob.escape(stem)}~*{glob.escape(suffix)}") if _copy_number(p)]
    candidates = [folder / name, *sorted(numbered, key=_copy_number)]
    return [path for path in candidates if path.is_file()]


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = _split(name)
    number = 1
    while target.exists() or reason_path(target).exists():
        number += 1
        target = folder / f"{stem}~{number}{suffix}"
    return target


def _split(name: str) -> tuple[str, str]:
    path = Path(name)
    return path.stem, path.suffix


def _copy_number(path: Path) -> int:
    tail = path.stem.rsplit("~", 1)[-1]
    return int(tail) if tail.isdigit() else 0
