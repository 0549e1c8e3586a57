"""The one module that imports matplotlib: every PNG chart of pergen is drawn through it.

Why one place: each chart wants the same setup, and each setup mistake shows up as PNGs
that differ between two runs of the same numbers. So: matplotlib's Agg canvas on a bare
`Figure` (no pyplot: no global state, no display), math text off (a retriever named
``$x$`` is text, not TeX), and PNGs without a timestamp or software tag, so that the same
numbers give the same bytes. matplotlib is the ``report`` extra: `figure` names it when
missing. The reports draw on the figure `figure` yields (run report, swap study,
cold-start study, selective prediction) and turn it into bytes with `png_of`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import MissingExtraError


@dataclass(frozen=True)
class Chart:
    """A drawn chart: the file it is written to beside a Markdown page, its title (the
    image's alt text) and its PNG bytes (inlined in the HTML page)."""

    file: str
    title: str
    png: bytes


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


def bar_png(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str,
            lines: Mapping[str, float] | None = None, percent: bool = False) -> bytes:
    """A bar chart, one bar per label with its value written on it; `lines` are named
    horizontal lines (a name with "upper" in red), `percent` shows shares as percents."""
    with figure(max(5.0, 1.1 * len(labels) + 2), 3.8) as fig:
        from matplotlib.ticker import PercentFormatter  # figure() has checked the extra

        ax = fig.add_subplot()
        bars = ax.bar(range(len(labels)), values, color="#4C72B0")
        ax.set_xticks(range(len(labels)), [str(label)[:40] for label in labels],
                      rotation=20 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
        ax.bar_label(bars, labels=[f"{v:.1%}" if percent else f"{v:.4f}" for v in values], fontsize=8)
        for (name, y), style in zip((lines or {}).items(), ("--", ":", "-.")):
            ax.axhline(y, color="#C44E52" if "upper" in name else "#555555", linestyle=style, label=name)
        if lines:
            fig.legend(fontsize=8, loc="outside lower center", ncol=len(lines), frameon=False)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.margins(y=0.15)
        return png_of(fig)

