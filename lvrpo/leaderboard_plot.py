"""The leaderboard as a bar chart: a grid of panels, one per column, since the scales differ (MME sums, percent,
0-1, 0-10). matplotlib is optional (the `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lvrpo.leaderboard import Row, best_of, cell_text, columns_of, comparable
from lvrpo.types import LvrpoError

PER_ROW = 4  # panels per grid row: 16 columns in one row are too wide to read
RUN, PUBLISHED, EDGE = "#d9622b", "#9fb0b5", "#333333"
BAR_IN, LABEL_PT = 0.21, 7.5  # inches per bar; font size of names and values


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only backend, or a one-line error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise LvrpoError("--plot needs matplotlib: pip install 'lvrpo[plot]'") from None
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    return plt


def plot(rows: list[Row], out: Path, per_row: int = PER_ROW) -> None:
    """The chart of `figure` as a PNG (or any format matplotlib knows from the suffix)."""
    plt = pyplot()
    fig = figure(rows, per_row)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def figure(rows: list[Row], per_row: int = PER_ROW) -> Any:
    """Horizontal bars per column, best first, each value written on its bar; published bars grey, uncertain
    published numbers hatched with `?`, partial runs hatched with their coverage, the best comparable in bold."""
    plt = pyplot()  # the caller closes the figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    cols = columns_of(rows)
    if not cols:
        raise LvrpoError("leaderboard: nothing to plot")
    best = best_of(rows, cols)
    ncols = min(per_row, len(cols))
    nrows = -(-len(cols) // ncols)
    panels = [sorted((r for r in rows if c in r.values), key=lambda r, c=c: -r.values[c]) for c in cols]
    # each grid row as tall as its longest panel, so bars have the same thickness everywhere
    longest = [max(map(len, panels[i * ncols:(i + 1) * ncols])) for i in range(nrows)]
    heights = [BAR_IN * n + 0.7 for n in longest]
    name_in = 0.058 * max(len(r.name) for p in panels for r in p)  # room for the longest name at LABEL_PT
    fig = plt.figure(figsize=(ncols * (name_in + 2.9), sum(heights) + 0.6), layout="constrained")
    grid = fig.add_gridspec(nrows, ncols, height_ratios=heights)
    for i, (c, have) in enumerate(zip(cols, panels, strict=True)):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        bars = ax.barh(range(len(have)), [r.values[c] for r in have], height=0.75, edgecolor=EDGE, linewidth=0.4,
                       color=[PUBLISHED if r.published else RUN for r in have],
                       hatch=[None if comparable(r, c) else "///" for r in have])
        labels = ax.bar_label(bars, [cell_text(r, c) for r in have], padding=2, fontsize=LABEL_PT)
        for text, r in zip(labels, have, strict=True):
            if comparable(r, c) and r.values[c] == best[c]:
                text.set_fontweight("bold")
        ax.set_yticks(range(len(have)), [r.name for r in have], fontsize=LABEL_PT)
        for tick, r in zip(ax.get_yticklabels(), have, strict=True):
            tick.set_color("#555555" if r.published else "black")
        # best on top; the axis spans the grid row's longest panel so that bars are equally thick everywhere
        ax.set_ylim(longest[i // ncols] - 0.5, -0.5)
        top = max(r.values[c] for r in have)
        ax.set_xlim(0, (top or 1) * (1.55 if any(c in r.partial for r in have) else 1.3))  # room for the labels
        ax.set_title(c, fontsize=10, fontweight="bold", loc="left")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
        ax.spines["left"].set_bounds(len(have) - 0.5, -0.5)  # not down through a short panel's empty part
    handles = [Patch(facecolor=color, edgecolor=EDGE, label=label) for color, label, pub in
               ((RUN, "run", False), (PUBLISHED, "published", True)) if any(r.published is pub for r in rows)]
    if any(c in r.partial for r in rows for c in cols):
        handles.append(Patch(facecolor=RUN, edgecolor=EDGE, hatch="///", label="partial run (n=scored/total)"))
    if any(c in r.uncertain for r in rows for c in cols):
        handles.append(Patch(facecolor=PUBLISHED, edgecolor=EDGE, hatch="///", label="published, uncertain (?)"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=9, frameon=False)
    return fig
