"""Grid search of the session's refinement settings with the simulated user.

Prints, for every combination of the given values, the mean Dice after 0-5
refinement clicks and the number of single clicks that cost a case more than
0.03 Dice.
The tuning set is 12 AAL structures that validation never uses (plus the
MNI152 ventricles in 3D, when ``scripts/fetch_data.sh`` has fetched them); it
chose the values in MIDeepSegLib/settings.py:

    python scripts/tune_refinement.py --dim 2 lam=0.25,0.5,1 sigma=0.1,0.15,0.2 \\
        distance_scale=2.5,3.5,5,7 reach=0.1,0.15,0.2,0.3 background_reach=0.5,1,2
    python scripts/tune_refinement.py --dim 3 lam=0.25,0.5 sigma=0.1,0.2 distance_scale=3,5 \\
        reach=0.1,0.2 background_reach=0.5,1

``--cases validation`` runs the AAL deep grey structures instead (to report a
choice, not to make it). 2D: the centre slice of each structure along z, y
and x. About 2 s per setting in 2D and 50 s in 3D on one CPU core.
"""

import argparse
import glob
import itertools

import numpy as np
import torch

from MIDeepSegLib import Segmenter
from MIDeepSegLib.model.checkpoint import load_checkpoint, resolve_model
from MIDeepSegLib.core.components import largest_component
from MIDeepSegLib.io import read_image
from MIDeepSegLib.evaluation.user import value_at
from MIDeepSegLib.evaluation.validation import MRICRON_TEMPLATES, centre_slices, colin27_cases, simulate_session
from MIDeepSegLib.geometry import take_slice

#: AAL labels of the tuning structures (none of them a validation structure or next to one).
TUNING_LABELS = {"insula_L": 29, "insula_R": 30, "cingulum_mid_L": 33, "cuneus_L": 45, "lingual_R": 48,
                 "fusiform_L": 55, "heschl_L": 79, "temporal_pole_sup_R": 84, "cerebellum_crus1_L": 91,
                 "vermis_4_5": 112, "parahippocampal_L": 39, "olfactory_R": 22}
VENTRICLES = "data/mni152/ventricles"
CLICKS = 5


def tuning_cases(dim, which):
    """[(image, spacing, truth)], array order, spacing in mm."""
    image, spacing, truths = colin27_cases(structures=None if which == "validation" else [], brain=False)
    if which == "tune":
        aal, _ = read_image("{}/aal.nii.gz".format(MRICRON_TEMPLATES), dtype=None)
        truths = {name: largest_component(aal == label) for name, label in TUNING_LABELS.items()}
    if dim == 3:
        cases = [(image, spacing, truth) for truth in truths.values()]
        images = sorted(glob.glob(VENTRICLES + "/imagesTr/*"))
        if which == "tune" and images:
            ventricles, geometry = read_image(images[0])
            labels, _ = read_image(sorted(glob.glob(VENTRICLES + "/labelsTr/*"))[0], dtype=None)
            cases.append((ventricles, tuple(geometry.spacing), largest_component(labels > 0)))
        return cases
    cases = []
    for truth in truths.values():
        for axis, index in centre_slices(truth):
            view, view_spacing = take_slice(image, axis, index, spacing)
            cases.append((view, view_spacing, largest_component(take_slice(truth, axis, index)[0])))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, choices=(2, 3), required=True)
    parser.add_argument("--cases", choices=("tune", "validation"), default="tune")
    parser.add_argument("--model", help="checkpoint (default: the shipped model of --dim)")
    parser.add_argument("grid", nargs="*", help="NAME=V1,V2,... for Segmenter keywords (default: its defaults)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    network = load_checkpoint(resolve_model(args.model or "{}d".format(args.dim)), device="cpu")
    grid = {name: [float(v) for v in values.split(",")] for name, values in (a.split("=") for a in args.grid)}
    cases = tuning_cases(args.dim, args.cases)
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values))
        dices = []
        for k, (image, spacing, truth) in enumerate(cases):
            session = Segmenter(image, spacing, model=network, device="cpu", **settings)
            record = simulate_session(session, truth, np.random.default_rng([0, k]), max_clicks=CLICKS,
                                      target_dice=2.0)  # unreachable: every case gets all CLICKS clicks
            dices.append([value_at(record["dice"], j) for j in range(CLICKS + 1)])
        dices = np.array(dices)
        print(" ".join("{}={:g}".format(*item) for item in settings.items()) or "defaults", "|",
              " ".join("{:.3f}".format(v) for v in dices.mean(0)), "| one-click drops > 0.03:",
              int((np.diff(dices, axis=1) < -0.03).sum()), flush=True)


if __name__ == "__main__":
    main()
