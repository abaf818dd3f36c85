"""One picture of an interactive session on a 2D image: every step, its clicks and its Dice.

Used by ``mideepseg demo``. Needs matplotlib (the ``demo`` extra), imported
here only: the Slicer module and the rest of the library never import it.
"""

from pathlib import Path

import numpy as np

#: Colours of the clicks, as the CLI's ``--save-points`` lists show them in Slicer.
POINT_COLOURS = {"points": "#ffcc00", "foreground": "#1ae61a", "background": "#e61a1a"}
TRUTH_COLOUR, MASK_COLOUR, DROP_COLOUR, FIXED_COLOUR = "#00e5ff", "#ff7f0e", "#d62728", "#1f5fd6"


def write_session_figure(path, image, truth, spacing, steps, cue_map=None, title=None, zoom_margin=12):
    """Draw every step of a session in one PNG figure.

    Parameters
    ----------
    path : str or os.PathLike
        PNG file to write.
    image : (H, W) array_like
        The image, array order (rows, columns).
    truth : (H, W) array_like of bool
        Ground truth: drawn as a dashed outline in every panel.
    spacing : (2,) sequence of float
        Pixel size (row, column), mm: panels keep the physical aspect ratio.
    steps : sequence of dict
        One per step, in order, with keys ``"label"`` (str, e.g. ``"initial"``
        or ``"click 2: background"``), ``"mask"`` ((H, W) mask after the
        step), ``"dice"`` (float), ``"points"``, ``"foreground"``,
        ``"background"`` (all clicks so far, (N, 2) arrays, row/column) and
        ``"new"`` (``None`` or ``(kind, (row, column))``: the click of this
        step, drawn larger and numbered).
    cue_map : (H, W) array_like, optional
        The network's cue map of the interior margin points, shown zoomed.
    title : str, optional
        Figure title.
    zoom_margin : int
        Pixels around the truth and every click kept in the zoomed panels.

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.figure import Figure  # deferred: matplotlib, an optional dependency
    from matplotlib.lines import Line2D  # deferred: matplotlib, an optional dependency
    from matplotlib.patches import Patch, Rectangle  # deferred: matplotlib, an optional dependency

    image, truth = np.asarray(image, dtype=float), np.asarray(truth) != 0
    low, high = np.percentile(image, (1, 99))
    aspect = float(spacing[0]) / float(spacing[1])
    zoom = _zoom_box(truth, steps, zoom_margin)

    panels = 1 + (cue_map is not None) + len(steps)
    columns = 4
    rows = -(-(panels + 2) // columns)  # the Dice chart takes two slots
    figure = Figure(figsize=(4.2 * columns, 4.4 * rows + 1.2), dpi=100)
    grid = figure.add_gridspec(rows, columns)
    axes = [figure.add_subplot(grid[i // columns, i % columns]) for i in range(panels)]
    chart_slot = panels
    chart = figure.add_subplot(grid[chart_slot // columns, chart_slot % columns:])

    def show(ax, crop=None):
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
        ax.contour(truth.astype(float), levels=[0.5], colors=TRUTH_COLOUR, linewidths=1.6, linestyles="--")
        if crop is not None:
            (y0, y1), (x0, x1) = crop
            ax.set_xlim(x0 - 0.5, x1 - 0.5)
            ax.set_ylim(y1 - 0.5, y0 - 0.5)
        ax.set_xticks([])
        ax.set_yticks([])

    def clicks(ax, step, size=60):
        for kind in ("points", "foreground", "background"):
            pts = np.asarray(step[kind], dtype=float).reshape(-1, 2)
            if len(pts):
                ax.scatter(pts[:, 1], pts[:, 0], s=size, c=POINT_COLOURS[kind], marker=_MARKERS[kind],
                           edgecolors="black", linewidths=0.8, zorder=3)

    overview = axes[0]
    show(overview)
    first = steps[0]
    clicks(overview, first, size=30)
    (y0, y1), (x0, x1) = zoom
    overview.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="white",
                                 linewidth=1.2, linestyle=":"))
    overview.set_title("the image, the true outline and\nthe {} interior margin points".format(len(first["points"])),
                       fontsize=11)
    index = 1
    if cue_map is not None:
        ax = axes[index]
        ax.imshow(np.asarray(cue_map, dtype=float), cmap="magma", vmin=0, vmax=1, aspect=aspect,
                  interpolation="nearest")
        ax.contour(truth.astype(float), levels=[0.5], colors=TRUTH_COLOUR, linewidths=1.2, linestyles="--")
        clicks(ax, first)
        ax.set_xlim(x0 - 0.5, x1 - 0.5)
        ax.set_ylim(y1 - 0.5, y0 - 0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("the network's input: the points'\ngeodesic cue map (EGD)", fontsize=11)
        index += 1

    previous, previous_mask = None, None
    for step, ax in zip(steps, axes[index:]):
        show(ax, zoom)
        mask = np.asarray(step["mask"]) != 0
        overlay = np.zeros(mask.shape + (4,))
        overlay[mask] = _rgba(MASK_COLOUR, 0.35)
        if previous_mask is not None:  # what this step changed, right and wrong
            changed = mask != previous_mask
            overlay[changed & (mask == truth)] = _rgba(FIXED_COLOUR, 0.75)
            overlay[changed & (mask != truth)] = _rgba(DROP_COLOUR, 0.75)
        previous_mask = mask
        ax.imshow(overlay, aspect=aspect, interpolation="nearest")
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors=MASK_COLOUR, linewidths=1.6)
        clicks(ax, step)
        if step["new"] is not None:
            kind, (row, column) = step["new"]
            ax.scatter([column], [row], s=260, c=POINT_COLOURS[kind], marker=_MARKERS[kind], edgecolors="white",
                       linewidths=2.0, zorder=4)
        text = "{}\nDice {:.3f}".format(step["label"], step["dice"])
        colour = "black"
        if previous is not None:
            change = step["dice"] - previous
            text += " ({:+.3f})".format(change)
            if change < 0:
                text += ": this click LOWERED Dice"
                colour = DROP_COLOUR
                for spine in ax.spines.values():
                    spine.set_edgecolor(DROP_COLOUR)
                    spine.set_linewidth(3)
        ax.set_title(text, fontsize=11, color=colour)
        previous = step["dice"]

    values = [step["dice"] for step in steps]
    chart.plot(range(len(values)), values, "-o", color=MASK_COLOUR, linewidth=2)
    for k in range(1, len(values)):
        if values[k] < values[k - 1]:
            chart.plot([k - 1, k], values[k - 1:k + 1], "-o", color=DROP_COLOUR, linewidth=3)
    for k, value in enumerate(values):
        chart.annotate("{:.3f}".format(value), (k, value), textcoords="offset points", xytext=(0, 8),
                       ha="center", fontsize=10)
    chart.set_xticks(range(len(values)))
    chart.set_xticklabels([step["label"].split(":")[0] for step in steps], fontsize=10)
    spread = max(values) - min(values)
    chart.set_ylim(min(values) - 0.2 * spread - 0.01, max(values) + 0.3 * spread + 0.01)
    chart.set_ylabel("Dice with the true outline", fontsize=10)
    chart.set_title("Dice after each step (a red segment: a click that lowered it)", fontsize=11)
    chart.grid(alpha=0.3)

    handles = [Line2D([], [], color=TRUTH_COLOUR, linestyle="--", linewidth=1.6, label="true outline"),
               Patch(facecolor=_rgba(MASK_COLOUR, 0.35), edgecolor=MASK_COLOUR, label="MIDeepSeg mask"),
               Patch(facecolor=_rgba(FIXED_COLOUR, 0.75), label="pixels the click corrected"),
               Patch(facecolor=_rgba(DROP_COLOUR, 0.75), label="pixels the click made wrong"),
               Line2D([], [], linestyle="", marker=_MARKERS["points"], markerfacecolor=POINT_COLOURS["points"],
                      markeredgecolor="black", markersize=8, label="interior margin points"),
               Line2D([], [], linestyle="", marker=_MARKERS["foreground"], markeredgecolor="black",
                      markerfacecolor=POINT_COLOURS["foreground"], markersize=9, label="foreground click"),
               Line2D([], [], linestyle="", marker=_MARKERS["background"], markeredgecolor="black",
                      markerfacecolor=POINT_COLOURS["background"], markersize=9, label="background click"),
               Line2D([], [], linestyle="", marker="o", markerfacecolor="none", markeredgecolor="grey",
                      markeredgewidth=2, markersize=13, label="this step's click (large)")]
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=10, frameon=False)
    if title:
        figure.suptitle(title, fontsize=13)
    figure.tight_layout(rect=(0, 0.08, 1, 0.95 if title else 1))
    path = Path(path)
    figure.savefig(str(path))
    return path


_MARKERS = {"points": "o", "foreground": "P", "background": "X"}


def _rgba(colour, alpha):
    from matplotlib.colors import to_rgba  # deferred: matplotlib, an optional dependency

    return to_rgba(colour, alpha)


def _zoom_box(truth, steps, margin):
    """((row0, row1), (col0, col1)): the truth and every click, grown by `margin` pixels."""
    coords = [np.argwhere(truth)]
    for step in steps:
        for kind in ("points", "foreground", "background"):
            coords.append(np.asarray(step[kind], dtype=float).reshape(-1, 2))
        coords.append(np.argwhere(np.asarray(step["mask"]) != 0))
    coords = np.vstack([c for c in coords if len(c)])
    low = np.maximum(np.floor(coords.min(axis=0)).astype(int) - margin, 0)
    high = np.minimum(np.ceil(coords.max(axis=0)).astype(int) + margin + 1, truth.shape)
    return (int(low[0]), int(high[0])), (int(low[1]), int(high[1]))
