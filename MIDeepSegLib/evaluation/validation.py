"""Validation on unseen structures of a real MRI, with the simulated user.

The development cases are real: the Colin27 T1 MRI (``ch2.nii.gz`` of
Debian's ``mricron-data``, one subject, 1 mm) with the AAL deep grey
structures (caudate, putamen, pallidum, thalamus, hippocampus, amygdala; left
and right separately) and the whole brain (``ch2bet.nii.gz > 0``). Training
never sees them: the structures are removed from every training atlas
(:mod:`MIDeepSegLib.training.labelmaps`), the brain mask is never a training target
and the Colin27 image itself is not used in training.

For each case the simulated user (seeded, :mod:`MIDeepSegLib.core.simulate`)
places interior margin points, then clicks on the largest error region, one
click per refinement. Recorded after the initial points and after every
click: Dice and ASSD (mm); and the number of clicks needed to reach Dice
0.90. A 3D model is validated on the volumes, a 2D model on the slices
through each structure's centre along each axis.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from .. import settings as refinement_settings
from .._device import resolve_device
from ..core.components import largest_component
from ..geometry import take_slice
from ..core.simulate import interior_margin_points
from ..io import read_image
from ..model.checkpoint import ModelConfig, load_checkpoint, resolve_model
from ..segmenter import Segmenter
from ..training.labelmaps import MRICRON_TEMPLATES, VALIDATION_STRUCTURES_AAL
from .modelcard import markdown_table, record_validation, render_model_card
from .user import REPORTED_CLICKS, click_label, clicks_to_reach, run_user, value_at

#: Axis names of array axes 0, 1, 2 of the Colin27 volume.
AXIS_NAMES = ("z", "y", "x")


def colin27_cases(templates_dir=MRICRON_TEMPLATES, *, structures=None, brain=True):
    """The real development cases: the Colin27 T1 volume and its structure masks.

    Parameters
    ----------
    templates_dir : str or os.PathLike
        mricron templates folder (``apt-get install mricron-data``).
    structures : sequence of str, optional
        Names among :data:`~MIDeepSegLib.training.labelmaps.VALIDATION_STRUCTURES_AAL`
        (default: all six, left and right).
    brain : bool
        Add the whole brain (``ch2bet > 0``, largest component, holes filled).

    Returns
    -------
    image : float32 ndarray (D, H, W)
    spacing : tuple of float, mm, array order
    truths : dict of str -> bool ndarray (D, H, W)
        ``"caudate_L"``, ``"caudate_R"``, ..., ``"brain"``; each the largest
        connected component of its label.
    """
    root = Path(templates_dir)
    if not root.is_dir():
        raise FileNotFoundError(2, "no mricron templates folder (apt-get install mricron-data)", str(root))
    names = list(VALIDATION_STRUCTURES_AAL) if structures is None else list(structures)
    unknown = [n for n in names if n not in VALIDATION_STRUCTURES_AAL]
    if unknown:
        raise ValueError("structures must be among {}, got {}".format(
            list(VALIDATION_STRUCTURES_AAL), unknown))

    image, geometry = read_image(root / "ch2.nii.gz")
    aal, _ = read_image(root / "aal.nii.gz", dtype=None)
    truths = {}
    for name in names:
        for side, value in zip(("L", "R"), VALIDATION_STRUCTURES_AAL[name]):
            truths["{}_{}".format(name, side)] = largest_component(aal == value)
    if brain:
        bet, _ = read_image(root / "ch2bet.nii.gz")
        truths["brain"] = ndimage.binary_fill_holes(largest_component(bet > 0))
    return image.astype(np.float32), tuple(geometry.spacing), truths


def centre_slices(truth, axes=(0, 1, 2)):
    """Slice index through the centre of a 3D mask along each axis (nearest non-empty slice).

    Returns
    -------
    list of (axis, index)
    """
    centre = np.argwhere(truth).mean(axis=0)
    out = []
    for axis in axes:
        areas = truth.sum(axis=tuple(a for a in range(truth.ndim) if a != axis))
        filled = np.flatnonzero(areas)
        index = int(filled[np.argmin(np.abs(filled - centre[axis]))])
        out.append((axis, index))
    return out


def simulate_session(segmenter, truth, rng, *, max_clicks=10, target_dice=0.9, reported=REPORTED_CLICKS):
    """Run the simulated user on one object and record the metrics after every step.

    Parameters
    ----------
    segmenter : Segmenter
        A session on the image (its earlier clicks are dropped).
    truth : bool ndarray, image shape
        The object.
    rng : numpy.random.Generator
        Draws the interior margin points (refinement clicks are deterministic).
    max_clicks : int
        Refinement clicks simulated at most.
    target_dice : float
        Dice whose click count is reported.
    reported : sequence of int
        Click counts that are always simulated (up to `max_clicks`); after the
        last of them the session stops as soon as Dice reaches `target_dice`.

    Returns
    -------
    dict
        ``dice``, ``assd``: lists, entry k after k refinement clicks (once the
        mask is perfect the last values repeat up to ``max_clicks``; a session
        stopped at the target is shorter: use :func:`value_at`);
        ``clicks_to_target``: the first k with Dice >= target_dice, None if
        not reached; ``points``: the interior margin points; ``clicks``: list
        of (point, foreground); ``seconds``: per step.
    """
    spacing = segmenter.spacing
    points = interior_margin_points(truth, rng, spacing)
    must = max([k for k in reported if k <= max_clicks], default=0)
    record, _ = run_user(segmenter, truth, points, spacing, max_clicks=max_clicks, target_dice=target_dice,
                         must_clicks=must)
    record.update(clicks_to_target=clicks_to_reach(record["dice"], target_dice), points=points.tolist())
    return record


def validate_unseen(model, *, templates_dir=MRICRON_TEMPLATES, structures=None, brain=True, axes=(0, 1, 2),
                    max_clicks=10, brain_max_clicks=None, target_dice=0.9, seed=0, device="auto",
                    progress=True):
    """Validate a model on the Colin27 development cases with the simulated user.

    Parameters
    ----------
    model : "2d", "3d", checkpoint path, or (UNet, ModelConfig)
        A 3D model is run on the volume, a 2D model on the centre slices of
        each structure along each of `axes`.
    templates_dir, structures, brain
        See :func:`colin27_cases`.
    axes : sequence of int
        Slice axes for a 2D model (0 = z / axial, 1 = y / coronal, 2 = x / sagittal).
    max_clicks : int
        Refinement clicks simulated per case.
    brain_max_clicks : int, optional
        Fewer clicks for the whole-brain case (default `max_clicks`): in 3D
        each of its refinements is a graph cut on the whole brain (minutes
        on a CPU).
    target_dice : float
        Dice threshold whose click count is reported (0.90).
    seed : int
        Seeds the interior margin points: case k uses ``default_rng([seed, k])``.
    device : str
        Torch device.
    progress : bool
        Print one line per case to stderr.

    Returns
    -------
    dict with ``"model"`` (config summary), ``"settings"``, ``"cases"`` (one
    dict per case, see :func:`simulate_session`) and ``"summary"``
    (:func:`summarise`).
    """
    if isinstance(max_clicks, bool) or not isinstance(max_clicks, int) or max_clicks < 0:
        raise ValueError("max_clicks must be an integer >= 0, got {!r}".format(max_clicks))
    device = resolve_device(device)
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], ModelConfig):
        network, config = model[0].to(device).eval(), model[1]
    else:
        network, config = load_checkpoint(resolve_model(model), device=device)
    image, spacing, truths = colin27_cases(templates_dir, structures=structures, brain=brain)
    cases = []
    jobs = []
    if config.spatial_dims == 3:
        jobs = [(name, None, None) for name in truths]
    else:
        for name, truth in truths.items():
            jobs += [(name, axis, index) for axis, index in centre_slices(truth, axes)]
    segmenter3d = Segmenter(image, spacing, model=(network, config), device=device) \
        if config.spatial_dims == 3 else None
    for k, (name, axis, index) in enumerate(jobs):
        rng = np.random.default_rng([int(seed), k])
        truth = truths[name]
        if axis is None:
            segmenter = segmenter3d
        else:
            truth = largest_component(take_slice(truth, axis, index)[0])
            view, view_spacing = take_slice(image, axis, index, spacing)
            segmenter = Segmenter(view, view_spacing, model=(network, config), device=device)
        tick = time.perf_counter()
        clicks = max_clicks
        if name == "brain" and brain_max_clicks is not None:
            clicks = min(max_clicks, brain_max_clicks)
        record = simulate_session(segmenter, truth, rng, max_clicks=clicks, target_dice=target_dice)
        record.update({"case": name, "group": "whole brain" if name == "brain" else "deep grey",
                       "axis": None if axis is None else AXIS_NAMES[axis], "slice": index,
                       "voxels": int(truth.sum())})
        cases.append(record)
        if progress:
            print("[{}/{}] {}{}: Dice {:.3f} initial, {:.3f} after {} clicks ({:.1f} s)".format(
                k + 1, len(jobs), name, "" if axis is None else " {}={}".format(AXIS_NAMES[axis], index),
                record["dice"][0], record["dice"][-1], len(record["clicks"]), time.perf_counter() - tick),
                file=sys.stderr, flush=True)
    settings = {"data": "Colin27 T1 (mricron ch2.nii.gz), AAL labels, ch2bet brain mask",
                "seed": seed, "max_clicks": max_clicks, "brain_max_clicks": brain_max_clicks,
                "target_dice": target_dice, "device": str(device),
                "refinement": refinement_settings.as_keywords(),
                "slices": None if config.spatial_dims == 3 else "centre slice of each structure along axes "
                          + ", ".join(AXIS_NAMES[a] for a in axes)}
    model_info = {"spatial_dims": config.spatial_dims, "features": list(config.features),
                  "input_size": list(config.input_size), "encoding": config.encoding}
    return {"model": model_info, "settings": settings, "cases": cases,
            "summary": summarise(cases, max_clicks=max_clicks)}


def summarise(cases, *, max_clicks=10):
    """Mean metrics per group ("deep grey", "whole brain", "all").

    Returns
    -------
    dict group -> {"cases": n, "dice": {k: mean}, "assd": {k: mean}, "clicks_to_target_mean": mean
    with cases never reaching the target counted as max_clicks + 1, "reached": count}
    for k in :data:`REPORTED_CLICKS`.
    """
    groups = {}
    for group in ("deep grey", "whole brain", "all"):
        chosen = [c for c in cases if group == "all" or c["group"] == group]
        if not chosen:
            continue
        ks = [k for k in REPORTED_CLICKS if k <= max_clicks]
        clicks = [max_clicks + 1 if c["clicks_to_target"] is None else c["clicks_to_target"] for c in chosen]
        groups[group] = {
            "cases": len(chosen),
            "dice": {str(k): float(np.mean([value_at(c["dice"], k) for c in chosen])) for k in ks},
            "assd": {str(k): float(np.mean([value_at(c["assd"], k) for c in chosen])) for k in ks},
            "clicks_to_target_mean": float(np.mean(clicks)),
            "reached": int(sum(c["clicks_to_target"] is not None for c in chosen)),
        }
    return groups


def write_results(results, json_path=None, markdown_path=None):
    """Write results as JSON and / or a Markdown table; returns the paths written."""
    written = []
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1))
        written.append(Path(json_path))
    if markdown_path:
        Path(markdown_path).write_text(markdown_table(results))
        written.append(Path(markdown_path))
    return written


def run_validation(model, *, json_path=None, markdown_path=None, card_path=None, record=False,
                   templates_dir=None, **options):
    """Validate a model file and write the outputs (``mideepseg validate``).

    Parameters
    ----------
    model : "2d", "3d" or checkpoint path
    json_path, markdown_path : str, optional
        Where to write the results (:func:`write_results`).
    card_path : str, optional
        Where to write the Markdown model card
        (:func:`~MIDeepSegLib.evaluation.modelcard.render_model_card`) with these results.
    record : bool
        Also store the summary in the checkpoint's card
        (:func:`~MIDeepSegLib.evaluation.modelcard.record_validation`).
    templates_dir : str, optional
        mricron templates folder.
    **options
        Passed to :func:`validate_unseen`.

    Returns
    -------
    dict: the results.
    """
    path = resolve_model(model)
    results = validate_unseen(path, templates_dir=templates_dir or MRICRON_TEMPLATES, **options)
    for written in write_results(results, json_path, markdown_path):
        print("wrote {}".format(written))
    if record:
        record_validation(path, results)
        print("recorded the summary in {}".format(path))
    if card_path:
        _, config = load_checkpoint(path)
        Path(card_path).write_text(render_model_card(config, file_name=path.name, validation=results))
        print("wrote {}".format(card_path))
    for group, summary in results["summary"].items():
        print("{}: Dice {} | clicks to {:.2f}: {:.1f} ({}/{} reached)".format(
            group, ", ".join("{} {:.3f}".format(click_label(int(k)), v) for k, v in summary["dice"].items()),
            results["settings"]["target_dice"], summary["clicks_to_target_mean"], summary["reached"],
            summary["cases"]))
    return results
