"""Pictures without plotting libraries: grey images, mask outlines, points, PNG files.

Enough for the demo and for overlay grids; numpy and zlib only, so it works
inside Slicer and on machines without matplotlib.
"""

import struct
import zlib

import numpy as np
from scipy import ndimage


def to_rgb(image):
    """A 2D image as (H, W, 3) uint8 grey, rescaled between its 1st and 99th percentiles."""
    image = np.asarray(image, dtype=np.float32)
    low, high = np.percentile(image, (1, 99))
    grey = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    return np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)


def colormap(values):
    """Values in [0, 1], (H, W), as (H, W, 3) uint8 through a dark-blue -> yellow ramp."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0, 1)[..., None]
    dark, mid, bright = np.array([20, 20, 80]), np.array([200, 60, 90]), np.array([255, 230, 60])
    rgb = np.where(v < 0.5, dark + (mid - dark) * (v * 2), mid + (bright - mid) * (v * 2 - 1))
    return rgb.astype(np.uint8)


def draw_outline(rgb, mask, color):
    """Draw the outline of a 2D mask onto an RGB image (in place); returns it."""
    mask = np.asarray(mask) != 0
    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    rgb[edge] = color
    return rgb


def draw_points(rgb, points, color, radius=2):
    """Draw filled squares at (N, 2) points (row, column) onto an RGB image (in place)."""
    h, w = rgb.shape[:2]
    for y, x in np.rint(np.asarray(points).reshape(-1, 2)).astype(int):
        rgb[max(y - radius, 0):min(y + radius + 1, h), max(x - radius, 0):min(x + radius + 1, w)] = color
    return rgb


def side_by_side(panels, gap=4):
    """Concatenate RGB panels of equal height horizontally with a white gap."""
    height = max(p.shape[0] for p in panels)
    parts = []
    for panel in panels:
        padded = np.full((height,) + panel.shape[1:], 255, np.uint8)
        padded[:panel.shape[0]] = panel
        parts += [padded, np.full((height, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def write_png(path, rgb):
    """Write an (H, W, 3) uint8 array as an 8-bit RGB PNG file."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("rgb must have shape (H, W, 3), got {}".format(rgb.shape))
    h, w = rgb.shape[:2]
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(str(path), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))
