"""The Dagster code location imports cmi_assets.prm at definition time: that import must not
pull in statsmodels, scikit-learn or Dagster (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_prm_loads_no_model_libraries_and_no_dagster():
    code = (
        "import sys, cmi_assets.prm; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'sklearn', 'dagster'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves_from_the_module_it_is_declared_in():
    """The package loads its modules on first use: every name in __all__ must resolve, from
    the module its lazy map names, and importing a light module must not load scipy."""
    import importlib

    import cmi_assets.prm as prm

    assert sorted(prm.__all__) == sorted(prm._EXPORTS)
    for name, module in prm._EXPORTS.items():
        assert getattr(prm, name) is getattr(importlib.import_module(module), name), name
    code = "import sys, cmi_assets.prm.settings; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
