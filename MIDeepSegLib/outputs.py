"""Output files that never lose data: format, path and overwrite checks, all-or-nothing writes.

:func:`check_image_format` refuses a file format that cannot hold an image's
dimension, geometry or value type (a 3D mask as PNG, an oblique one as TIFF).
:func:`check_output_paths` checks a command's output paths before any work:
folder exists and is writable, no output is an input or another output, no
existing file is replaced unless asked. :func:`write_all` writes every file
under a temporary name in its own folder and renames them only once all are
written, so a failure leaves none of them (and no half-written file).
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

#: Formats that hold 2D and 3D images with spacing, origin and direction,
#: uint8 masks and float32 maps alike.
GEOMETRY_FORMATS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
#: Picture formats: 2D only, no origin nor direction; value types they hold.
PICTURE_FORMATS = {".png": ("uint8",), ".tif": ("uint8", "float32"), ".tiff": ("uint8", "float32")}
#: Formats that change a mask's values (lossy) or read back as RGB.
_REFUSED = {".jpg": "lossy compression changes the mask's values", ".jpeg": "lossy compression changes the "
            "mask's values", ".bmp": "it reads back as an RGB image"}
_MARKUPS = ".mrk.json"


def image_format(path):
    """The output format of `path`: its extension, lower case (``".nii.gz"`` counts as one).

    Raises ``ValueError`` for an extension that is not in :data:`GEOMETRY_FORMATS` or
    :data:`PICTURE_FORMATS`.
    """
    name = Path(path).name.lower()
    for ext in GEOMETRY_FORMATS + tuple(PICTURE_FORMATS) + tuple(_REFUSED):
        if name.endswith(ext):
            return ext
    raise ValueError("{}: unknown output image format {!r}; use one of {}".format(
        path, Path(path).suffix or "(no extension)", ", ".join(GEOMETRY_FORMATS)))


def check_image_format(path, geometry, dtype):
    """Raise ``ValueError`` unless `path`'s format holds this image exactly.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its extension picks the format.
    geometry : ImageGeometry
        Shape (2D or 3D), spacing, origin and direction to keep.
    dtype : numpy dtype
        Value type to write (uint8 for masks, float32 for probability maps).
    """
    ext = image_format(path)
    if ext in GEOMETRY_FORMATS:
        return
    holds = "write {} instead".format(", ".join(GEOMETRY_FORMATS))
    if ext in _REFUSED:
        raise ValueError("{}: {} is not accepted for output because {}; {}".format(path, ext, _REFUSED[ext], holds))
    if geometry.ndim != 2:
        raise ValueError("{}: a {} file holds a 2D picture, but this result is {}D {}; {}".format(
            path, ext, geometry.ndim, geometry.shape, holds))
    plain = (np.allclose(geometry.spacing, 1.0) and np.allclose(geometry.origin, 0.0)
             and np.allclose(geometry.direction, np.eye(2).ravel()))
    if not plain:
        raise ValueError("{}: a {} file keeps no origin, direction or exact spacing, and this image has spacing {} "
                         "mm, origin {}, direction {}; {}".format(path, ext, geometry.spacing, geometry.origin,
                                                                  geometry.direction, holds))
    if np.dtype(dtype).name not in PICTURE_FORMATS[ext]:
        raise ValueError("{}: a {} file cannot hold {} values; {}".format(path, ext, np.dtype(dtype).name, holds))


def check_output_paths(outputs, inputs=(), overwrite=False):
    """Check output paths before any work is done.

    Parameters
    ----------
    outputs : sequence of (str, path)
        ``(what, path)`` per output file, e.g. ``("--out", "mask.nii.gz")``;
        image outputs must have a known format (:func:`image_format`), point
        lists end in ``.mrk.json``.
    inputs : sequence of (str, path)
        The files the command reads; no output may be one of them.
    overwrite : bool
        Whether existing output files may be replaced.

    Raises
    ------
    ValueError
        An output is an input or another output, exists (without
        `overwrite`), is a folder, or its folder is missing or not writable.
    """
    seen = {}
    for what, path in outputs:
        path = Path(path)
        for input_what, input_path in inputs:
            if input_path is not None and _same_file(path, Path(input_path)):
                raise ValueError("{} {} is the {} file: refusing to write over an input".format(
                    what, path, input_what))
        key = os.path.normcase(os.path.realpath(str(path)))
        if key in seen:
            raise ValueError("{} and {} name the same file {}".format(seen[key], what, path))
        seen[key] = what
        if path.is_dir():
            raise ValueError("{} {} is a folder; give a file name".format(what, path))
        if not path.name.lower().endswith(_MARKUPS):
            image_format(path)
        folder = path.parent
        if not folder.is_dir():
            raise ValueError("{} {}: the folder {} does not exist".format(what, path, folder))
        if not os.access(str(folder), os.W_OK | os.X_OK):
            raise ValueError("{} {}: the folder {} is not writable".format(what, path, folder))
        if path.exists() and not overwrite:
            raise ValueError("{} {} exists; give --overwrite to replace it".format(what, path))


def _same_file(a, b):
    if a.exists() and b.exists():
        return os.path.samefile(str(a), str(b))
    return os.path.normcase(os.path.realpath(str(a))) == os.path.normcase(os.path.realpath(str(b)))


def write_all(writers, overwrite=False):
    """Write several files all or nothing.

    Parameters
    ----------
    writers : sequence of (path, callable)
        ``write(temporary_path)`` writes the file meant for ``path``; it is
        called with a path of the same name inside a temporary folder next to
        `path` (so formats with a separate data file, ``.mhd``/``.nhdr``,
        keep their internal reference).
    overwrite : bool
        Whether files that exist may be replaced.

    Every file is written first; only then are they renamed into place
    (``os.replace``, atomic on one file system). If a write fails, the
    temporary files are removed and the error is raised: no output appears.

    Returns
    -------
    list of pathlib.Path
        The files now in place (data files of detached headers included).
    """
    staged = []
    try:
        for path, write in writers:
            path = Path(path)
            folder = Path(tempfile.mkdtemp(prefix=".mideepseg-", dir=str(path.parent)))
            staged.append((path.parent, folder))
            write(folder / path.name)
        moves = [(folder / name, parent / name) for parent, folder in staged for name in sorted(os.listdir(folder))]
        if not overwrite:
            for _, target in moves:
                if target.exists():
                    raise ValueError("{} exists; give --overwrite to replace it".format(target))
        for source, target in moves:
            os.replace(str(source), str(target))
        return [target for _, target in moves]
    finally:
        for _, folder in staged:
            shutil.rmtree(str(folder), ignore_errors=True)
