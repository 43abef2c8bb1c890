"""World profiles: `profiles/<name>/<section>.yaml`, one file per part of the world
(`world`, `noise`, `ncands`), merged into one mapping keyed by section."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROFILES_DIR = Path(__file__).parent / "profiles"


def available_profiles() -> list[str]:
    return sorted(p.name for p in PROFILES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


@lru_cache(maxsize=8)
def _load(name: str) -> dict[str, Any]:
    folder = PROFILES_DIR / name
    if not folder.is_dir():
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(available_profiles())}")
    merged: dict[str, Any] = {}
    base = folder / "_extends.txt"
    if base.exists():
        merged.update(_load(base.read_text().strip()))
    for path in sorted(folder.glob("*.yaml")):
        section = yaml.safe_load(path.read_text()) or {}
        merged[path.stem] = _deep_merge(merged.get(path.stem, {}), section)
    return merged


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_profile(name: str = "default") -> dict[str, Any]:
    """The merged profile (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_load(name))
