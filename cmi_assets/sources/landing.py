"""The landing folder: which extract files an agency has delivered.

Layout: landing/<agency>/<file>. One landed file = one dynamic partition of
raw_<agency>, keyed by the file name (docs/DESIGN.md "Partitions"). Files still being
written (.tmp, .part) and hidden files are not landed yet.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cmi_assets.sources.spec import load_spec

IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """One delivered extract file. `sha256` is computed on first use (files can be large)."""

    agency: str
    name: str
    path: Path
    size: int
    record_type: str | None  # None: the name matches no record type of the agency's spec
    modified_at: datetime = field(compare=False)

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def with_sha256(self, sha256: str) -> LandedFile:
        """A copy whose hash is already known (computed from bytes the caller has read)."""
        copy = replace(self)
        copy.__dict__["sha256"] = sha256  # primes the cached_property
        return copy


def file_sha256(path: Path) -> str:
    """The content hash of a landed file. A symbolic link is hashed by the path it names,
    never followed: it may point anywhere (a device, another zone), and is quarantined
    unread (load.ingest_extract)."""
    digest = hashlib.sha256()
    if os.path.islink(path):
        digest.update(b"symlink:" + os.fsencode(os.readlink(path)))
        return digest.hexdigest()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_landed(path: Path) -> bool:
    """A complete file: not hidden, not a temporary name an upload is still writing."""
    return path.is_file() and not path.name.startswith(".") and not path.name.lower().endswith(IN_PROGRESS_SUFFIXES)


def landed_file(path: Path, agency: str) -> LandedFile:
    stat = path.stat()
    record_type = load_spec(agency).record_type_for(path.name)
    return LandedFile(
        agency=agency,
        name=path.name,
        path=path,
        size=stat.st_size,
        record_type=record_type.name if record_type else None,
        modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )


def landed_files(landing_dir: Path, agency: str) -> list[LandedFile]:
    """Every complete file in landing/<agency>/, sorted by name.

    Files matching no record type are listed too (record_type None): they become
    partitions that fail visibly and go to quarantine, rather than being ignored.
    """
    folder = Path(landing_dir) / agency
    if not folder.is_dir():
        return []
    return [landed_file(path, agency) for path in sorted(folder.iterdir()) if is_landed(path)]


def find_landed_file(landing_dir: Path, agency: str, name: str) -> LandedFile | None:
    path = Path(landing_dir) / agency / name
    return landed_file(path, agency) if is_landed(path) else None


def new_partition_keys(landing_dir: Path, agency: str, existing: Iterable[str]) -> list[str]:
    """Names of landed files that are not yet partitions of raw_<agency>."""
    known = set(existing)
    return [f.name for f in landed_files(landing_dir, agency) if f.name not in known]


def changed_files(landing_dir: Path, agency: str, loaded: dict[str, str]) -> list[LandedFile]:
    """Landed files whose content differs from the version loaded under the same name
    (`loaded`: file name -> sha256, from load.loaded_extracts): corrected re-deliveries."""
    return [f for f in landed_files(landing_dir, agency) if f.name in loaded and f.sha256 != loaded[f.name]]
