"""The numbers the library's defaults come from, each with its one-line meaning.

One place for the values that ``Segmenter``, the ``mideepseg`` commands, the
benchmark and the Slicer module use by default. Plain numbers: the Slicer
module imports this at start-up, before torch or scipy may be installed.

What each setting does is described where it acts: ``lam`` and ``sigma`` in
:func:`MIDeepSegLib.core.graphcut.graph_cut` (Eq. 8-11), the distance scale and
the two reaches in :mod:`MIDeepSegLib.core.refinement`.

How they were chosen, and the measurements behind each mechanism: docs/refinement-settings.md.
Issue 12 (real organs): docs/benchmark/organs/tuning.md.
"""

#: Graph-cut weight lambda of Eq. 8 (the paper's, PAPER_LAM = 5, erases small low-contrast objects).
LAM = 0.5

#: Graph-cut contrast scale sigma of Eq. 11, on the crop rescaled to [0, 1] (the paper's: PAPER_SIGMA).
SIGMA = 0.2

#: The fusion measures geodesic distances on the crop rescaled to [0, DISTANCE_SCALE] (see
#: :mod:`MIDeepSegLib.core.refinement`), per dimension (was 5 before issue 12; 2D 2 since its second round).
DISTANCE_SCALE = {"2d": 2.0, "3d": 3.0}

#: Gaussian sigma (voxels, every axis) of the smoothing the refinement's geodesic distances and graph
#: cut see (:func:`MIDeepSegLib.core.refinement.region_intensities`), per dimension. Not in 3D: it
#: widens the graph cut's doubt layer threefold on organ-sized regions (clicks 4-7 s instead of 1-2 s).
SMOOTHING_VOX = {"2d": 0.7, "3d": 0.0}

#: A foreground click's reach as a fraction of the working region's mean extent.
REACH_FRACTION = 0.2

#: The interior margin points' reach, as a fraction of the same extent, per dimension (issue 12).
POINT_REACH_FRACTION = {"2d": 0.2, "3d": 0.3}

#: A background click's reach, as a fraction of the same extent (was 1.0 before issue 12).
BACKGROUND_REACH_FRACTION = 0.2

#: A click far from what is already right marks a large error: its reach grows to REACH_GROWTH x its
#: distance in mm to the nearest voxel that already has the label it asks for (issue 12: on the organ
#: tuning set, +5 clicks 0.823 -> 0.855 in 3D; docs/benchmark/organs/tuning.md) ...
REACH_GROWTH = 4.0

#: ... up to this fraction of the working region's mean extent.
MAX_REACH_FRACTION = 0.5

#: Segmenter.initial runs IF-GC with the interior margin points as the only clicks (True) instead of
#: thresholding the CNN's probability at 0.5 (False, the paper's initial result).
INITIAL_FUSION = True

#: Interior margin points within BORDER_VOXELS x the finest voxel size (mm) of an image side mean that the
#: object runs out of the image there (a user's points lie a few voxels inside the boundary) ...
BORDER_VOXELS = 5

#: ... so the region grows to that side, and the network sees the crop mirrored BORDER_MM (mm) past it.
#: Issue 12: the 3D network drew the end of every organ that a scan's first or last slice cut (recall
#: 0-0.2 in the three slices next to the cut); on the organ tuning set 3D initial Dice 0.786 -> 0.817.
BORDER_MM = 10.0

#: Where the network's trained grid would shrink the crop (more crop voxels than grid cells), it runs on a
#: grid this many coarsest-level cells finer per axis (3D: 32 x 48 x 48 -> 40 x 56 x 56; see
#: model.preprocess.network_grid). Issue 12, chosen on the organ tuning and check sets (3D initial Dice
#: tuning 0.842 -> 0.849, check 0.736 -> 0.746) with the deep grey nuclei of Colin27 held; measured in 3D only.
FINER_GRID_CELLS = {"2d": 0, "3d": 1}

#: Once the user has clicked, the CNN's probability is made less confident on the side that the clicks
#: contradict: its logit is divided by this where it is < 0.5 once there is a foreground click (the network
#: missed part of the object) and where it is > 0.5 once there is a background click (it leaked), per
#: dimension. The clicks' fusion and the graph cut's image term can then move its boundary further. Issue 12,
#: chosen on the organ tuning and check sets (3D +5 clicks: tuning 0.869 -> 0.873, check 0.771 -> 0.788);
#: the initial step keeps the network's own probability.
CLICK_TEMPERATURE = {"2d": 1.0, "3d": 4.0}

#: ... on working regions of at most this many voxels. The first click of each kind changes the probability
#: everywhere, so its graph cut is solved again along the object's whole boundary: 0.8-1.0 s CPU on the
#: 6 M-voxel region of the 2.6 M-voxel latency scene and 2.5-3.2 s on the 12.5 M-voxel liver-sized one,
#: at or over issue 12's 1 s and 3 s (docs/latency.md). Larger regions keep the network's probability
#: (Colin27's whole brain, 4.7 M voxels, the largest benchmarked region, is below).
CLICK_TEMPERATURE_MAX_VOXELS = 5_000_000


#: The paper's graph-cut weight lambda (Eq. 8) and contrast scale sigma (Eq. 11), its Section 2.5: the
#: defaults of the functions that transcribe its equations (graph_cut, energy, refine_ifgc, refine_gc, the
#: benchmark's Boykov-Jolly peer); the session, CLI, benchmark's MIDeepSeg and Slicer use LAM and SIGMA.
PAPER_LAM = 5.0
PAPER_SIGMA = 0.1

#: Relaxed-box margin, mm, where no model gives its own (a session begun from a stand-in probability).
STAND_IN_MARGIN_MM = 5.0


def for_dimension(value, ndim):
    """A setting's value for a 2D or 3D image: `value` itself, or its "2d"/"3d" entry when it is a dict."""
    return value["{}d".format(ndim)] if isinstance(value, dict) else value


def as_keywords():
    """The values above as ``Segmenter`` keywords (how validation results record them)."""
    return {"lam": LAM, "sigma": SIGMA, "distance_scale": DISTANCE_SCALE, "reach": REACH_FRACTION,
            "point_reach": POINT_REACH_FRACTION, "background_reach": BACKGROUND_REACH_FRACTION,
            "reach_growth": REACH_GROWTH, "max_reach": MAX_REACH_FRACTION,
            "initial_fusion": INITIAL_FUSION, "border_mm": BORDER_MM, "smoothing": SMOOTHING_VOX,
            "finer_grid": FINER_GRID_CELLS, "click_temperature": CLICK_TEMPERATURE,
            "click_temperature_max_voxels": CLICK_TEMPERATURE_MAX_VOXELS}
