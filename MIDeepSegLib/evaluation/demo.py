"""``mideepseg demo``: the whole pipeline on a small real example, in one picture.

The example (``Resources/Samples``) is an axial slice of the Colin27 T1 MRI
(mricron-data, BSD-3) with the left putamen from the AAL atlas as the object,
a structure the shipped 2D network never saw in training (see its model
card). The simulated user (:mod:`MIDeepSegLib.core.simulate`) places interior
margin points (paper Section 2.1), the network gives the initial mask, and
the same simulated user then clicks in the largest error region each time;
every click refines the mask with information fusion + graph cut.

``demo.png`` shows every step: the image, the true outline, the clicks in
their colours, the mask after each step and its Dice in the panel's title (a
click that lowers Dice is marked in red), and the Dice curve.

Without shipped 2D weights, the initial probability is a deliberately wrong
stand-in (the true mask shrunk, shifted and blurred), and the demo says so:
it then shows the refinement stages, not the network.
"""

import json
from pathlib import Path

import numpy as np

from ..core.crop import relaxed_bbox
from ..core.cuemap import egd
from ..core.metrics import assd, dice
from ..core.simulate import interior_margin_points, refinement_click
from ..io import read_image, write_mask
from ..model.checkpoint import resolve_model
from ..segmenter import Segmenter
from ..settings import STAND_IN_MARGIN_MM
from .session_figure import write_session_figure
from .user import stand_in_probability

SAMPLE = Path(__file__).resolve().parents[2] / "Resources" / "Samples" / "colin27_axial_slice.nii.gz"
SAMPLE_LABEL = SAMPLE.with_name("colin27_axial_slice_putamen_L.nii.gz")


def load_sample():
    """The bundled example: (image float32 (H, W), truth bool (H, W), its ImageGeometry)."""
    image, geometry = read_image(SAMPLE)
    label, _ = read_image(SAMPLE_LABEL, dtype=None)
    return image, label > 0, geometry


def run_demo(out_dir, seed=0, device="auto", n_clicks=3):
    """Run the demo, write ``demo.png``, the mask and ``figures.json`` to `out_dir`, print a summary.

    Returns the figures dict (what ``figures.json`` holds).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image, truth, geometry = load_sample()
    spacing = geometry.spacing
    points = interior_margin_points(truth, rng, spacing)
    try:
        resolve_model("2d")
        session = Segmenter(image, spacing, model="2d", device=device)
        result = session.initial(points)
        source, first = "shipped 2D network", "initial"
    except FileNotFoundError:
        session = Segmenter(image, spacing, model=None, device=device, margin_mm=STAND_IN_MARGIN_MM)
        probability = np.zeros(image.shape, np.float32)
        box = relaxed_bbox(points, image.shape, spacing, STAND_IN_MARGIN_MM)
        probability[box] = stand_in_probability(truth[box])
        result = session.start(points, probability)
        source, first = "stand-in (no shipped 2D weights)", "initial (stand-in)"
    mask = result.mask
    figures = {"sample": "Colin27 T1 axial slice, left putamen (AAL 73)", "initial_probability": source,
               "interior_points": len(points),
               "initial": {"dice": round(dice(mask, truth), 4), "assd_mm": round(assd(mask, truth, spacing), 3)}}
    print("initial ({}): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm".format(source, **figures["initial"]))
    empty = np.zeros((0, 2))
    steps = [{"label": first, "mask": mask, "dice": dice(mask, truth), "points": points, "foreground": empty,
              "background": empty, "new": None}]

    foreground, background = [], []
    for k in range(1, n_clicks + 1):
        click = refinement_click(mask, truth, spacing)  # the simulated user: the largest error region
        if click is None:
            break
        kind = "foreground" if click.foreground else "background"
        (foreground if click.foreground else background).append(click.point)
        step = session.refine(**{kind: [click.point]})
        mask, seconds = step.mask, step.timings["total"]
        figures["after_{}_clicks".format(k)] = {"click": kind, "position": [float(v) for v in click.point],
                                                "dice": round(dice(mask, truth), 4),
                                                "assd_mm": round(assd(mask, truth, spacing), 3),
                                                "seconds": round(seconds, 4)}
        print("after {} click(s) ({}): Dice {dice:.3f}, ASSD {assd_mm:.2f} mm, {seconds:.3f} s".format(
            k, kind, **figures["after_{}_clicks".format(k)]))
        steps.append({"label": "click {}: {}".format(k, kind), "mask": mask, "dice": dice(mask, truth),
                      "points": points, "foreground": np.array(foreground).reshape(-1, 2),
                      "background": np.array(background).reshape(-1, 2), "new": (kind, click.point)})

    write_session_figure(out / "demo.png", image, truth, spacing, steps, cue_map=egd(image, points, spacing),
                         title="MIDeepSeg on an unseen structure: left putamen, Colin27 T1 MRI. Initial mask: {}; "
                               "clicks: the simulated user".format(source))
    write_mask(out / "mask.nii.gz", mask, geometry)
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print("wrote {}: demo.png (every step: clicks, mask, Dice), mask.nii.gz, figures.json".format(out))
    return figures
