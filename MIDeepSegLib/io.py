"""Reading and writing images, masks and points, with their physical geometry.

This is the file-side edge of the package: images are read with SimpleITK,
which works in LPS physical coordinates (mm); everything returned is in the
package's conventions, i.e. numpy arrays and float voxel coordinates in *array
order* (``(y, x)`` for 2D, ``(z, y, x)`` for 3D). :class:`ImageGeometry` keeps
what is needed to go back: masks are written with exactly the input's origin,
spacing and direction, and points are written as 3D Slicer markups that line
up with the image in Slicer.

Supported files
---------------
Images
    Anything SimpleITK reads (NIfTI ``.nii``/``.nii.gz``, NRRD, MetaImage
    ``.mha``/``.mhd``, PNG, single DICOM files, ...) and DICOM series folders.
    Scalar (single-component) 2D and 3D images only.
Points (:func:`read_points`)
    * 3D Slicer markups, ``.mrk.json``: physical positions in LPS or RAS (the
      file's ``coordinateSystem``, LPS when absent), converted to voxels
      through the image geometry.
    * Plain JSON voxel coordinates: ``[[z, y, x], ...]`` (``[[y, x], ...]``
      in 2D), in array order; or ``{"points": [...], "order": "array"}``, where
      ``"order": "ijk"`` means ``(i, j, k)`` = ``(x, y, z)`` index order, as
      Slicer's Data Probe shows them.
"""

import dataclasses
import gzip
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ._checks import check_points, check_spacing
from .geometry import array_to_physical, ijk_to_physical_matrix, physical_to_array
from .outputs import check_image_format

#: "@schema" of the markups files written by :func:`write_points` (Slicer 5).
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
                  "Resources/Schema/markups-schema-v1.0.3.json#")

# A control point's orientation in an LPS file when it has none of its own
# (identity in RAS, which is what Slicer writes).
_LPS_IDENTITY_ORIENTATION = [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0]
_UNIT_TO_MM = {"mm": 1.0, "um": 1e-3}
# RAS <-> LPS: x and y change sign.
_FLIP_XY = np.array([-1.0, -1.0, 1.0])


@dataclasses.dataclass(frozen=True)
class ImageGeometry:
    """Where an image's voxels are in physical (LPS) space.

    Parameters
    ----------
    shape : tuple of int
        Array shape, array order: ``(H, W)`` or ``(D, H, W)``.
    spacing : tuple of float
        Voxel size per array axis, array order, mm.
    origin : tuple of float
        Physical position of voxel 0, LPS, mm, in ITK order ``(x, y[, z])``.
    direction : tuple of float
        ``ndim * ndim`` direction cosines, row-major as
        ``SimpleITK.Image.GetDirection()`` gives them: column c is the LPS
        direction of index axis c (i = array axis -1, j = -2, k = -3).

    Notes
    -----
    A 2D image lies in the z = 0 plane of physical space: :attr:`ijk_to_lps`
    and the point conversions embed it as a one-slice 3D volume, the way 3D
    Slicer loads a 2D file.
    """

    shape: tuple
    spacing: tuple
    origin: tuple
    direction: tuple

    def __post_init__(self):
        shape = tuple(int(s) for s in self.shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"shape must be 2 or 3 positive sizes (array order), got {self.shape}")
        ndim = len(shape)
        origin = tuple(float(v) for v in np.asarray(self.origin, dtype=float).ravel())
        direction = tuple(float(v) for v in np.asarray(self.direction, dtype=float).ravel())
        if len(origin) != ndim or not np.isfinite(origin).all():
            raise ValueError(f"origin must have {ndim} finite values (x, y[, z]), got {self.origin}")
        if len(direction) != ndim * ndim or not np.isfinite(direction).all() \
                or abs(np.linalg.det(np.reshape(direction, (ndim, ndim)))) < 1e-6:
            raise ValueError(f"direction must be {ndim * ndim} finite values of an invertible {ndim}x{ndim} "
                             f"matrix, got {self.direction}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", check_spacing(self.spacing, ndim))
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    @classmethod
    def default(cls, shape, spacing=None):
        """Geometry of an array with no physical placement: origin 0, axes aligned, `spacing`.

        `spacing` is one value per array axis, array order, mm (default 1).
        """
        ndim = len(shape)
        return cls(tuple(shape), check_spacing(spacing, ndim), (0.0,) * ndim, tuple(np.eye(ndim).ravel()))

    @classmethod
    def from_sitk(cls, image):
        """Geometry of a scalar 2D or 3D ``SimpleITK.Image``."""
        _check_sitk_image(image, "image")
        return cls(tuple(image.GetSize())[::-1], tuple(image.GetSpacing())[::-1],
                   image.GetOrigin(), image.GetDirection())

    @property
    def ndim(self):
        """int: 2 or 3."""
        return len(self.shape)

    @property
    def spacing_xyz(self):
        """tuple of float: voxel size in ITK order ``(x, y[, z])``, mm."""
        return tuple(reversed(self.spacing))

    @property
    def ijk_to_lps(self):
        """(4, 4) float64 ndarray: voxel index ``(i, j, k, 1)`` -> LPS ``(x, y, z, 1)``, mm.

        A 2D image is embedded as one slice at z = 0 with unit thickness.
        """
        if self.ndim == 3:
            return ijk_to_physical_matrix(self.origin, self.spacing_xyz, self.direction)
        direction = np.eye(3)
        direction[:2, :2] = np.reshape(self.direction, (2, 2))
        return ijk_to_physical_matrix(self.origin + (0.0,), self.spacing_xyz + (1.0,), direction)

    def array_to_lps(self, points):
        """Convert voxel coordinates (N, ndim), array order, to LPS positions (N, 3), mm."""
        points = np.asarray(points, dtype=float).reshape(-1, self.ndim)
        if self.ndim == 2:
            points = np.c_[np.zeros(len(points)), points]
        return array_to_physical(points, self.ijk_to_lps)

    def lps_to_array(self, points):
        """Convert LPS positions (N, 3), mm, to float voxel coordinates (N, ndim), array order.

        For a 2D image a point must lie within half a voxel of the image plane.
        Points are not rounded nor checked against the image bounds.
        """
        voxels = physical_to_array(np.asarray(points, dtype=float).reshape(-1, 3), self.ijk_to_lps)
        if self.ndim == 3:
            return voxels
        off_plane = np.abs(voxels[:, 0]) > 0.5
        if off_plane.any():
            distance_mm = float(np.abs(voxels[off_plane, 0]).max())
            raise ValueError(f"{int(off_plane.sum())} point(s) lie off the 2D image's plane, e.g. "
                             f"{distance_mm:.2f} mm away")
        return voxels[:, 1:]

    def _apply(self, image):
        image.SetSpacing(self.spacing_xyz)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


def _check_sitk_image(image, what):
    """Reject 4D and multi-component images, which MIDeepSeg cannot segment."""
    size = tuple(image.GetSize())
    if image.GetDimension() not in (2, 3):
        raise ValueError(
            f"{what} has {image.GetDimension()} dimensions (size {size}, ITK order x, y, z, ...); "
            "MIDeepSeg needs a 2D or 3D image: extract one volume first")
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise ValueError(
            f"{what} has {components} components per pixel (size {size}, e.g. RGB or a vector image); "
            "MIDeepSeg needs a single-component (grayscale) image: convert it first")


def read_image(path, *, dtype=np.float32, series_id=None):
    """Read a 2D or 3D scalar image and its geometry.

    Parameters
    ----------
    path : str or os.PathLike
        An image file SimpleITK can read (NIfTI, NRRD, MHA, PNG, DICOM, ...)
        or a folder holding a DICOM series.
    dtype : numpy dtype or None, keyword-only
        Type of the returned array; ``None`` keeps the file's pixel type.
    series_id : str, optional, keyword-only
        DICOM SeriesInstanceUID to read when `path` is a folder. By default
        the folder's only series, or the one with the most files (with a
        warning) when it holds several.

    Returns
    -------
    image : (H, W) or (D, H, W) ndarray
        Voxel values, array order.
    geometry : ImageGeometry

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        The file cannot be read, a folder holds no DICOM series, or the image
        is 4D or has several components per pixel.

    Notes
    -----
    NaN and infinite values are returned as they are in the file, NIfTI
    included (ITK's NIfTI reader turns them into 0; they are put back), so
    that :class:`~MIDeepSegLib.segmenter.Segmenter` refuses them where it
    would use them.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "no image file or DICOM folder at this path", str(path))
    if path.is_dir():
        image = _read_dicom_series(path, series_id)
    else:
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise ValueError(f"could not read image {path}: {_itk_reason(exc)}") from None
    _check_sitk_image(image, f"image {path}")
    array = sitk.GetArrayFromImage(image)
    if path.is_file():
        _restore_nifti_nonfinite(path, array)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array, ImageGeometry.from_sitk(image)


# NIfTI float data types: code -> numpy type name.
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def _restore_nifti_nonfinite(path, array):
    """Put a float NIfTI-1/-2 file's NaN and inf values back into `array` (ITK reads them as 0).

    `array` is ITK's array of the file: its C-order voxels are the file's
    voxels in order (ITK does not reorder NIfTI data). The data are streamed
    in chunks, so a large volume is not held twice in memory.
    """
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")) or array.dtype.kind != "f":
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(str(path), "rb") as stream:
        header = stream.read(540)
        for order in "<>":
            size = struct.unpack(order + "i", header[:4])[0]
            if size in (348, 540):
                break
        else:
            return
        if size == 348:  # NIfTI-1: dim int16[8] at 40, datatype at 70, vox_offset at 108, scl_slope, scl_inter
            dims = struct.unpack(order + "8h", header[40:56])
            datatype = struct.unpack(order + "h", header[70:72])[0]
            offset = int(struct.unpack(order + "f", header[108:112])[0])
            slope, inter = struct.unpack(order + "2f", header[112:120])
        else:  # NIfTI-2: datatype at 12, dim int64[8] at 16, vox_offset at 168, scl_slope, scl_inter
            datatype = struct.unpack(order + "h", header[12:14])[0]
            dims = struct.unpack(order + "8q", header[16:80])
            offset = struct.unpack(order + "q", header[168:176])[0]
            slope, inter = struct.unpack(order + "2d", header[176:192])
        count = int(np.prod([max(int(d), 1) for d in dims[1:dims[0] + 1]])) if 1 <= dims[0] <= 7 else 0
        if datatype not in _NIFTI_FLOATS or count != array.size:
            return
        dtype = np.dtype(order + _NIFTI_FLOATS[datatype])
        slope = slope if slope and np.isfinite(slope) else 1.0  # 0 means "no scaling" in NIfTI
        inter = inter if np.isfinite(inter) else 0.0
        flat = array.reshape(-1)  # a view: GetArrayFromImage gives a contiguous array
        stream.seek(offset)
        start, chunk = 0, (1 << 22) // dtype.itemsize
        while start < count:
            data = stream.read(min(count - start, chunk) * dtype.itemsize)
            values = np.frombuffer(data[:len(data) // dtype.itemsize * dtype.itemsize], dtype)
            if values.size == 0:
                break
            bad = np.flatnonzero(~np.isfinite(values))
            flat[start + bad] = values[bad] * slope + inter
            start += values.size


def _read_dicom_series(folder, series_id):
    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)))
    if not ids:
        raise ValueError(f"no DICOM series found in folder {folder}")
    if series_id is None:
        files = {i: reader.GetGDCMSeriesFileNames(str(folder), i) for i in ids}
        series_id = max(ids, key=lambda i: len(files[i]))
        if len(ids) > 1:
            warnings.warn(f"{folder} holds {len(ids)} DICOM series; reading {series_id} "
                          f"({len(files[series_id])} files). Pass series_id to choose another: {ids}",
                          stacklevel=3)
    elif series_id not in ids:
        raise ValueError(f"series_id {series_id!r} is not in {folder}; its series are {ids}")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series_id))
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise ValueError(f"could not read DICOM series {series_id} in {folder}: {_itk_reason(exc)}") from None


def _itk_reason(exc):
    """The informative part of an ITK exception: its last line, without the source-location prefix."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    return reason.split("sitk::ERROR:", 1)[-1].strip()


def _write(path, array, geometry, compress):
    if not isinstance(geometry, ImageGeometry):
        raise TypeError(f"geometry must be an ImageGeometry, got {type(geometry).__name__}")
    if array.shape != geometry.shape:
        raise ValueError(f"array shape {array.shape} does not match the geometry's shape {geometry.shape}")
    check_image_format(path, geometry, array.dtype)
    image = geometry._apply(sitk.GetImageFromArray(np.ascontiguousarray(array)))
    try:
        sitk.WriteImage(image, str(path), bool(compress))
    except RuntimeError as exc:
        raise ValueError(f"could not write {path}: {_itk_reason(exc)}") from None
    return Path(path)


def write_mask(path, mask, geometry, *, compress=True):
    """Write a mask as uint8 with exactly the geometry of the image it belongs to.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; the extension picks the format: ``.nii.gz``, ``.nii``,
        ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd`` for any image; ``.png`` or
        ``.tif`` only for a 2D image with unit spacing, zero origin and
        identity direction (those formats keep no geometry). Other formats
        raise ``ValueError`` (see :mod:`MIDeepSegLib.outputs`).
    mask : (H, W) or (D, H, W) array_like
        Boolean or integer labels in [0, 255] (a MIDeepSeg mask is {0, 1}),
        array order, with ``geometry.shape``.
    geometry : ImageGeometry
        From :func:`read_image` of the segmented image.
    compress : bool, keyword-only
        Compress where the format allows it.

    Returns
    -------
    pathlib.Path
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise ValueError(f"mask must be boolean or integer labels, got dtype {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > 255 or not np.array_equal(mask, np.round(mask))):
        raise ValueError("mask values must be integers in [0, 255], got values in [{}, {}]{}".format(
            mask.min(), mask.max(), "" if np.issubdtype(mask.dtype, np.integer) else
            " (a probability map? threshold it first)"))
    return _write(path, mask.astype(np.uint8), geometry, compress)


def write_image(path, image, geometry, *, compress=True):
    """Write an array (e.g. a float32 probability map) with `geometry`; see :func:`write_mask`."""
    image = np.asarray(image)
    if image.dtype == bool or image.dtype == np.float16:
        image = image.astype(np.uint8 if image.dtype == bool else np.float32)
    return _write(path, image, geometry, compress)


def _load_json(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no points file at this path", str(path))
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"points file {path} is not valid JSON: {exc}") from None


def _select_markup(markups, markup, path):
    if not isinstance(markups, list) or not markups or not all(isinstance(m, dict) for m in markups):
        raise ValueError(f"{path} has no markups list (\"markups\" must be a non-empty list of objects)")
    names = [m.get("name", "") for m in markups]
    if isinstance(markup, str):
        if markup not in names:
            raise ValueError(f"{path} has no markups list named {markup!r}; its lists are {names}")
        return markups[names.index(markup)]
    if isinstance(markup, bool) or not isinstance(markup, int) or not -len(markups) <= markup < len(markups):
        raise ValueError(
            f"markup must be a list name or an index below {len(markups)} for {path}, got {markup!r}")
    return markups[markup]


def _markup_lps(entry, path):
    """The defined control points of one markups list.

    Returns ``(lps, names, system)``: LPS positions (N, 3), mm; a name per
    point for messages (its label, id or index); the file's coordinate system.
    """
    system = entry.get("coordinateSystem", "LPS")
    if system not in ("LPS", "RAS"):
        raise ValueError(f"{path}: unsupported coordinateSystem {system!r} (LPS or RAS)")
    units = entry.get("coordinateUnits", "mm")
    units = units[0] if isinstance(units, list) and units else units
    if units not in _UNIT_TO_MM:
        raise ValueError(f"{path}: unsupported coordinateUnits {units!r} (mm or um)")
    points = entry.get("controlPoints") or []
    if not isinstance(points, list):
        raise ValueError(f"{path}: \"controlPoints\" must be a list of objects, got {type(points).__name__}")
    positions, names = [], []
    for index, point in enumerate(points):
        if not isinstance(point, dict):
            raise ValueError(f"{path}: control point {index + 1} is {point!r}, not an object with a \"position\"")
        name = _point_name(point, index)
        # Undefined / preview points have no meaningful position yet.
        if point.get("positionStatus", "defined") != "defined":
            continue
        position = point.get("position")
        if not isinstance(position, list) or len(position) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in position):
            raise ValueError(f"{path}: control point {name} has position {position!r}; expected 3 finite numbers "
                             f"({system}, {units})")
        positions.append(position)
        names.append(name)
    lps = np.asarray(positions, dtype=float).reshape(-1, 3) * _UNIT_TO_MM[units]
    if system == "RAS":
        lps = lps * _FLIP_XY  # RAS -> LPS flips x and y
    return lps, names, system


def _point_name(point, index):
    """How a control point is named in messages: number, and label or id when the file has one."""
    label = point.get("label") or point.get("id")
    return f"{index + 1} ({label!r})" if label else str(index + 1)


def _markup_voxels(lps, names, system, geometry, path):
    """Voxel coordinates of markups positions; points outside the image raise, with an LPS/RAS hint."""
    other = "RAS" if system == "LPS" else "LPS"

    def voxels_of(positions):
        voxels = geometry.lps_to_array(positions)  # raises for a 2D image's off-plane points
        upper = np.asarray(geometry.shape, dtype=float) - 0.5
        return voxels, ((voxels < -0.5) | (voxels > upper)).any(axis=1)

    try:
        voxels, outside = voxels_of(lps)
    except ValueError as exc:
        try:
            voxels_of(lps * _FLIP_XY)
            hint = f"; read as {other} they would lie on it: is the file's coordinateSystem ({system}) wrong?"
        except ValueError:
            hint = f" (read as {other} too)"
        raise ValueError(f"{path}: {exc}{hint}") from None
    if outside.any():
        try:
            inside_other = not voxels_of(lps * _FLIP_XY)[1].any()
        except ValueError:
            inside_other = False
        hint = (f"; read as {other} they would all lie inside: is the file's coordinateSystem ({system}) "
                f"wrong?" if inside_other else f"; read as {other} they would not lie inside either")
        bad = [names[i] for i in np.flatnonzero(outside)]
        position = (lps * _FLIP_XY if system == "RAS" else lps)[outside][0]  # as written in the file
        raise ValueError(
            f"{path}: {len(bad)} of {len(names)} point(s) lie outside the image of shape {geometry.shape}, e.g. "
            f"control point {bad[0]} at voxel {tuple(round(float(c), 1) for c in voxels[outside][0])} (array "
            f"order), {system} position {tuple(round(float(c), 1) for c in position)} mm{hint}")
    return voxels


def _plain_voxels(data, path):
    order = "array"
    if isinstance(data, dict):
        if "points" not in data:
            raise ValueError(f"{path} is neither a Slicer markups file (no \"markups\") nor a points file "
                             "(no \"points\")")
        order = data.get("order", "array")
        data = data["points"]
    if order not in ("array", "ijk"):
        raise ValueError(f"{path}: \"order\" must be \"array\" or \"ijk\", got {order!r}")
    try:
        points = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: points must be a list of [z, y, x] (3D) or [y, x] (2D) numbers") from None
    if points.ndim == 2 and order == "ijk":
        points = points[:, ::-1]
    return points


def read_points(path, geometry, *, markup=0):
    """Read points as float voxel coordinates of an image.

    Parameters
    ----------
    path : str or os.PathLike
        A 3D Slicer markups file (``.mrk.json``) or a plain JSON points file
        (see the module docstring).
    geometry : ImageGeometry
        Geometry of the image the points were placed on.
    markup : int or str, keyword-only
        Which markups list of a ``.mrk.json`` file to read: its index (default
        the first) or its ``"name"``. Only control points whose position is
        defined are read.

    Returns
    -------
    (N, ndim) float64 ndarray
        Voxel coordinates, array order (``(z, y, x)`` / ``(y, x)``), not
        rounded; voxel centres are integers.

    Raises
    ------
    ValueError
        Malformed file (naming the file and the point), unknown list, or
        points outside the image (for markups: saying whether they would lie
        inside if the file's LPS/RAS label were the other one).
    """
    if not isinstance(geometry, ImageGeometry):
        raise TypeError(f"geometry must be an ImageGeometry, got {type(geometry).__name__}")
    data = _load_json(path)
    if isinstance(data, dict) and "markups" in data:
        lps, names, system = _markup_lps(_select_markup(data["markups"], markup, path), path)
        points = _markup_voxels(lps, names, system, geometry, path)
    else:
        points = _plain_voxels(data, path)
    return check_points(points, geometry.shape, name=f"points in {path}")


def write_points(path, points, geometry, *, name="MIDeepSeg", color=None, labels=None):
    """Write voxel coordinates as a 3D Slicer point list (``.mrk.json``, LPS).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; Slicer recognises markups by the ``.mrk.json`` extension.
    points : (N, ndim) array_like
        Float voxel coordinates, array order, inside the image.
    geometry : ImageGeometry
        Geometry of the image the points belong to.
    name : str, keyword-only
        Name of the point list; labels default to ``"<name>-<1-based index>"``.
    color : (3,) sequence of float in [0, 1], optional, keyword-only
        RGB colour of the points in Slicer (default: Slicer's own).
    labels : sequence of str, optional, keyword-only
        One label per point.

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(geometry, ImageGeometry):
        raise TypeError(f"geometry must be an ImageGeometry, got {type(geometry).__name__}")
    points = check_points(points, geometry.shape, name="points")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    if labels is None:
        labels = [f"{name}-{i + 1}" for i in range(len(points))]
    labels = [str(label) for label in labels]
    if len(labels) != len(points):
        raise ValueError(f"labels must have one entry per point ({len(points)}), got {len(labels)}")
    entry = {
        "type": "Fiducial",
        "name": name,
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(points),
        "controlPoints": [
            {"id": str(i + 1), "label": label, "description": "", "associatedNodeID": "",
             "position": [float(v) for v in position], "orientation": list(_LPS_IDENTITY_ORIENTATION),
             "selected": True, "locked": False, "visibility": True, "positionStatus": "defined"}
            for i, (label, position) in enumerate(zip(labels, geometry.array_to_lps(points)))],
        "measurements": [],
    }
    if color is not None:
        rgb = np.asarray(color, dtype=float).ravel()
        if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 1)):
            raise ValueError(f"color must be 3 numbers in [0, 1] (RGB), got {color!r}")
        # Slicer draws selected points (all of ours) in selectedColor, the others in color.
        entry["display"] = {"color": rgb.tolist(), "selectedColor": rgb.tolist()}
    path = Path(path)
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"@schema": MARKUPS_SCHEMA, "markups": [entry]}, stream, indent=4)
        stream.write("\n")
    return path
