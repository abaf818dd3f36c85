"""The interactive session: interior margin points -> CNN -> refinement clicks -> IF-GC.

:class:`Segmenter` is the one stateful object of the library. It sequences the
stages (crop, cue map, network, fusion, graph cut) and keeps the session: the
clicks, the CNN's probability and an undo history. It computes nothing itself.
The Slicer module, the CLI and the benchmarks all drive it.
"""

import math
import time
import warnings

import numpy as np
from scipy import ndimage

from ._checks import check_points, check_probability, check_spacing
from .core.crop import box_shape, box_union, object_region, relaxed_bbox, shift_points
from .core.fusion import soften
from .model.preprocess import border_pads, mirror_pad, network_grid, network_input, resize
from .core.refinement import (click_clearance_mm, click_reach_mm, click_reaches, prepare_cache, refine_gc,
                              refine_ifgc)
from .settings import (BACKGROUND_REACH_FRACTION, BORDER_MM, BORDER_VOXELS, CLICK_TEMPERATURE,
                       CLICK_TEMPERATURE_MAX_VOXELS, DISTANCE_SCALE, FINER_GRID_CELLS, INITIAL_FUSION, LAM,
                       MAX_REACH_FRACTION, POINT_REACH_FRACTION, REACH_FRACTION, REACH_GROWTH, SIGMA,
                       SMOOTHING_VOX, for_dimension)

#: Fewest distinct interior margin points accepted. The crop is their relaxed
#: bounding box and the network was trained with 3-4 (2D) / 5-6 (3D) points
#: near the object's extreme points (paper Section 2.1): fewer points cannot
#: delimit an object along every axis.
MIN_POINTS = {2: 3, 3: 4}


#: The last model loaded on each device: {(path, mtime, device): (network, config)}, one entry per device.
_MODEL_CACHE = {}

#: Refinement methods: the paper's information fusion + graph cut, and Table 3's plain graph cut baseline.
REFINEMENTS = ("ifgc", "gc")


class Result:
    """The outcome of one interaction.

    Attributes
    ----------
    mask : uint8 ndarray, image shape
        The segmentation (1 = object).
    probability : float32 ndarray, image shape
        Foreground probability: the CNN's after :meth:`Segmenter.initial`,
        the fused R^f (paper Eq. 5, before the graph cut) after a refinement;
        0 outside `box`.
    timings : dict of str -> float
        Seconds per stage and ``"total"``.
    box : tuple of slice
        The region that was computed; `mask` and `probability` are 0 outside.
    mask_crop, probability_crop : ndarray
        The same maps restricted to `box` (no whole-image copies: use these
        to update only the changed region of a large volume).

    The full-size `mask` and `probability` are built on first access.
    """

    def __init__(self, shape, box, mask_crop, probability_crop, timings):
        self.shape = tuple(shape)
        self.box = box
        self.mask_crop = mask_crop
        self.probability_crop = probability_crop
        self.timings = timings
        self._mask = None
        self._probability = None

    @property
    def mask(self):
        if self._mask is None:
            self._mask = np.zeros(self.shape, np.uint8)
            self._mask[self.box] = self.mask_crop
        return self._mask

    @property
    def probability(self):
        if self._probability is None:
            self._probability = np.zeros(self.shape, np.float32)
            self._probability[self.box] = self.probability_crop
        return self._probability

    def __repr__(self):
        return "Result(shape={}, box={}, voxels={}, total={:.3f} s)".format(
            self.shape, tuple((s.start, s.stop) for s in self.box), int(self.mask_crop.sum()),
            self.timings.get("total", float("nan")))


class _State:
    """One entry of the undo history.

    `clearance`: per foreground and background click (dict of (N,) float arrays), see
    :meth:`Segmenter._clearance`. `start`: the Result of the initial step (or :meth:`Segmenter.start`) that
    this state's clicks refine (the state's own for that step).
    """

    def __init__(self, points, foreground, background, cnn_box, cnn_probability, result, clearance=None,
                 start=None):
        self.points = points
        self.foreground = foreground
        self.background = background
        self.cnn_box = cnn_box
        self.cnn_probability = cnn_probability
        self.result = result
        self.clearance = clearance if clearance is not None else {"fg": np.zeros(0), "bg": np.zeros(0)}
        self.start = result if start is None else start


class Segmenter:
    """An interactive segmentation session on one image.

    Parameters
    ----------
    image : (H, W) or (D, H, W) array_like
        Intensities, array order (as ``SimpleITK.GetArrayFromImage`` or
        ``slicer.util.arrayFromVolume`` give them). Not copied: only the
        crops that are used are converted to float32.
    spacing : sequence of float, optional
        mm per array axis, (z, y, x) / (y, x). Default 1.
    model : "2d", "3d", path, (UNet, ModelConfig) or None
        Shipped weights by name, a checkpoint file, or a loaded network. Its
        dimension must match the image's. The last model loaded on each
        device is kept for the next session. None: no network; the session
        starts from a given probability (:meth:`start`) and needs `margin_mm`.
    device : "auto", "cpu", "cuda", "cuda:N", "mps"
        Where the network and the geodesic distances run.
    lam, sigma : float
        Graph-cut weight and contrast scale (paper: 5 and 0.1; default: the
        tuned values in :mod:`MIDeepSegLib.settings`).
    margin_mm : float, optional
        Margin of the relaxed bounding box; default: the model's (the value it
        was trained with).
    iterations : int, None or "default"
        Geodesic sweep iterations (see :mod:`MIDeepSegLib.core.cuemap`).
    connectivity : int, optional
        Graph-cut neighbourhood (see :func:`~MIDeepSegLib.core.graphcut.graph_cut`).
    distance_scale : float or dict
        How far a refinement click reaches in the fusion (see
        :mod:`MIDeepSegLib.core.refinement`): larger = more local.
        This, the smoothing and the reaches default to :mod:`MIDeepSegLib.settings`;
        a dict gives a value per dimension ({"2d": ..., "3d": ...}, as there).
    reach : float or None
        The foreground seeds' (interior margin points' and foreground
        clicks') weight in the fusion also decays with Euclidean distance, by
        e^-1 per `reach` x the mean extent in mm of the working region (the
        relaxed box of the points, grown by clicks outside it); None = the
        paper's pure geodesic fusion. See :mod:`MIDeepSegLib.core.refinement`.
    background_reach : float or None
        The same for the background clicks; None = pure geodesic.
    point_reach : float, None or dict
        The same for the interior margin points (the foreground clicks keep
        `reach`): they surround the object, so they can reach further. A dict
        gives it per dimension ({"2d": ..., "3d": ...}, as in the settings).
    reach_growth : float >= 0
        A click far from what already has its label (the mask for a
        foreground click, the background for a background click) marks a
        large error, so its reach grows to `reach_growth` x that distance in
        mm (its clearance, see :meth:`_clearance`) when this is more than
        `reach` (or `background_reach`) gives, up to `max_reach` x the mean
        extent of the working region. 0: every click has the fixed reach.
    max_reach : float
        That limit, as a fraction of the extent like `reach`.
    initial_fusion : bool
        :meth:`initial` fuses the CNN's probability with the interior margin
        points and cuts the graph (IF-GC with the points as the only clicks,
        the step every refinement repeats) instead of thresholding the
        probability at 0.5 (see :mod:`MIDeepSegLib.settings`). Only with
        ``refinement="ifgc"``.
    border_mm : float >= 0
        An interior margin point within ``settings.BORDER_VOXELS`` voxels of
        the finest axis (in mm) of an image side means that the object runs
        out of the image there (an organ cut by the scan's first or last
        slice): :meth:`initial` grows the region to that side, and the
        network sees the crop mirrored `border_mm` past it
        (:func:`~MIDeepSegLib.model.preprocess.mirror_pad`). 0: neither.
    finer_grid : int >= 0 or dict
        Where the network's trained grid would shrink the crop, it runs on a
        grid this many coarsest-level cells finer per axis
        (:func:`~MIDeepSegLib.model.preprocess.network_grid`); 0: always the
        trained grid. A dict gives it per dimension.
    click_temperature : float >= 1 or dict
        In :meth:`refine` (IF-GC), the CNN's probability is softened
        (:func:`~MIDeepSegLib.core.fusion.soften`) on the side the clicks
        contradict: below 0.5 once there is a foreground click, above 0.5
        once there is a background click. 1: the network's own probability,
        as in the paper. A dict gives it per dimension.
    click_temperature_max_voxels : int
        Only on working regions of at most this many voxels (on larger ones
        the first click of each kind would solve the graph cut along the
        whole boundary again: seconds on a liver at full resolution).
    smoothing : float >= 0 or dict
        Gaussian sigma (voxels) of the smoothing the refinements' geodesic
        distances and graph cut see (see
        :func:`~MIDeepSegLib.core.refinement.region_intensities`); 0 = none.
        A dict gives it per dimension.
    exact : bool
        False (default): refinements solve the graph cut only where the
        labelling is in doubt and near what the click changed, and reuse the
        distance maps of earlier clicks on the same region
        (:func:`~MIDeepSegLib.core.refinement.refine_ifgc`); True:
        every refinement recomputes everything and solves the max-flow on the
        whole region (slower; the reference the benchmarks compare with).
    refinement : {"ifgc", "gc"}
        "ifgc": information fusion + graph cut (paper Section 2.4); "gc": the
        plain graph cut on the CNN probability with the clicks as hard
        constraints (the baseline of the paper's Table 3).

    Examples
    --------
    >>> seg = Segmenter(volume, spacing=(2.5, 0.8, 0.8), model="3d")   # doctest: +SKIP
    >>> res = seg.initial(points)                                       # doctest: +SKIP
    >>> res = seg.refine(foreground=[[12, 40, 51]])                     # doctest: +SKIP
    >>> seg.undo()                                                      # doctest: +SKIP
    """

    def __init__(self, image, spacing=None, model="3d", device="auto", *, lam=LAM, sigma=SIGMA, margin_mm=None,
                 iterations="default", connectivity=None, distance_scale=DISTANCE_SCALE, reach=REACH_FRACTION,
                 background_reach=BACKGROUND_REACH_FRACTION, point_reach=POINT_REACH_FRACTION,
                 reach_growth=REACH_GROWTH, max_reach=MAX_REACH_FRACTION, initial_fusion=INITIAL_FUSION,
                 border_mm=BORDER_MM, finer_grid=FINER_GRID_CELLS, click_temperature=CLICK_TEMPERATURE,
                 click_temperature_max_voxels=CLICK_TEMPERATURE_MAX_VOXELS, smoothing=SMOOTHING_VOX,
                 exact=False, refinement="ifgc"):
        from ._device import resolve_device  # deferred: loads torch, on first use

        self.image = _check_session_image(image)
        self.spacing = check_spacing(spacing, self.image.ndim)
        self.device = resolve_device(device)
        if model is None and margin_mm is None:
            raise ValueError("margin_mm is needed without a model (the model gives its training margin)")
        self.network, self.config = _load_model(model, self.device) if model is not None else (None, None)
        if self.config is not None and self.config.spatial_dims != self.image.ndim:
            raise ValueError(
                "the model is {}D but the image is {}D: use model='{}d' (for a slice of a volume, pass the "
                "2D slice)".format(self.config.spatial_dims, self.image.ndim, self.image.ndim))
        self.lam, self.sigma = float(lam), float(sigma)
        self.margin_mm = self.config.margin_mm if margin_mm is None else float(margin_mm)
        if refinement not in REFINEMENTS:
            raise ValueError("refinement must be one of {}, got {!r}".format(REFINEMENTS, refinement))
        self.refinement = refinement
        self.iterations = iterations
        self.connectivity = connectivity
        distance_scale, point_reach, smoothing, finer_grid, click_temperature = (
            for_dimension(v, self.image.ndim)
            for v in (distance_scale, point_reach, smoothing, finer_grid, click_temperature))
        network_grid((1,), (1,), 1, finer_grid)  # validates it
        self.finer_grid = finer_grid
        self.click_temperature = float(click_temperature)
        if not (math.isfinite(self.click_temperature) and self.click_temperature >= 1):
            raise ValueError("click_temperature must be >= 1 (1: the network's own probability), "
                             "got {}".format(click_temperature))
        self.click_temperature_max_voxels = int(click_temperature_max_voxels)
        self.distance_scale = float(distance_scale)
        if not self.distance_scale > 0:
            raise ValueError("distance_scale must be > 0, got {}".format(distance_scale))
        click_reaches((1,) * self.image.ndim, None, reach, background_reach)  # validates both
        click_reaches((1,) * self.image.ndim, None, point_reach, None)
        self.reach, self.background_reach, self.point_reach = reach, background_reach, point_reach
        click_reach_mm((1,) * self.image.ndim, None, max_reach)  # validates it
        if not float(reach_growth) >= 0:
            raise ValueError("reach_growth must be >= 0 (0: fixed reaches), got {}".format(reach_growth))
        self.reach_growth, self.max_reach = float(reach_growth), float(max_reach)
        self.initial_fusion = bool(initial_fusion)
        self.border_mm = float(border_mm)
        if not (math.isfinite(self.border_mm) and self.border_mm >= 0):
            raise ValueError("border_mm must be a distance >= 0 in mm (0: off), got {}".format(border_mm))
        self.smoothing = float(smoothing)
        if not self.smoothing >= 0:
            raise ValueError("smoothing must be a Gaussian sigma >= 0 (voxels), got {}".format(smoothing))
        self.exact = bool(exact)
        self._history = []
        # Distance maps of the clicks on the current working region (see refine_ifgc's `cache`).
        self._cache = {"box": None}
        # The softened CNN probabilities of the current session, by temperatures (see _click_probability).
        self._softened = {}

    # -- session -----------------------------------------------------------------

    @property
    def result(self):
        """The current Result, or None before :meth:`initial`."""
        return self._history[-1].result if self._history else None

    @property
    def clicks(self):
        """The current clicks: dict with "points", "foreground", "background" arrays (N, ndim)."""
        empty = np.zeros((0, self.image.ndim))
        if not self._history:
            return {"points": empty, "foreground": empty, "background": empty}
        state = self._history[-1]
        return {"points": state.points, "foreground": state.foreground, "background": state.background}

    @property
    def history(self):
        """The clicks of every state of the undo history, oldest first: a list of dicts like :attr:`clicks`.

        This history is the session's only one: :class:`~MIDeepSegLib.session.ClickSession`
        reads it instead of keeping its own.
        """
        return [{"points": s.points, "foreground": s.foreground, "background": s.background}
                for s in self._history]

    def initial(self, points):
        """Segment from interior margin points (a new object: earlier clicks are dropped).

        Parameters
        ----------
        points : (N, ndim) array_like
            Voxel coordinates inside the object, near its boundary, array
            order; at least MIN_POINTS[ndim] distinct voxels.

        Returns
        -------
        Result (probability = the CNN's foreground probability).
        """
        if self.network is None:
            raise RuntimeError("this session has no model: begin it with start(points, probability)")
        ndim = self.image.ndim
        points = check_points(points, self.image.shape, name="points")
        distinct = len(np.unique(np.rint(points), axis=0))
        if distinct < MIN_POINTS[ndim]:
            raise ValueError(
                "need at least {} distinct interior margin points in {}D, got {}: they should lie just inside "
                "the object's boundary, around it (near its extreme points), so that their box covers the "
                "object".format(MIN_POINTS[ndim], ndim, distinct))
        if ndim == 3 and min(self.image.shape) > 1:  # a one-slice volume has no other plane to click on
            _check_points_span_3d(points, self.spacing)
        start = time.perf_counter()
        timings = {}
        box, sides = object_region(points, self.image.shape, self.spacing, self.margin_mm,
                                   BORDER_VOXELS if self.border_mm > 0 else 0)
        crop = self._crop(box)
        local = shift_points(points, box)
        timings["crop"] = time.perf_counter() - start

        import torch  # deferred: torch on first use: the package imports without it

        tick = time.perf_counter()
        # Where the object runs out of the image, the network sees it go on (mirrored) past the border.
        pads = border_pads(sides, self.spacing, self.border_mm)
        net_crop, net_points = mirror_pad(crop, local, pads) if sides.any() else (crop, local)
        grid = network_grid(net_crop.shape, self.config.input_size, self.config.size_multiple,
                            self.finer_grid)
        inputs = network_input(net_crop, net_points, self.spacing, grid,
                               encoding=self.config.encoding, normalisation=self.config.normalisation,
                               device=self.device)
        timings["egd"] = time.perf_counter() - tick

        tick = time.perf_counter()
        with torch.no_grad():
            logits = self.network(torch.from_numpy(inputs)[None].to(self.device))
            grid_probability = torch.softmax(logits.float(), dim=1)[0, 1].cpu().numpy()
        timings["cnn"] = time.perf_counter() - tick

        tick = time.perf_counter()
        probability = resize(grid_probability, net_crop.shape)
        if sides.any():
            probability = np.ascontiguousarray(probability[tuple(slice(lo, lo + n) for (lo, _), n in
                                                                 zip(pads, crop.shape))])
        probability = np.clip(probability, 0.0, 1.0, out=probability)
        self._cache = {"box": None}
        if not self.exact and self.refinement == "ifgc":
            # The interior margin points are foreground seeds of every refinement of this region:
            # their distance maps now (counted in "postprocess"), so that a click computes only its own.
            self._cache = {"box": box, "refine": {}, "crop": crop}
            prepare_cache(crop, local, self.spacing, iterations=self.iterations, device=self.device,
                          reach_mm=click_reach_mm(crop.shape, self.spacing, self.point_reach),
                          smoothing=self.smoothing, cache=self._cache["refine"])
        if self.initial_fusion and self.refinement == "ifgc":
            # The network under-segments real organs (precision ~0.9, recall ~0.6 on the tuning organs):
            # the points' geodesic evidence extends the mask through the homogeneous organ around them.
            refined = self._refine_crop(crop, probability, local, np.zeros((0, ndim)), np.zeros((0, ndim)))
            mask = _components_at(refined.mask, local)
            timings.update(refined.timings)  # also counted in "postprocess"
        else:
            mask = _components_at(probability >= 0.5, local)
        timings["postprocess"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - start

        result = Result(self.image.shape, box, mask, probability, timings)
        empty = np.zeros((0, ndim))
        self._history.append(_State(points, empty, empty, box, probability, result))
        return result

    def start(self, points, probability):
        """Begin a session from a given foreground probability instead of the network's.

        For evaluating the refinement where no trained network exists (a
        stand-in probability, see :func:`~MIDeepSegLib.evaluation.user.stand_in_probability`):
        the relaxed box of `points` is the region, the probability's
        components >= 0.5 that hold a point are the mask, and :meth:`refine`
        continues from there as after :meth:`initial`.

        Parameters
        ----------
        points : (N, ndim) array_like
            Interior margin points, voxel coordinates, array order.
        probability : float array_like, image shape
            Foreground probability in [0, 1]; only its values inside the region are used.

        Returns
        -------
        Result (probability = the given one, inside the region).
        """
        points = check_points(points, self.image.shape, name="points")
        if len(points) == 0:
            raise ValueError("points: need at least one interior margin point")
        probability = check_probability(probability, self.image.shape)
        start = time.perf_counter()
        self._cache = {"box": None}  # a new session: no earlier seeds' distance maps
        box = relaxed_bbox(points, self.image.shape, self.spacing, self.margin_mm)
        crop_probability = np.ascontiguousarray(probability[box], dtype=np.float32)
        mask = _components_at(crop_probability >= 0.5, shift_points(points, box))
        result = Result(self.image.shape, box, mask, crop_probability, {"total": time.perf_counter() - start})
        empty = np.zeros((0, self.image.ndim))
        self._history.append(_State(points, empty, empty, box, crop_probability, result))
        return result

    def refine(self, foreground=None, background=None):
        """Add refinement clicks and recompute the mask with IF-GC (paper Section 2.4).

        The clicks are added to the session's earlier ones; every refinement
        fuses *all* clicks (and the interior margin points, which count as
        foreground) with the CNN's probability, softened on the side the
        clicks contradict (`click_temperature`). Foreground clicks, and
        background clicks outside the current region, extend it by a margin
        around them (the CNN's probability there is 0, so only the clicks'
        evidence counts).

        Parameters
        ----------
        foreground, background : (N, ndim) array_like, optional
            New click positions, voxel coordinates, array order.

        Returns
        -------
        Result (probability = the fused R^f).
        """
        if not self._history:
            raise RuntimeError("call initial(points) before refine(): there is no segmentation to refine yet")
        state = self._history[-1]
        new_fg = check_points(foreground, self.image.shape, name="foreground")
        new_bg = check_points(background, self.image.shape, name="background")
        if len(new_fg) == 0 and len(new_bg) == 0:
            warnings.warn("refine() called without clicks; the result is unchanged", stacklevel=2)
            return state.result
        all_fg = np.vstack([state.foreground, new_fg])
        all_bg = np.vstack([state.background, new_bg])
        positives = np.rint(np.vstack([state.points, all_fg])).astype(int)
        clash = {tuple(p) for p in positives} & {tuple(p) for p in np.rint(all_bg).astype(int)}
        if clash:
            raise ValueError("a background click falls on the voxel of a foreground click or interior margin "
                             "point: {}".format(tuple(int(v) for v in sorted(clash)[0])))

        start = time.perf_counter()
        box = state.result.box
        # A background click inside the region needs no room around it (outside the region everything is
        # background already); growing the region would throw away the distance maps of earlier clicks.
        inside = np.array([all(b.start <= v < b.stop for v, b in zip(np.rint(click), box))
                           for click in new_bg], dtype=bool)
        for click in np.vstack([new_fg, new_bg[~inside]]):
            box = box_union(box, relaxed_bbox(click[None], self.image.shape, self.spacing, self.margin_mm))
        if self._cache.get("box") != box:
            self._cache = {"box": box, "refine": {}, "crop": self._crop(box)}
        crop = self._cache["crop"]
        clearance = self._clearance(state, new_fg, new_bg)
        cnn_probability = np.zeros(box_shape(box), np.float32)
        inner = tuple(slice(c.start - b.start, c.stop - b.start) for c, b in zip(state.cnn_box, box))
        if self.refinement == "ifgc" and cnn_probability.size <= self.click_temperature_max_voxels:
            cnn_probability[inner] = self._click_probability(state.cnn_probability, len(all_fg), len(all_bg))
        else:
            cnn_probability[inner] = state.cnn_probability
        timings = {"crop": time.perf_counter() - start}

        if self.refinement == "gc":  # Table 3's baseline: the clicks as hard constraints, no fusion
            refined = refine_gc(crop, cnn_probability, shift_points(np.vstack([state.points, all_fg]), box),
                                shift_points(all_bg, box), self.spacing, lam=self.lam, sigma=self.sigma,
                                connectivity=self.connectivity, smoothing=self.smoothing)
        else:
            refined = self._refine_crop(crop, cnn_probability, shift_points(state.points, box),
                                        shift_points(all_fg, box), shift_points(all_bg, box), clearance)
        timings.update(refined.timings)
        timings["total"] = time.perf_counter() - start
        result = Result(self.image.shape, box, refined.mask, refined.probability, timings)
        self._history.append(_State(state.points, all_fg, all_bg, state.cnn_box, state.cnn_probability, result,
                                    clearance, state.start))
        return result

    def undo(self):
        """Go back one interaction; returns the Result now current.

        Undoing the :meth:`initial` call leaves no segmentation (returns
        None). With nothing left to undo it raises ``RuntimeError``: a caller
        that undoes more often than it interacted has lost count of its
        clicks, and a silent None would hide that.
        """
        if not self._history:
            raise RuntimeError("nothing to undo: no initial() or refine() call is left in this session's history")
        self._history.pop()
        return self.result

    def reset(self):
        """Forget every click and result (the model stays loaded)."""
        self._history = []
        self._cache = {"box": None}
        self._softened = {}

    # -- helpers -----------------------------------------------------------------

    def _clearance(self, state, new_fg, new_bg):
        """`state`'s click clearances (:class:`_State`) with the new clicks'.

        A click's clearance is its distance in mm to the nearest voxel that had its label after
        :meth:`initial` (`state.start`), or to an earlier click of its kind if that is nearer: then it
        depends only on the clicks and not on the order of foreground and background clicks, and a
        session that replays them at once (:class:`~MIDeepSegLib.session.ClickSession`) gets the same
        reaches.

        A clearance larger than the initial object's radius counts as 0 (the fixed reach): such a
        click is not in the middle of a wide missed part next to the mask but on a part apart from it,
        such as a thin tail, whose width its distance says nothing about. Measured (issue 12): the
        organ tuning set's foreground clicks lay 0.14-0.9 radii from the initial mask, the Colin27
        deep grey structures' first clicks 1.0-2.5 radii, and a longer reach there leaked (+1 click
        0.776 -> 0.758).
        """
        first = state.start
        radius = _equivalent_radius_mm(first.mask_crop, self.spacing)
        # Beyond this a larger clearance would not raise the reach (unless clicks grow the region a lot).
        top = click_reach_mm(box_shape(first.box), self.spacing, self.max_reach) / max(self.reach_growth, 1.0)
        limit = max(top, radius) + max(self.spacing)
        clearance = {}
        for kind, earlier, new in (("fg", state.foreground, new_fg), ("bg", state.background, new_bg)):
            values = list(state.clearance[kind])
            for click in new:
                value = click_clearance_mm(first.mask_crop, first.box, click, kind == "fg", self.spacing, limit)
                if len(earlier):
                    value = min(value, float(np.sqrt(((((earlier - click) * self.spacing) ** 2).sum(1)).min())))
                values.append(value if value <= radius else 0.0)
                earlier = np.vstack([earlier, click])
            clearance[kind] = np.array(values, dtype=float)
        return clearance

    def _click_probability(self, probability, foreground_clicks, background_clicks):
        """The CNN's `probability` as the clicks' fusion sees it: softened on the side the clicks contradict.

        A foreground click says that the network missed part of the object where it was confident of the
        background, a background click that it leaked where it was confident of the object: that side
        gets the temperature ``click_temperature``. Each of the (at most three) variants is computed
        once per session (0.07 s on 12.5 M voxels).
        """
        key = tuple(self.click_temperature if n else 1.0 for n in (foreground_clicks, background_clicks))
        if key == (1.0, 1.0):
            return probability
        if self._softened.get("of") is not probability:  # a new initial(): a new network probability
            self._softened = {"of": probability}
        if key not in self._softened:
            self._softened[key] = soften(probability, *key)
        return self._softened[key]

    def _refine_crop(self, crop, probability, points, foreground, background, clearance=None):
        """IF-GC on the current working region with the session's settings (crop coordinates).

        `clearance`: the clicks' clearances in mm (:class:`_State`); none: every click has the fixed reach.
        """
        reaches = click_reaches(crop.shape, self.spacing, self.reach, self.background_reach)
        if clearance is not None and self.reach_growth > 0:
            top = click_reach_mm(crop.shape, self.spacing, self.max_reach)
            for key, kind in (("reach_mm", "fg"), ("background_reach_mm", "bg")):
                if reaches[key] is not None:
                    reaches[key] = np.clip(self.reach_growth * clearance[kind], reaches[key], max(reaches[key], top))
        return refine_ifgc(crop, probability, foreground, background, self.spacing, lam=self.lam, sigma=self.sigma,
                           iterations=self.iterations, device=self.device, connectivity=self.connectivity,
                           distance_scale=self.distance_scale, anchors=points, smoothing=self.smoothing,
                           anchor_reach_mm=click_reach_mm(crop.shape, self.spacing, self.point_reach),
                           exact=self.exact, cache=self._cache.get("refine"), **reaches)

    def _crop(self, box):
        crop = np.asarray(self.image[box], dtype=np.float32)
        # Checked here, where the values are used: NaN padding outside the field of view is harmless.
        if not np.isfinite(crop).all():
            raise ValueError("the image has {} NaN or infinite values in the region {} around the clicks; "
                             "fill them first".format(int((~np.isfinite(crop)).sum()),
                                                      tuple((s.start, s.stop) for s in box)))
        if crop.min() == crop.max():
            raise ValueError("the image is constant ({}) in the region {} around the clicks: there is no "
                             "boundary to find".format(float(crop.flat[0]), tuple((s.start, s.stop) for s in box)))
        return crop


def _check_session_image(image):
    """Validate without copying: the image may be a large volume."""
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError("image must be a numeric array, got dtype {}".format(arr.dtype))
    if np.iscomplexobj(arr):
        raise ValueError("image must be real-valued, got dtype {}".format(arr.dtype))
    if arr.ndim not in (2, 3):
        hint = " (a 4D or multi-channel image: pick one channel or time point first)" if arr.ndim > 3 else ""
        raise ValueError("image must be 2D (H, W) or 3D (D, H, W), got shape {}{}".format(arr.shape, hint))
    if arr.size == 0:
        raise ValueError("image is empty (shape {})".format(arr.shape))
    return arr


def _check_points_span_3d(points, spacing):
    """Refuse 3D interior margin points that lie in one plane.

    Points on one slice (or on any one plane) give a crop one slice thick
    along the plane's normal, and the network a flat cue map: the result is a
    thin pancake of the object. The 3D network was trained with points near
    the object's extreme points along every axis.
    """
    mm = np.asarray(points, dtype=float) * np.asarray(spacing)
    centred = mm - mm.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    thickness = float(np.abs(centred @ normal).max())
    # A quarter of the finest voxel: exact for points on one slice, and for clicks in one oblique view.
    if thickness > 0.25 * min(spacing):
        return
    axis = int(np.argmax(np.abs(normal)))
    where, option = "", "--axis z/y/x"
    if np.abs(normal[axis]) > 0.999:
        where = ", all on slice {} along array axis {} ({})".format(int(round(float(points[0][axis]))), axis,
                                                                    "zyx"[axis])
        option = "--axis " + "zyx"[axis]
    raise ValueError(
        "the {} interior margin points lie in one plane{}: in 3D they must span the object along every "
        "axis (put points near its extreme points on several slices: top, bottom, front, back, left, right). "
        "To segment one slice, use 2D mode: the CLI's {}, or the 2D model on the slice "
        "(Segmenter(slice, model='2d'))".format(len(points), where, option))


def _equivalent_radius_mm(mask, spacing):
    """Radius in mm of the ball (3D) or disc (2D) with the volume (area) of `mask`."""
    size = float(np.count_nonzero(mask)) * float(np.prod(spacing))
    return (size * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0) if mask.ndim == 3 else float(np.sqrt(size / np.pi))


def _components_at(mask, points):
    """Keep the connected components of `mask` that contain a point (all of it if none does)."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(np.uint8)
    idx = np.clip(np.rint(points).astype(int), 0, np.asarray(mask.shape) - 1)
    keep = np.unique(labels[tuple(idx.T)])
    keep = keep[keep > 0]
    if len(keep) == 0:
        return mask.astype(np.uint8)
    return np.isin(labels, keep).astype(np.uint8)


def _load_model(model, device):
    """(network, config) for a name, a path or an already loaded pair; cached per file and device."""
    from .model.checkpoint import ModelConfig, load_checkpoint, resolve_model  # deferred: loads torch

    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], ModelConfig):
        network, config = model
        return network.to(device).eval(), config
    path = resolve_model(model)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device))
    if key not in _MODEL_CACHE:
        for other in [k for k in _MODEL_CACHE if k[2] == key[2]]:  # one model per device: free the last one
            del _MODEL_CACHE[other]
        _MODEL_CACHE[key] = load_checkpoint(path, device=device)
    return _MODEL_CACHE[key]
