"""Charts without plotting libraries: text, line charts and grouped bar charts as RGB arrays.

The benchmark's figures (Dice vs. clicks, the histogram of clicks needed)
are drawn with numpy only, like :mod:`MIDeepSegLib.evaluation.visualise`, so they come
out the same on every machine (no fonts, no matplotlib) and can be written
with :func:`~MIDeepSegLib.evaluation.visualise.write_png`. Text uses a built-in 5 x 7
pixel font of capital letters, digits and common punctuation (lower case is
drawn as upper case; other characters as "?").

Images are (H, W, 3) uint8 arrays, rows top to bottom; ``(y, x)`` positions
are pixel (row, column) of the top-left corner.
"""

import numpy as np

#: Colours (RGB) given to chart series in order.
PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))

_BLACK, _GREY, _LIGHT, _WHITE = (0, 0, 0), (120, 120, 120), (225, 225, 225), (255, 255, 255)

# 5 x 7 glyphs, one string per character: 7 rows of 5 pixels, "#" = ink.
_GLYPHS = {
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#", "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.", "D": "####.|#...#|#...#|#...#|#...#|#...#|####.",
    "E": "#####|#....|#....|####.|#....|#....|#####", "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####", "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.", "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#", "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#", "N": "#...#|##..#|#.#.#|#..##|#...#|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.", "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#", "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.", "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.", "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.", "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..", "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.", "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####", "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.", "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.", "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.", "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    " ": ".....|.....|.....|.....|.....|.....|.....", ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...", "-": ".....|.....|.....|#####|.....|.....|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....", ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    "/": "....#|....#|...#.|..#..|.#...|#....|#....", "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...", "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "=": ".....|.....|#####|.....|#####|.....|.....", "_": ".....|.....|.....|.....|.....|.....|#####",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...", "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    "@": ".###.|#...#|#.###|#.#.#|#.###|#....|.###.", "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.", "*": ".....|#.#.#|.###.|#####|.###.|#.#.#|.....",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.", "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
}
_FONT = {c: np.array([[ch == "#" for ch in row] for row in g.split("|")], bool) for c, g in _GLYPHS.items()}


def text_size(text, scale=1):
    """(height, width) in pixels of `text` drawn by :func:`draw_text` at `scale`."""
    return 7 * scale, max(len(text) * 6 * scale - scale, 0)


def draw_text(rgb, text, y, x, color=_BLACK, scale=1):
    """Draw one line of text onto an RGB image (in place, clipped to the image); returns it.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
    text : str
    y, x : int
        Pixel row and column of the text's top-left corner.
    color : tuple of 3 int
    scale : int
        Each font pixel becomes a scale x scale block (glyphs are 5 x 7 at scale 1).
    """
    h, w = rgb.shape[:2]
    for i, char in enumerate(str(text).upper()):
        glyph = _FONT.get(char, _FONT["?"])
        if scale > 1:
            glyph = np.kron(glyph, np.ones((scale, scale), bool))
        top, left = int(y), int(x) + i * 6 * scale
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + glyph.shape[0], h), min(left + glyph.shape[1], w)
        if y1 <= y0 or x1 <= x0:
            continue
        part = glyph[y0 - top:y1 - top, x0 - left:x1 - left]
        rgb[y0:y1, x0:x1][part] = color
    return rgb


def draw_line(rgb, p0, p1, color, width=2):
    """Draw a straight segment between pixel positions (y, x) (in place); returns `rgb`."""
    (y0, x0), (y1, x1) = p0, p1
    n = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    ys, xs = np.linspace(y0, y1, n), np.linspace(x0, x1, n)
    h, w = rgb.shape[:2]
    for dy in range(-(width // 2), width - width // 2):
        for dx in range(-(width // 2), width - width // 2):
            yy = np.clip(np.rint(ys + dy).astype(int), 0, h - 1)
            xx = np.clip(np.rint(xs + dx).astype(int), 0, w - 1)
            rgb[yy, xx] = color
    return rgb


def _fill(rgb, y0, x0, y1, x1, color):
    h, w = rgb.shape[:2]
    y0, y1 = sorted((int(round(y0)), int(round(y1))))
    x0, x1 = sorted((int(round(x0)), int(round(x1))))
    rgb[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = color


def _frame(height, width, title, y_label, legend, scale):
    """White canvas with the title, the plot box and the legend; returns (rgb, (top, left, bottom, right))."""
    rgb = np.full((height, width, 3), 255, np.uint8)
    legend_w = max([text_size(name, scale)[1] for name, _ in legend] + [0]) + 12 * scale + 16
    top, left = 18 * scale + 12, 10 * scale * 6 + 10
    bottom, right = height - (20 * scale + 18), width - legend_w - 10
    if right - left < 60 or bottom - top < 40:
        raise ValueError("the chart is too small for its labels: width {}, height {}".format(width, height))
    draw_text(rgb, title, 6, left, _BLACK, scale)
    draw_text(rgb, y_label, top - 9 * scale - 2, 4, _BLACK, scale)
    for k, (name, color) in enumerate(legend):
        y = top + k * (10 * scale + 6)
        _fill(rgb, y, right + 12, y + 7 * scale, right + 12 + 8 * scale, color)
        draw_text(rgb, name, y, right + 16 + 8 * scale, _BLACK, scale)
    return rgb, (top, left, bottom, right)


def _y_ticks(y_range, integer=False):
    low, high = y_range
    span = high - low
    steps = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
             10000)
    step = next((s for s in steps if span / s <= 8 and (s >= 1 or not integer)), steps[-1])
    first = np.ceil(low / step - 1e-9) * step
    ticks = np.arange(first, high + step * 1e-6, step)
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    # round() and + 0.0 turn -0.0 into 0.0, so no "-0.0" label
    return [(float(t), "{:.{}f}".format(round(float(t), decimals) + 0.0, decimals)) for t in ticks]


def _axes(rgb, box, y_range, x_ticks, x_label, scale, integer=False):
    """Grid lines, tick labels and the axes; returns a function mapping y values to rows."""
    top, left, bottom, right = box
    low, high = y_range

    def row(v):
        return bottom - (float(v) - low) / (high - low) * (bottom - top)

    for value, label in _y_ticks(y_range, integer):
        r = int(round(row(value)))
        rgb[r, left:right] = _LIGHT
        th, tw = text_size(label, scale)
        draw_text(rgb, label, r - th // 2, left - tw - 6, _BLACK, scale)
    for x, label in x_ticks:
        tw = text_size(label, scale)[1]
        draw_text(rgb, label, bottom + 6, int(round(x - tw / 2)), _BLACK, scale)
    tw = text_size(x_label, scale)[1]
    draw_text(rgb, x_label, bottom + 10 * scale + 8, (left + right - tw) // 2, _BLACK, scale)
    rgb[top:bottom + 1, left] = _BLACK
    rgb[bottom, left:right + 1] = _BLACK
    return row


def line_chart(series, x_values, *, title="", x_label="", y_label="", y_range=None, size=(420, 720), scale=2):
    """A line chart with markers and a legend, as an RGB image.

    Parameters
    ----------
    series : sequence of (str, sequence of float)
        (legend label, y values), one y value per entry of `x_values`; NaN
        values are skipped. Colours follow :data:`PALETTE`.
    x_values : sequence of float
        Positions on the x axis (each one gets a tick label).
    title, x_label, y_label : str, keyword-only
    y_range : (float, float), optional, keyword-only
        Bottom and top of the y axis; default from the data.
    size : (int, int), keyword-only
        (height, width) in pixels.
    scale : int, keyword-only
        Text scale (see :func:`draw_text`).

    Returns
    -------
    (height, width, 3) uint8 ndarray
    """
    series = [(str(name), np.asarray(values, dtype=float)) for name, values in series]
    x_values = np.asarray(x_values, dtype=float)
    if any(v.shape != x_values.shape for _, v in series):
        raise ValueError("series must each have one value per entry of x_values ({})".format(len(x_values)))
    finite = np.concatenate([v[np.isfinite(v)] for _, v in series] + [np.zeros(0)])
    if y_range is None:
        y_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if not y_range[1] > y_range[0]:
        y_range = (y_range[0] - 0.5, y_range[1] + 0.5)
    legend = [(name, PALETTE[k % len(PALETTE)]) for k, (name, _) in enumerate(series)]
    rgb, box = _frame(size[0], size[1], title, y_label, legend, scale)
    top, left, bottom, right = box
    x_low, x_high = float(x_values.min()), float(x_values.max())
    pad = 0.04 * (right - left)

    def col(x):
        fraction = 0.5 if x_high == x_low else (x - x_low) / (x_high - x_low)
        return left + pad + fraction * (right - left - 2 * pad)

    row = _axes(rgb, box, y_range, [(col(x), "{:g}".format(x)) for x in x_values], x_label, scale)
    for (_, values), (_, color) in zip(series, legend):
        points = [(row(v), col(x)) for x, v in zip(x_values, values) if np.isfinite(v)]
        for p0, p1 in zip(points[:-1], points[1:]):
            draw_line(rgb, p0, p1, color, width=2)
        for y, x in points:
            _fill(rgb, y - 3, x - 3, y + 4, x + 4, color)
    return rgb


def bar_chart(categories, series, *, title="", x_label="", y_label="", size=(420, 720), scale=2):
    """A grouped bar chart (one group per category, one bar per series) as an RGB image.

    Parameters
    ----------
    categories : sequence of str
        Group labels along the x axis.
    series : sequence of (str, sequence of float)
        (legend label, one non-negative value per category).
    title, x_label, y_label, size, scale
        As :func:`line_chart`.

    Returns
    -------
    (height, width, 3) uint8 ndarray
    """
    categories = [str(c) for c in categories]
    series = [(str(name), np.asarray(values, dtype=float)) for name, values in series]
    if any(v.shape != (len(categories),) for _, v in series):
        raise ValueError("series must each have one value per category ({})".format(len(categories)))
    if not series or not categories:
        raise ValueError("bar_chart needs at least one category and one series")
    high = max(float(max(v.max() for _, v in series)), 1.0)
    legend = [(name, PALETTE[k % len(PALETTE)]) for k, (name, _) in enumerate(series)]
    rgb, box = _frame(size[0], size[1], title, y_label, legend, scale)
    top, left, bottom, right = box
    group_w = (right - left) / len(categories)
    bar_w = 0.8 * group_w / len(series)
    centres = [left + (i + 0.5) * group_w for i in range(len(categories))]
    row = _axes(rgb, box, (0.0, high * 1.05), list(zip(centres, categories)), x_label, scale, integer=True)
    for k, ((_, values), (_, color)) in enumerate(zip(series, legend)):
        for i, value in enumerate(values):
            x0 = left + i * group_w + 0.1 * group_w + k * bar_w
            if value > 0:
                _fill(rgb, row(value), x0, bottom, x0 + max(bar_w - 1, 1), color)
    return rgb
