"""``mideepseg demo``: the whole pipeline on a small real example, with pictures.

The example (``Resources/Samples``) is an axial slice of the Colin27 T1 MRI
(mricron-data, BSD-3) with the left putamen from the AAL atlas as the object,
a structure the shipped 2D network never saw in training (see its model
card). A simulated user places interior margin points (paper Section 2.1),
the network gives the initial mask, and scripted correction clicks (each in
the largest error region) refine it with information fusion + graph cut.

Without shipped 2D weights, the initial probability is a deliberately wrong
stand-in (the true mask shrunk, shifted and blurred), and the demo says so:
it then shows the cue map and the refinement stages, not the network.
"""

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..core.cuemap import egd
from ..core.metrics import assd, dice
from ..core.refinement import click_reaches, refine_ifgc
from ..core.simulate import interior_margin_points, refinement_click
from .visualise import colormap, draw_outline, draw_points, side_by_side, to_rgb, write_png

YELLOW, GREEN, RED, CYAN = (255, 210, 0), (40, 220, 40), (230, 40, 40), (40, 200, 230)

SAMPLE = Path(__file__).resolve().parents[2] / "Resources" / "Samples" / "colin27_axial_slice.nii.gz"
SAMPLE_LABEL = SAMPLE.with_name("colin27_axial_slice_putamen_L.nii.gz")


def load_sample():
    """The bundled example: (image float32 (H, W), truth bool (H, W), spacing (y, x) mm)."""
    from ..io import read_image

    image, geometry = read_image(SAMPLE)
    label, _ = read_image(SAMPLE_LABEL, dtype=None)
    return image, label > 0, tuple(geometry.spacing)


def run_demo(out_dir, seed=0, device="auto", n_clicks=3):
    """Run the demo, write pictures and figures to `out_dir`, print a summary; returns the figures dict."""
    from ..model.checkpoint import resolve_model
    from ..io import ImageGeometry, write_mask
    from ..segmenter import Segmenter
    from ..settings import LAM, SIGMA

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image, truth, spacing = load_sample()
    points = interior_margin_points(truth, rng, spacing)
    try:
        resolve_model("2d")
        session = Segmenter(image, spacing, model="2d", device=device)
        result = session.initial(points)
        probability, mask, source = result.probability, result.mask, "shipped 2D network"
    except FileNotFoundError:
        session = None
        shrunk = ndimage.binary_erosion(truth, iterations=2)
        probability = np.clip(ndimage.gaussian_filter(np.roll(shrunk, (2, -2), axis=(0, 1)).astype(float), 1.5),
                              0, 1).astype(np.float32)
        mask, source = (probability >= 0.5).astype(np.uint8), "stand-in (no shipped 2D weights)"
    initial_mask = mask
    figures = {"sample": "Colin27 T1 axial slice, left putamen (AAL 73)", "initial_probability": source,
               "interior_points": len(points),
               "initial": {"dice": round(dice(mask, truth), 4), "assd_mm": round(assd(mask, truth, spacing), 3)}}
    print("initial ({}): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm".format(source, **figures["initial"]))

    foreground, background, fused = [p for p in points], [], probability
    for k in range(1, n_clicks + 1):
        click = refinement_click(mask, truth, spacing)
        if click is None:
            break
        (foreground if click.foreground else background).append(click.point)
        if session is not None:
            step = session.refine(**{"foreground" if click.foreground else "background": [click.point]})
            mask, fused, seconds = step.mask, step.probability, step.timings["total"]
        else:
            step = refine_ifgc(image, probability, np.array(foreground), np.array(background).reshape(-1, 2),
                               spacing, lam=LAM, sigma=SIGMA, **click_reaches(image.shape, spacing))
            mask, fused, seconds = step.mask, step.probability, sum(step.timings.values())
        figures["after_{}_clicks".format(k)] = {"dice": round(dice(mask, truth), 4),
                                                "assd_mm": round(assd(mask, truth, spacing), 3),
                                                "seconds": round(seconds, 4)}
        print("after {} click(s): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm, {seconds:.3f} s".format(
            k, **figures["after_{}_clicks".format(k)]))

    scene = draw_points(draw_outline(to_rgb(image), truth, CYAN), points, YELLOW)
    write_png(out / "cue_map.png", side_by_side([scene, colormap(egd(image, points, spacing))]))
    before = draw_outline(to_rgb(image), initial_mask, RED)
    after = draw_outline(to_rgb(image), mask, GREEN)
    draw_points(after, np.array(foreground[len(points):]).reshape(-1, 2), GREEN)
    draw_points(after, np.array(background).reshape(-1, 2), RED)
    write_png(out / "refinement.png", side_by_side([colormap(probability), before, colormap(fused), after]))
    write_mask(out / "mask.nii.gz", mask, ImageGeometry.default(mask.shape, spacing))
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print("wrote {}: cue_map.png (image, true outline, points | EGD cue map), refinement.png (initial probability "
          "| initial mask | fused probability | refined mask), mask.nii.gz, figures.json".format(out))
    return figures
