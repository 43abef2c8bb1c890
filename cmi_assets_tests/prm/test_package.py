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
