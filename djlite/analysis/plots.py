"""Histogram and box plot of one stat, as PNG, with the recipe's thresholds drawn.

Bins follow Data-Juicer: max(int(sqrt(N)), 10). The two plots share the x axis range, so a threshold sits
at the same place in both. A threshold far outside the data would squash the plot into a line; it is
listed in the legend as "off the chart" instead of drawn.

matplotlib is an optional dependency (`pip install 'djlite[analyze]'`): only dj-analyze needs it, and it
is drawn through the object API (Figure + Agg canvas) so that no global pyplot state or GUI backend is used.
"""

import math

import numpy as np

from djlite.analysis.thresholds import Bound
from djlite.errors import RecipeError
from djlite.files import atomic_path

INSTALL_HINT = "pip install 'djlite[analyze]'  (or: pip install matplotlib)"
LINE_COLORS = ("#d62728", "#9467bd", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2")


class MissingDependencyError(RecipeError):
    """An optional package that this command needs is not installed."""


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            f"dj-analyze draws its plots with matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _x_range(values: np.ndarray, bounds: list[Bound]) -> tuple[float, float, list, list]:
    """The x range to show, the threshold lines inside it and those left off the chart."""
    low, high = float(values.min()), float(values.max())
    span = high - low or max(abs(high), 1.0)
    lines = [(b, label, x) for b in bounds for label, x in b.lines]
    shown = [line for line in lines if low - span <= line[2] <= high + span]
    off = [line for line in lines if line not in shown]
    xs = [low, high] + [x for _, _, x in shown]
    lo, hi = min(xs), max(xs)
    pad = (hi - lo or span) * 0.04
    return lo - pad, hi + pad, shown, off


def _draw_thresholds(ax, shown, off, legend: bool) -> None:
    for i, (bound, label, x) in enumerate(shown):
        ax.axvline(
            x,
            color=LINE_COLORS[i % len(LINE_COLORS)],
            linestyle="--",
            linewidth=1.6,
            label=f"{label} (step {bound.step})",
        )
    for bound, label, _ in off:
        ax.plot([], [], " ", label=f"{label} (step {bound.step}, off the chart)")
    if legend and (shown or off):
        ax.legend(fontsize=8, loc="best", framealpha=0.9)


def _save(figure, path: str) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def _empty(path: str, stat: str) -> None:
    figure = _figure(6.4, 2.0)
    ax = figure.add_subplot()
    ax.text(0.5, 0.5, f"{stat}: no numeric values", ha="center", va="center")
    ax.set_axis_off()
    _save(figure, path)


def draw_histogram(values: np.ndarray, bounds: list[Bound], stat: str, path: str) -> None:
    if not values.size:
        return _empty(path, stat)
    lo, hi, shown, off = _x_range(values, bounds)
    figure = _figure(6.4, 3.6)
    ax = figure.add_subplot()
    bins = max(int(math.sqrt(values.size)), 10)
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts of videos
    ax.set_xlim(lo, hi)
    ax.set_xlabel(stat)
    ax.set_ylabel("videos")
    ax.set_title(f"{stat}: {values.size} values")
    _draw_thresholds(ax, shown, off, legend=True)
    figure.tight_layout()
    _save(figure, path)


def draw_box(values: np.ndarray, bounds: list[Bound], stat: str, path: str) -> None:
    if not values.size:
        return _empty(path, stat)
    lo, hi, shown, off = _x_range(values, bounds)
    figure = _figure(6.4, 2.2)
    ax = figure.add_subplot()
    ax.boxplot(values, orientation="horizontal", widths=0.6, showmeans=True)
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.set_xlabel(stat)
    _draw_thresholds(ax, shown, off, legend=False)
    figure.tight_layout()
    _save(figure, path)
