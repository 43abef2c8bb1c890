"""Charts as PNG, drawn with matplotlib's Agg backend (no display) and embedded as base64 so a
report page or a metadata entry stands alone.

pyplot is imported here, when the first chart is drawn, and by no other module (the maps
import only the drawing classes they need, in the functions that draw): the report modules are
imported when the code location loads, which matplotlib would slow down.
"""

from __future__ import annotations

import base64
import io


def pyplot():
    """matplotlib's pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(figure, dpi: float | str = "figure") -> bytes:
    """The figure laid out tightly as PNG, then closed (pyplot keeps open figures alive)."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(figure)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
