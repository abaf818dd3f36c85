"""The interactive session's refinement settings, and how they were chosen.

One place for the values that ``Segmenter``, the ``mideepseg`` commands, the
benchmark and the Slicer module use by default. Plain numbers: the Slicer
module imports this at start-up, before torch or scipy may be installed.

What each setting does is described where it acts: ``lam`` and ``sigma`` in
:func:`MIDeepSegLib.core.graphcut.graph_cut` (Eq. 8-11), the distance scale and
the two reaches in :mod:`MIDeepSegLib.core.refinement`.

How they were chosen
--------------------
By a grid search with the shipped models and the simulated user (seed 0,
5 refinement clicks) on a *tuning* set that validation never uses: 12 other
AAL structures on the Colin27 T1 (insula L/R, mid cingulum L, cuneus L,
lingual R, fusiform L, Heschl L, superior temporal pole R, cerebellum crus 1 L,
vermis 4-5, parahippocampal L, olfactory R), in 3D and on their centre slices
along z, y and x (36 slices), plus the MNI152 lateral ventricles in 3D
(``scripts/tune_refinement.py``). 2D: lam {0.25, 0.5, 1} x sigma
{0.1, 0.15, 0.2} x distance scale {2.5, 3.5, 5, 7} x reach {0.1, 0.15, 0.2,
0.3} x background reach {0.5, 1, 2} (432 settings); 3D: 32 settings around
the best 2D ones. The criterion: mean Dice after 1, 3 and 5 clicks, with no
case losing more than 0.03 Dice to one click (a click that makes things worse
costs a user more than the mean shows). Shorter distance scales (2.5-3.5) gain
another 0.002-0.005 on average but make single clicks hurt again (2D: 2-6
one-click drops of more than 0.03; 3D: worst one-click drop -0.05 to -0.16).

Mean Dice after 0 / 1 / 3 / 5 clicks on the tuning set:

    setting                                   2D (36 slices)                  3D (13 objects)
    before (lam 1, sigma 0.1, scale 10,
            reach 0.3, background 2.0)        0.806 / 0.816 / 0.837 / 0.854   0.664 / 0.677 / 0.691 / 0.701
    chosen (below)                            0.806 / 0.826 / 0.849 / 0.866   0.664 / 0.689 / 0.711 / 0.720

and on the validation structures (AAL deep grey; reported, not used for the
choice): 2D 0.841 / 0.853 / 0.875 / 0.887 -> 0.841 / 0.866 / 0.887 / 0.893,
3D 0.760 / 0.778 / 0.786 / 0.793 -> 0.760 / 0.788 / 0.797 / 0.805.

Issue 12 (real organs) changed the distance scale, the background reach and
added the points' reach and the initial fusion, chosen on 10 organ-scale
structures that are never reported: docs/benchmark/organs/tuning.md.
"""

#: Graph-cut weight lambda of Eq. 8 (the paper's is 5, which erases small,
#: low-contrast objects: 2D deep grey slices, 5 clicks, mean Dice 0.745 with
#: lam 5 against 0.877 with lam 1, single cases collapsing to 0.02).
LAM = 0.5

#: Graph-cut contrast scale sigma of Eq. 10, on the crop rescaled to [0, 1]
#: (the paper's is 0.1; low-contrast MRI boundaries need a wider one).
SIGMA = 0.2

#: The fusion measures geodesic distances on the crop rescaled to
#: [0, DISTANCE_SCALE] (see :mod:`MIDeepSegLib.core.refinement`; was 5 before issue 12).
DISTANCE_SCALE = 3.0

#: A foreground click's reach as a fraction of the working region's mean extent.
REACH_FRACTION = 0.2

#: The interior margin points' reach, as a fraction of the same extent, per dimension (issue 12).
POINT_REACH_FRACTION = {2: 0.2, 3: 0.3}

#: A background click's reach, as a fraction of the same extent (was 1.0 before issue 12).
BACKGROUND_REACH_FRACTION = 0.2

#: Segmenter.initial runs IF-GC with the interior margin points as the only clicks (True) instead of
#: thresholding the CNN's probability at 0.5 (False, the paper's initial result).
INITIAL_FUSION = True


def as_keywords():
    """The values above as ``Segmenter`` keywords (how validation results record them)."""
    return {"lam": LAM, "sigma": SIGMA, "distance_scale": DISTANCE_SCALE, "reach": REACH_FRACTION,
            "point_reach": POINT_REACH_FRACTION, "background_reach": BACKGROUND_REACH_FRACTION,
            "initial_fusion": INITIAL_FUSION}
