"""Code versions for the assets that do not set their own: a hash of the source of every
cmi_assets module the asset's defs module imports, directly or through the libraries it
calls (found by reading the import statements, so nothing is imported to find them).

Dagster compares an asset's code version with the one its latest materialization recorded:
a change to the asset's code or to any library it rests on makes it stale, and an
unchanged one, re-run on unchanged inputs, gets the same data version, so nothing
downstream turns stale. Sources and staging set theirs from the extract spec and the SQL.
"""

from __future__ import annotations

import hashlib
import re
import sys
import warnings
from functools import cache
from pathlib import Path

import dagster as dg

PACKAGE = "cmi_assets"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
VERSION_LENGTH = 12


def module_file(module: str) -> Path | None:
    """The source file of a cmi_assets module (a package's __init__.py), None outside it."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    if module == PACKAGE:  # `from cmi_assets import progress`: the package's own __init__.py
        return PACKAGE_DIR / "__init__.py"
    relative = Path(*module.split(".")[1:])
    for candidate in (PACKAGE_DIR / relative.with_suffix(".py"), PACKAGE_DIR / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


# import statements, read as text (parsing every file into a syntax tree costs a second at
# load); one in a docstring only adds a file to the hash, which errs on the side of stale
_FROM_IMPORT = re.compile(r"^\s*from\s+(\.*[\w.]*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.MULTILINE)
_IMPORT = re.compile(r"^\s*import\s+([\w., ]+)", re.MULTILINE)


@cache
def imported_modules(path: Path, module: str) -> frozenset[str]:
    """The cmi_assets modules one file imports, at the top or inside functions (the
    heavy libraries are imported late on purpose, and still shape the result)."""
    text = path.read_text(encoding="utf-8")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for line in _IMPORT.finditer(text):
        found.update(name.split(" as ")[0].strip() for name in line.group(1).split(","))
    for source, names in _FROM_IMPORT.findall(text):
        level = len(source) - len(source.lstrip("."))
        base = source.lstrip(".")
        if level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - level + 1] + ([base] if base else []))
        found.add(base)
        # `from cmi_assets.linkage import train` names a module, not only an attribute
        for name in names.strip("()").replace("\n", " ").split(","):
            name = name.split(" as ")[0].strip()
            if name and name != "*":
                found.add(f"{base}.{name}")
    return frozenset(name for name in found if module_file(name) is not None)


@cache
def source_closure(module: str) -> tuple[Path, ...]:
    """Every cmi_assets source file `module` rests on, itself included, sorted."""
    seen: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        pending.extend(imported_modules(path, name))
    return tuple(sorted(set(seen.values())))


@cache
def code_version_of(module: str) -> str:
    digest = hashlib.sha256()
    for path in source_closure(module):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:VERSION_LENGTH]


def with_code_versions(defs: dg.Definitions) -> dg.Definitions:
    """defs with a code version on every asset spec that has none, from the module that
    defines its assets definition."""
    modules = {}
    for assets_def in defs.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition):
            compute = getattr(assets_def.op, "compute_fn", None)
            function = getattr(compute, "decorated_fn", None) or getattr(compute, "__wrapped__", None)
            module = getattr(function, "__module__", None) or getattr(
                sys.modules.get(type(assets_def).__module__), "__name__", None
            )
            for key in assets_def.keys:
                modules[key] = module

    def versioned(spec: dg.AssetSpec) -> dg.AssetSpec:
        module = modules.get(spec.key)
        if spec.code_version is not None or module is None or module_file(module) is None:
            return spec
        return spec.replace_attributes(code_version=code_version_of(module))

    with warnings.catch_warnings():
        # map_asset_specs is a preview API of Dagster 1.13; its behaviour here is tested
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=versioned)
