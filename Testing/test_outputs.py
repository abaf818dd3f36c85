"""Tests for MIDeepSegLib.outputs: output path checks and all-or-nothing writes, on real files."""

import numpy as np
import pytest
import SimpleITK as sitk

from MIDeepSegLib.io import ImageGeometry, read_image, write_mask, write_points
from MIDeepSegLib.outputs import check_image_format, check_output_paths, image_format, write_all

GEOMETRY = ImageGeometry((4, 5, 6), (3.0, 0.8, 0.9), (1.0, 2.0, 3.0), np.eye(3)[[1, 0, 2]].ravel())
MASK = np.arange(120).reshape(4, 5, 6) % 2


def test_failed_write_leaves_no_file(tmp_path):
    """The mask is written, then the second file fails: neither appears, no temporary is left."""
    writers = [(tmp_path / "mask.nii.gz", lambda p: write_mask(p, MASK, GEOMETRY)),
               (tmp_path / "bad.nrrd", lambda p: write_mask(p, MASK[:2], GEOMETRY))]  # wrong shape: raises
    with pytest.raises(ValueError, match="does not match the geometry"):
        write_all(writers)
    assert list(tmp_path.iterdir()) == []


def test_all_files_written_with_detached_headers(tmp_path):
    """.mhd and .nhdr keep their data file next to them and its reference valid after the rename."""
    writers = [(tmp_path / "m.mhd", lambda p: write_mask(p, MASK, GEOMETRY)),
               (tmp_path / "n.nhdr", lambda p: write_mask(p, MASK, GEOMETRY)),
               (tmp_path / "p.mrk.json", lambda p: write_points(p, [[1.0, 2.0, 3.0]], GEOMETRY))]
    written = write_all(writers)
    assert {p.name for p in written} == {p.name for p in tmp_path.iterdir()}
    assert len(written) >= 5  # two headers, two data files, the point list
    for name in ("m.mhd", "n.nhdr"):
        data, geometry = read_image(tmp_path / name, dtype=None)
        np.testing.assert_array_equal(data, MASK)
        assert geometry == GEOMETRY


def test_existing_files_kept_without_overwrite(tmp_path):
    (tmp_path / "m.nii.gz").write_text("precious")
    with pytest.raises(ValueError, match="exists; give --overwrite"):
        write_all([(tmp_path / "m.nii.gz", lambda p: write_mask(p, MASK, GEOMETRY))])
    assert (tmp_path / "m.nii.gz").read_text() == "precious"
    write_all([(tmp_path / "m.nii.gz", lambda p: write_mask(p, MASK, GEOMETRY))], overwrite=True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "m.nii.gz"))), MASK)


def test_check_output_paths(tmp_path):
    image = tmp_path / "ct.nrrd"
    image.write_text("x")
    with pytest.raises(ValueError, match="--out .* is the image file: refusing to write over an input"):
        check_output_paths([("--out", tmp_path / "." / "ct.nrrd")], [("image", image)])
    with pytest.raises(ValueError, match="--out and --probability name the same file"):
        check_output_paths([("--out", tmp_path / "a.nrrd"), ("--probability", tmp_path / "a.nrrd")])
    with pytest.raises(ValueError, match="folder .*nodir does not exist"):
        check_output_paths([("--out", tmp_path / "nodir" / "a.nrrd")])
    with pytest.raises(ValueError, match="unknown output image format '.gz'"):
        check_output_paths([("--out", tmp_path / "a.gz")])
    check_output_paths([("--out", tmp_path / "a.nrrd"), ("--save-points", tmp_path / "s_points.mrk.json")],
                       [("image", image), ("--model", None)])


def test_formats():
    assert image_format("A.NII.GZ") == ".nii.gz" and image_format("x/y.mhd") == ".mhd"
    check_image_format("m.nii.gz", GEOMETRY, np.uint8)
    with pytest.raises(ValueError, match="holds a 2D picture, but this result is 3D"):
        check_image_format("m.tif", GEOMETRY, np.uint8)
