"""Code versions from the source an asset's module rests on (defs/code_versions.py)."""

from __future__ import annotations

from cmi_assets.defs import code_versions
from cmi_assets.defs.code_versions import PACKAGE_DIR, code_version_of, imported_modules, source_closure


def test_the_closure_follows_imports_at_the_top_and_inside_functions():
    closure = {p.relative_to(PACKAGE_DIR).as_posix() for p in source_closure("cmi_assets.defs.cfsr.assets")}
    assert {"defs/cfsr/assets.py", "cfsr/recurrence.py", "cfsr/dq.py", "storage.py"} <= closure
    assert "linkage/train.py" not in closure  # CFSR rests on no linkage code


def test_relative_and_multi_line_imports_are_read(tmp_path, monkeypatch):
    package = tmp_path / "cmi_assets"
    (package / "lib").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lib" / "__init__.py").write_text("")
    (package / "lib" / "a.py").write_text("from . import b\nfrom cmi_assets.lib import (\n    c,\n)\n")
    for name in ("b", "c"):
        (package / "lib" / f"{name}.py").write_text("X = 1\n")
    monkeypatch.setattr(code_versions, "PACKAGE_DIR", package)
    for cached in (imported_modules, source_closure, code_version_of):
        cached.cache_clear()
    try:
        assert imported_modules(package / "lib" / "a.py", "cmi_assets.lib.a") >= {
            "cmi_assets.lib.b",
            "cmi_assets.lib.c",
        }
        before = code_version_of("cmi_assets.lib.a")
        (package / "lib" / "c.py").write_text("X = 2\n")  # a library the module rests on changes
        for cached in (imported_modules, source_closure, code_version_of):
            cached.cache_clear()
        assert code_version_of("cmi_assets.lib.a") != before
    finally:
        for cached in (imported_modules, source_closure, code_version_of):
            cached.cache_clear()


def test_a_module_imported_from_the_package_itself_is_followed():
    # spine.py has `from cmi_assets import progress`
    closure = {p.relative_to(PACKAGE_DIR).as_posix() for p in source_closure("cmi_assets.linkage.spine")}
    assert {"progress.py", "__init__.py", "linkage/spine.py"} <= closure
