"""The Slicer self-test's scenes run through the library with the shipped weights and its thresholds.

``MIDeepSegTest`` (in MIDeepSeg/MIDeepSeg.py) cannot run here: Slicer is not
installable on CI. It builds its scenes from :mod:`MIDeepSegLib.scenes` and
drives the same Segmenter and ClickSession through MRML; these tests run the
same arrays, clicks and thresholds without MRML, so that new weights or a
changed refinement that would fail the self-test inside Slicer fail here
first. (The world <-> array conversions it also exercises are tested in
test_geometry.py.) Measured with the shipped weights: 3D scene Dice 0.994,
then 1.0 after one correction; lesion in Colin27 0.984, then 1.0.
"""

from pathlib import Path

import numpy as np
import pytest

from MIDeepSegLib.model.checkpoint import resolve_model
from MIDeepSegLib.core.metrics import dice
from MIDeepSegLib.scenes import insert_lesion, margin_points, tilted_lesion_volume
from MIDeepSegLib.segmenter import Segmenter
from MIDeepSegLib.session import ClickSession
from MIDeepSegLib.core.simulate import refinement_click

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _shipped(name):
    try:
        return str(resolve_model(name))
    except (FileNotFoundError, ValueError) as error:  # pragma: no cover - the weights are in the repository
        pytest.fail("shipped weights missing: {}".format(error))


def _session_with_corrections(image, spacing, model, interior, reference, clicks):
    """The self-test's loop: interior points, then `clicks` simulated corrections.

    Returns (Dice after each step, the ClickSession, the clicks as (point, is_foreground) in order).
    """
    session = ClickSession(Segmenter(image, spacing, model=model, device="cpu"))
    session.update(interior)
    dices, made = [dice(session.result.mask, reference)], []
    for _ in range(clicks):
        click = refinement_click(session.result.mask, reference, spacing)
        if click is None:
            break
        made.append((click.point, click.foreground))
        assert session.update(interior, *_lists(made)) == "refine"
        dices.append(dice(session.result.mask, reference))
    return dices, session, made


def _lists(made):
    return [p for p, fg in made if fg], [p for p, fg in made if not fg]


def test_synthetic_dice_scene_3d_and_undo(one_torch_thread):
    scene = tilted_lesion_volume()
    image = scene["image"].astype(np.float32)
    dices, session, made = _session_with_corrections(image, scene["spacing"], _shipped("3d"), scene["interior"],
                                                     scene["lesion"], clicks=2)
    # MIDeepSegTest.test_SyntheticDice's thresholds
    assert dices[0] >= 0.80 and dices[-1] >= max(0.85, dices[0] - 0.01), dices
    assert not (session.result.mask & scene["other"]).any()  # the other object is never labelled
    if not made:  # the mask is already perfect: a deliberate wrong click at the lesion's centre, so undo has work
        made.append((np.round(scene["center"]), False))
        assert session.update(scene["interior"], *_lists(made)) == "refine"
        dices.append(dice(session.result.mask, scene["lesion"]))
        assert dices[-1] < dices[-2]
    assert made, "the simulated user found nothing to correct: the undo step below would not run"
    before = dices[-2]
    assert session.update(scene["interior"], *_lists(made[:-1])) == "undo"  # the last click removed
    assert dice(session.result.mask, scene["lesion"]) == before


def test_synthetic_dice_scene_2d_sagittal(one_torch_thread):
    scene = tilted_lesion_volume()
    j, c = int(scene["center"][1]), scene["center"]
    image = np.ascontiguousarray(scene["image"][:, j, :], dtype=np.float32)  # array axis 1 = the R axis here
    spacing = scene["spacing"][[0, 2]]
    points = margin_points(c[[0, 2]], scene["semi_axes"][[0, 2]])
    session = ClickSession(Segmenter(image, spacing, model=_shipped("2d"), device="cpu"))
    session.update(points)
    assert dice(session.result.mask, scene["lesion"][:, j, :]) >= 0.80


@pytest.mark.skipif(not COLIN27.is_file(), reason="needs the Colin27 MRI: apt-get install mricron-data")
def test_lesion_in_a_real_mri(one_torch_thread):
    """test_MRBrainTumor1's recipe on the Colin27 MRI (MRBrainTumor1 is a Slicer download)."""
    from MIDeepSegLib.io import read_image

    image, geometry = read_image(COLIN27)
    spacing = tuple(geometry.spacing)
    scene = insert_lesion(image, spacing)
    dices, _, _ = _session_with_corrections(scene["image"], spacing, _shipped("3d"), scene["interior"],
                                            scene["lesion"], clicks=1)
    assert dices[0] >= 0.80 and dices[-1] >= max(0.85, dices[0] - 0.01), dices
