"""Where do the Colin27 validation labels sit relative to the image's edges?

For each AAL deep grey structure (and the whole brain), prints the mean image
gradient magnitude on the shells at signed distance k voxels from the label's
boundary (k < 0 inside, k > 0 outside) - for the AAL label and for the shipped
3D model's initial mask (simulated interior margin points, seed 0). A boundary
that lies on the image's edge peaks at k = 0; a label drawn too large peaks at
k < 0.

Usage:  PYTHONPATH=. python scripts/label_edge_profile.py [--no-model]
Needs:  apt-get install -y mricron-data
"""

import sys

import numpy as np
from scipy import ndimage

from MIDeepSegLib.evaluation.validation import colin27_cases

SHELLS = range(-3, 4)


def signed_distance_vox(mask):
    """Integer-rounded signed Euclidean distance to the boundary, voxels: < 0 inside, > 0 outside."""
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return np.rint(np.where(mask, 0.5 - inside, outside - 0.5)).astype(int)


def edge_profile(gradient, mask):
    """Mean gradient magnitude on each shell k of SHELLS around `mask`'s boundary."""
    distance = signed_distance_vox(mask)
    return np.array([gradient[distance == k].mean() for k in SHELLS])


def main(argv):
    image, spacing, truths = colin27_cases()
    gradient = ndimage.gaussian_gradient_magnitude(image, 1.0)
    segmenter = None
    if "--no-model" not in argv:
        from MIDeepSegLib import Segmenter
        from MIDeepSegLib.core.simulate import interior_margin_points
        segmenter = Segmenter(image, spacing, model="3d", device="cpu")
    print("mean |grad I| on the shell k voxels from the boundary (k < 0 inside); peak marked *")
    print("{:14s} {:6s} ".format("structure", "mask") + " ".join("{:>6d}".format(k) for k in SHELLS) + "   peak")
    peaks = {"AAL": [], "model": []}
    for name, truth in truths.items():
        masks = [("AAL", truth)]
        if segmenter is not None:
            points = interior_margin_points(truth, np.random.default_rng(0), spacing)
            masks.append(("model", segmenter.initial(points).mask > 0))
        for kind, mask in masks:
            profile = edge_profile(gradient, mask)
            peak = list(SHELLS)[int(np.argmax(profile))]
            if name != "brain":
                peaks[kind].append(peak)
            cells = " ".join(("{:6.1f}" if k != peak else "{:5.1f}*").format(v) for k, v in zip(SHELLS, profile))
            print("{:14s} {:6s} {}   {:+d}".format(name, kind, cells, peak))
    for kind, values in peaks.items():
        if values:
            print("deep grey, {}: mean peak {:+.2f} voxels; peaks {}".format(kind, np.mean(values), values))


if __name__ == "__main__":
    main(sys.argv[1:])
