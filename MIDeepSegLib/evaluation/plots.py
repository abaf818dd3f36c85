"""The benchmark's figures, drawn with matplotlib: Dice vs clicks, clicks needed, example overlays.

matplotlib (the ``benchmark`` extra) is imported inside the functions; the
Slicer module and the rest of the library never import this module.
"""

from pathlib import Path

import numpy as np

from .session_figure import POINT_COLOURS, TRUTH_COLOUR

_MASK_COLOUR = "#ff7f0e"


def line_chart(path, series, x_values, *, title, x_label, y_label, y_range=None):
    """One line per ``(label, values)`` of `series` against `x_values`; NaN values leave gaps. Writes a PNG."""
    from matplotlib.figure import Figure  # deferred: matplotlib, an optional dependency

    figure = Figure(figsize=(8, 5), dpi=100)
    ax = figure.add_subplot()
    for label, values in series:
        values = np.asarray(values, dtype=float)
        if values.shape != (len(x_values),):
            raise ValueError("series {!r} has {} values for {} x values".format(label, values.size, len(x_values)))
        ax.plot(x_values, values, "-o", markersize=4, label=label)
    if y_range is not None:
        ax.set_ylim(*y_range)
    ax.set(title=title, xlabel=x_label, ylabel=y_label)
    ax.set_xticks(list(x_values))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    figure.tight_layout()
    figure.savefig(str(path))
    return Path(path)


def bar_chart(path, categories, series, *, title, x_label, y_label):
    """Grouped bars: one group per category, one bar per ``(label, counts)`` of `series`. Writes a PNG."""
    from matplotlib.figure import Figure  # deferred: matplotlib, an optional dependency

    figure = Figure(figsize=(8, 5), dpi=100)
    ax = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    positions = np.arange(len(categories))
    for k, (label, counts) in enumerate(series):
        ax.bar(positions + (k - (len(series) - 1) / 2) * width, counts, width, label=label)
    ax.set_xticks(positions)
    ax.set_xticklabels(categories)
    ax.set(title=title, xlabel=x_label, ylabel=y_label)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=9)
    figure.tight_layout()
    figure.savefig(str(path))
    return Path(path)


def overlay_grid(path, rows, columns):
    """Example results: one row per case, one column per method. Writes a PNG.

    Parameters
    ----------
    path : str or os.PathLike
    rows : sequence of dict
        Per case: ``"title"`` (str), ``"image"`` and ``"truth"`` (2D crops,
        row/column), ``"aspect"`` (row spacing / column spacing),
        ``"points"`` ((N, 2) interior margin points in crop coordinates) and
        ``"methods"``: one entry per column after the first, ``None`` or a
        dict with ``"mask"`` (2D crop), ``"foreground"``, ``"background"``
        ((N, 2) clicks in crop coordinates) and ``"dice"`` (final Dice).
    columns : sequence of str
        Method names, the column titles after "image + truth".
    """
    from matplotlib.figure import Figure  # deferred: matplotlib, an optional dependency

    n_columns = len(columns) + 1
    figure = Figure(figsize=(2.3 * n_columns, 2.5 * len(rows) + 0.4), dpi=100)
    axes = figure.subplots(len(rows), n_columns, squeeze=False)
    for i, row in enumerate(rows):
        low, high = np.percentile(row["image"], (1, 99))
        for j in range(n_columns):
            ax = axes[i, j]
            ax.imshow(row["image"], cmap="gray", vmin=low, vmax=high, aspect=row["aspect"],
                      interpolation="nearest")
            ax.contour(np.asarray(row["truth"], float), levels=[0.5], colors=TRUTH_COLOUR, linewidths=1.0,
                       linestyles="--")
            _scatter(ax, row["points"], "points")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(row["title"], fontsize=8)
                if i == 0:
                    ax.set_title("image + truth", fontsize=9)
                continue
            if i == 0:
                ax.set_title(columns[j - 1], fontsize=9)
            method = row["methods"][j - 1]
            if method is None:
                continue
            mask = np.asarray(method["mask"]) != 0
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=_MASK_COLOUR, linewidths=1.2)
            _scatter(ax, method["foreground"], "foreground")
            _scatter(ax, method["background"], "background")
            ax.set_xlabel("Dice {:.3f}".format(method["dice"]), fontsize=8)
    figure.suptitle("final masks (orange), true outline (dashed), interior margin points (yellow), "
                    "foreground / background clicks (green / red)", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(str(path))
    return Path(path)


def _scatter(ax, points, kind):
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points):
        ax.scatter(points[:, 1], points[:, 0], s=14, c=POINT_COLOURS[kind], edgecolors="black", linewidths=0.4,
                   zorder=3)
