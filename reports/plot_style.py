"""Shared set-up of every report figure: matplotlib on Agg, one look, deterministic inline SVG.

Matplotlib with the Agg backend: the standard, well-kept plotting library, rendering to SVG
with text kept as text (`svg.fonttype: none`, small, selectable) and a fixed hash salt and
metadata so the same result always renders to the same bytes. Each figure gets its own id
prefix so the ids of several inline SVGs never collide in one HTML document.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib
from cycler import cycler

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

PLAIN = FuncFormatter(lambda y, _pos: f"{y:g}")  # 1000 ms, not 10³
COLOURS = ["#1f5fa8", "#c2571a", "#5b8c2a", "#8a3ea8", "#1c9aa3", "#a8811f"]
RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "axes.prop_cycle": cycler(color=COLOURS),
    # a fixed title height: None makes matplotlib measure every tick label of every axes to
    # place each title (a third of a report's render time)
    "axes.titley": 1.0,
}
LEGEND_RIGHT: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.0, 1.0),
    "fontsize": 7,
    "frameon": False,
}


def fixed_layout(figure: Figure, *, left_in: float = 1.4, right_in: float = 2.4,
                 top_in: float = 0.5, bottom_in: float = 0.55, hspace_in: float = 0.4) -> None:  # fmt: skip
    """Margins in inches, room on the right for `LEGEND_RIGHT`. `tight_layout` drew every
    figure twice to measure it: 2-3x the render time (a release gate's report took 84 s)."""
    width, height = figure.get_figwidth(), figure.get_figheight()
    rows = max(1, len(figure.axes))
    plot_height = height - top_in - bottom_in
    figure.subplots_adjust(
        left=left_in / width,
        right=1 - right_in / width,
        top=1 - top_in / height,
        bottom=bottom_in / height,
        hspace=hspace_in * rows / max(plot_height - hspace_in * (rows - 1), 0.1),
    )


def to_svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "chaosgate"})
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # inline: drop the XML prolog and DOCTYPE
    # matplotlib numbers ids per figure (figure_1, patch_1, ...): prefix them so several
    # inline SVGs in one page keep unique ids and their clip-path references stay right.
    prefix = re.sub(r"[^A-Za-z0-9]+", "-", salt)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    return re.sub(r'(url\(#|href="#)([^)"]+)', rf"\1{prefix}-\2", text)
