"""The one PNG writer of pergen's charts: matplotlib's Agg canvas on a bare `Figure`.

No pyplot (no global state, no display), math text off (a retriever named ``$x$`` is
text, not TeX), and PNGs without a timestamp or software tag, so that the same numbers
give the same bytes. matplotlib is the ``report`` extra: `figure` names it when missing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import MissingExtraError


def png_of(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes, without a timestamp or software tag (repeatable)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@contextmanager
def figure(width: float, height: float) -> Iterator[Any]:
    """A bare Agg `Figure` (constrained layout) with math text off while it is drawn."""
    try:
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("matplotlib", "report") from None
    with rc_context({"text.parse_math": False}):
        fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig
