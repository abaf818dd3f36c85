"""``mideepseg demo``: the pipeline's stages on a synthetic 2D example, with pictures.

The example is an irregular object with a weak boundary, touching a
neighbour of similar brightness, on a textured background. The simulated
user places interior margin points (paper Section 2.1); their EGD cue map is
computed; an initial probability is refined with simulated clicks by
information fusion + graph cut (IF-GC).

The initial probability comes from the shipped 2D network when its weights
are installed (Resources/Models/mideepseg_2d.pt). Until then it is a
deliberately wrong stand-in (the true mask blurred, shrunk and shifted),
and the demo says so: it then shows the cue map and the refinement stages,
not the network.
"""

import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from .cuemap import egd
from .metrics import assd, dice
from .refinement import refine_ifgc
from .simulate import interior_margin_points, refinement_click
from .visualise import colormap, draw_outline, draw_points, side_by_side, to_rgb, write_png

YELLOW, GREEN, RED, CYAN = (255, 210, 0), (40, 220, 40), (230, 40, 40), (40, 200, 230)


def synthetic_scene(rng, shape=(160, 160)):
    """A 2D test scene: (image float32, truth bool) with a weak-edged irregular object."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    angle = np.arctan2(yy - 80, xx - 76)
    radius = 38 + 7 * np.sin(3 * angle + 0.5) + 4 * np.cos(5 * angle)
    truth = np.hypot(yy - 80, xx - 76) < radius
    neighbour = np.hypot(yy - 40, xx - 128) < 26
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 6)
    image = 0.35 + 0.8 * texture + 0.30 * truth + 0.25 * (neighbour & ~truth)
    image = ndimage.gaussian_filter(image, 1.2) + 0.05 * rng.standard_normal(shape)
    return image.astype(np.float32), truth


def run_demo(out_dir, seed=0, device="auto", n_clicks=3):
    """Run the demo, write pictures and figures to `out_dir`, print a summary; returns the figures dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image, truth = synthetic_scene(rng)
    points = interior_margin_points(truth, rng)

    start = time.perf_counter()
    cue = egd(image, points)
    egd_seconds = time.perf_counter() - start

    probability, source = _initial_probability(image, points, truth, device)
    figures = {"source_of_initial_probability": source, "n_interior_points": len(points),
               "egd_seconds": round(egd_seconds, 4)}
    mask = (probability >= 0.5).astype(np.uint8)
    figures["initial"] = {"dice": round(dice(mask, truth), 4), "assd_mm": round(assd(mask, truth), 3)}
    print("initial ({}): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm".format(source, **figures["initial"]))

    foreground, background = [p for p in points], []
    refined = None
    for k in range(1, n_clicks + 1):
        click = refinement_click(mask, truth)
        if click is None:
            break
        (foreground if click.foreground else background).append(click.point)
        refined = refine_ifgc(image, probability, np.array(foreground), np.array(background).reshape(-1, 2))
        mask = refined.mask
        figures["after_{}_clicks".format(k)] = {"dice": round(dice(mask, truth), 4),
                                                "assd_mm": round(assd(mask, truth), 3),
                                                "seconds": round(sum(refined.timings.values()), 4)}
        print("after {} click(s): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm, {seconds:.3f} s".format(
            k, **figures["after_{}_clicks".format(k)]))

    scene = draw_points(draw_outline(to_rgb(image), truth, CYAN), points, YELLOW)
    write_png(out / "cue_map.png", side_by_side([scene, colormap(cue)]))
    before = draw_outline(to_rgb(image), probability >= 0.5, RED)
    after = draw_outline(to_rgb(image), mask, GREEN)
    draw_points(after, np.array(foreground[len(points):]).reshape(-1, 2), GREEN)
    draw_points(after, np.array(background).reshape(-1, 2), RED)
    fused = colormap(refined.probability) if refined is not None else colormap(probability)
    write_png(out / "refinement.png", side_by_side([colormap(probability), before, fused, after]))
    from .io import ImageGeometry, write_mask
    write_mask(out / "mask.nii.gz", mask, ImageGeometry.default(mask.shape))
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print("wrote {}: cue_map.png (image + points | EGD), refinement.png (initial probability | initial mask | "
          "fused probability | refined mask), mask.nii.gz, figures.json".format(out))
    return figures


def _initial_probability(image, points, truth, device):
    """The shipped 2D network's probability if installed, else a labelled stand-in."""
    from .checkpoint import resolve_model

    try:
        resolve_model("2d")
    except FileNotFoundError:
        shrunk = ndimage.binary_erosion(truth, iterations=4)
        stand_in = ndimage.gaussian_filter(np.roll(shrunk, (5, -6), axis=(0, 1)).astype(float), 3)
        return np.clip(stand_in, 0, 1).astype(np.float32), "stand-in (no shipped 2D weights yet)"
    from .segmenter import Segmenter

    result = Segmenter(image, model="2d", device=device).initial(points)
    return result.probability, "shipped 2D network"
