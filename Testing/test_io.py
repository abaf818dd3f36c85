"""Tests for MIDeepSegLib.io: images, masks and points on real files with oblique geometry."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import euler_rotation
from MIDeepSegLib.io import (
    MARKUPS_SCHEMA,
    ImageGeometry,
    read_image,
    read_points,
    write_image,
    write_mask,
    write_points,
)

SPACING_XYZ = (0.7, 0.8, 2.5)      # anisotropic: thick slices
ORIGIN = (10.0, -20.0, 30.0)
# Array-order voxels with a known answer; the last one is a voxel corner of the volume.
KNOWN_VOXELS = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0.0, 0.0, 0.0], [5.0, 6.0, 7.0]])


DIRECTION = euler_rotation(20, 10, 5)


def _oblique_volume():
    """A 6 x 7 x 8 (z, y, x) int16 volume with anisotropic spacing and an oblique direction."""
    array = (np.arange(6 * 7 * 8).reshape(6, 7, 8) * 3 - 100).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_XYZ)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION.ravel().tolist())
    return array, image


def _lps_of(image, voxels):
    """LPS positions of array-order voxels, computed independently by SimpleITK."""
    return np.array([image.TransformContinuousIndexToPhysicalPoint([float(c) for c in v[::-1]])
                     for v in voxels])


def _write_dicom_series(image, folder, series_uid, first=0, count=None):
    """Write `image` as one DICOM file per slice (the tags GDCM needs to rebuild the geometry)."""
    folder.mkdir(exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = image.GetDirection()
    count = image.GetDepth() if count is None else count
    for k in range(first, first + count):
        slice_ = image[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.1",
            "0020|000e": series_uid,
            "0020|0037": "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
        }
        for tag, value in tags.items():
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{series_uid[-3:]}_{k:03d}.dcm"))
        writer.Execute(slice_)


def _markups(positions, system="LPS", **entry):
    points = [{"id": str(i + 1), "label": f"P-{i + 1}", "position": list(map(float, p)),
               "positionStatus": "defined"} for i, p in enumerate(positions)]
    markup = {"type": "Fiducial", "coordinateUnits": "mm", "controlPoints": points}
    if system is not None:
        markup["coordinateSystem"] = system
    markup.update(entry)
    return markup


def _write_json(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def volume_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("volumes")
    array, image = _oblique_volume()
    paths = {}
    for ext in (".nii.gz", ".nrrd", ".mha"):
        paths[ext] = folder / ("vol" + ext)
        sitk.WriteImage(image, str(paths[ext]))
    paths["dicom"] = folder / "dicom"
    _write_dicom_series(image, paths["dicom"], "1.2.826.0.1.3680043.2.1125.1.234")
    return array, image, paths


@pytest.mark.parametrize("kind", [".nii.gz", ".nrrd", ".mha", "dicom"])
def test_read_image_keeps_values_and_geometry(volume_files, kind):
    array, image, paths = volume_files
    data, geometry = read_image(paths[kind])
    assert data.dtype == np.float32 and data.shape == (6, 7, 8)
    np.testing.assert_array_equal(data, array)
    assert geometry.shape == (6, 7, 8)
    np.testing.assert_allclose(geometry.spacing, SPACING_XYZ[::-1], atol=1e-5)
    np.testing.assert_allclose(geometry.spacing_xyz, SPACING_XYZ, atol=1e-5)
    np.testing.assert_allclose(geometry.origin, ORIGIN, atol=1e-4)
    np.testing.assert_allclose(np.reshape(geometry.direction, (3, 3)), DIRECTION, atol=1e-5)
    # The 4x4 matrix maps every voxel where SimpleITK puts it.
    homogeneous = np.c_[KNOWN_VOXELS[:, ::-1], np.ones(len(KNOWN_VOXELS))]
    np.testing.assert_allclose((homogeneous @ geometry.ijk_to_lps.T)[:, :3], _lps_of(image, KNOWN_VOXELS),
                               atol=1e-3)


def test_read_image_native_dtype(volume_files):
    data, _ = read_image(volume_files[2][".nrrd"], dtype=None)
    assert data.dtype == np.int16


@pytest.mark.parametrize("system", ["LPS", "RAS", None])
def test_markups_to_known_voxels(volume_files, tmp_path, system):
    _, image, paths = volume_files
    _, geometry = read_image(paths[".nrrd"])
    lps = _lps_of(image, KNOWN_VOXELS)
    positions = lps * [-1, -1, 1] if system == "RAS" else lps   # None: Slicer 5 default, LPS
    data = {"@schema": MARKUPS_SCHEMA, "markups": [_markups(positions, system)]}
    path = _write_json(tmp_path / "p.mrk.json", data)
    np.testing.assert_allclose(read_points(path, geometry), KNOWN_VOXELS, atol=1e-6)


def test_markups_list_selection_units_and_undefined_points(volume_files, tmp_path):
    _, image, paths = volume_files
    _, geometry = read_image(paths[".mha"])
    lps = _lps_of(image, KNOWN_VOXELS)
    background = _markups(lps[:2] * 1000, name="background", coordinateUnits="um")
    foreground = _markups(lps, name="foreground")
    unplaced = {"id": "9", "position": [0.0, 0.0, 0.0], "positionStatus": "undefined"}
    foreground["controlPoints"].append(unplaced)
    path = _write_json(tmp_path / "p.mrk.json", {"markups": [background, foreground]})
    np.testing.assert_allclose(read_points(path, geometry), KNOWN_VOXELS[:2], atol=1e-6)
    np.testing.assert_allclose(read_points(path, geometry, markup="foreground"), KNOWN_VOXELS, atol=1e-6)
    np.testing.assert_allclose(read_points(path, geometry, markup=-1), KNOWN_VOXELS, atol=1e-6)
    with pytest.raises(ValueError, match="no markups list named 'tumour'.*foreground"):
        read_points(path, geometry, markup="tumour")
    with pytest.raises(ValueError, match="index"):
        read_points(path, geometry, markup=5)


def test_points_outside_the_image_raise(volume_files, tmp_path):
    _, image, paths = volume_files
    _, geometry = read_image(paths[".mha"])
    far = _lps_of(image, [[20.0, 3.0, 3.0]])
    path = _write_json(tmp_path / "far.mrk.json", {"markups": [_markups(far)]})
    with pytest.raises(ValueError, match="far.mrk.json.*outside the image"):
        read_points(path, geometry)


def test_plain_json_voxel_points(tmp_path):
    geometry = ImageGeometry.default((6, 7, 8), spacing=(2.5, 0.8, 0.7))
    listed = _write_json(tmp_path / "list.json", KNOWN_VOXELS.tolist())
    np.testing.assert_array_equal(read_points(listed, geometry), KNOWN_VOXELS)
    ijk = _write_json(tmp_path / "ijk.json", {"points": KNOWN_VOXELS[:, ::-1].tolist(), "order": "ijk"})
    np.testing.assert_array_equal(read_points(ijk, geometry), KNOWN_VOXELS)
    bad_order = _write_json(tmp_path / "bad.json", {"points": [[1, 2, 3]], "order": "xyz"})
    with pytest.raises(ValueError, match="order"):
        read_points(bad_order, geometry)
    wrong_ndim = _write_json(tmp_path / "ndim.json", [[1, 2]])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        read_points(wrong_ndim, geometry)
    not_json = tmp_path / "broken.json"
    not_json.write_text("[[1, 2, 3]")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_points(not_json, geometry)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_points(tmp_path / "missing.json", geometry)


def test_write_points_is_a_slicer_point_list_and_round_trips(volume_files, tmp_path):
    _, image, paths = volume_files
    _, geometry = read_image(paths[".nii.gz"])
    points = np.array([[1.0, 2.0, 3.0], [2.5, 4.25, 6.0]])
    path = write_points(tmp_path / "clicks.mrk.json", points, geometry, name="foreground", color=(1, 0, 0))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["@schema"] == ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                               "Markups/Resources/Schema/markups-schema-v1.0.3.json#")
    (markup,) = data["markups"]
    assert markup["type"] == "Fiducial" and markup["coordinateSystem"] == "LPS"
    assert markup["name"] == "foreground" and markup["display"]["selectedColor"] == [1.0, 0.0, 0.0]
    first = markup["controlPoints"][0]
    assert first["id"] == "1" and first["label"] == "foreground-1" and first["positionStatus"] == "defined"
    assert len(first["orientation"]) == 9
    assert first["selected"] and first["visibility"] and not first["locked"]
    np.testing.assert_allclose([p["position"] for p in markup["controlPoints"]], _lps_of(image, points),
                               atol=1e-3)
    np.testing.assert_allclose(read_points(path, geometry), points, atol=1e-6)
    empty = write_points(tmp_path / "empty.mrk.json", np.zeros((0, 3)), geometry)
    assert read_points(empty, geometry).shape == (0, 3)
    with pytest.raises(ValueError, match="color"):
        write_points(tmp_path / "c.mrk.json", points, geometry, color=(2, 0, 0))
    with pytest.raises(ValueError, match="labels"):
        write_points(tmp_path / "l.mrk.json", points, geometry, labels=["a"])


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd", ".mha"])
def test_write_mask_keeps_geometry(volume_files, tmp_path, ext):
    _, image, paths = volume_files
    data, geometry = read_image(paths[ext])
    mask = data > 0
    out = write_mask(tmp_path / ("mask" + ext), mask, geometry)
    written = sitk.ReadImage(str(out))
    assert written.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), mask.astype(np.uint8))
    np.testing.assert_allclose(written.GetSpacing(), image.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(written.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), image.GetDirection(), atol=1e-5)


def test_write_mask_rejects_bad_masks(tmp_path):
    geometry = ImageGeometry.default((4, 5, 6))
    with pytest.raises(ValueError, match="shape"):
        write_mask(tmp_path / "m.nrrd", np.zeros((4, 5, 5), np.uint8), geometry)
    with pytest.raises(ValueError, match="probability"):
        write_mask(tmp_path / "m.nrrd", np.full((4, 5, 6), 0.5), geometry)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        write_mask(tmp_path / "m.nrrd", np.full((4, 5, 6), 300), geometry)
    # Labels beyond {0, 1} are kept; a probability map goes through write_image.
    labels = np.arange(120).reshape(4, 5, 6) % 3
    np.testing.assert_array_equal(read_image(write_mask(tmp_path / "l.nrrd", labels, geometry))[0], labels)
    probability = np.linspace(0, 1, 120, dtype=np.float32).reshape(4, 5, 6)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "p.nrrd", probability, geometry))[0],
                                  probability)


def test_2d_png_image_and_points(tmp_path):
    array = (np.arange(12 * 16).reshape(12, 16) % 251).astype(np.uint8)
    path = tmp_path / "slice.png"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    data, geometry = read_image(path, dtype=None)
    assert data.dtype == np.uint8 and data.shape == (12, 16) and geometry.ndim == 2
    np.testing.assert_array_equal(data, array)
    points = np.array([[3.0, 4.0], [11.0, 0.0]])
    clicks = write_points(tmp_path / "clicks.mrk.json", points, geometry)
    assert all(len(p["position"]) == 3 for p in json.loads(clicks.read_text(encoding="utf-8"))["markups"][0]["controlPoints"])
    np.testing.assert_allclose(read_points(clicks, geometry), points, atol=1e-9)
    mask = write_mask(tmp_path / "mask.png", data > 100, geometry)
    np.testing.assert_array_equal(read_image(mask, dtype=None)[0], (array > 100).astype(np.uint8))


def test_2d_oblique_mha_points(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((9, 10), np.float32))
    image.SetSpacing((0.5, 1.5))
    image.SetOrigin((-3.0, 7.0))
    angle = np.radians(30)
    image.SetDirection([np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)])
    path = tmp_path / "slice.mha"
    sitk.WriteImage(image, str(path))
    _, geometry = read_image(path)
    assert geometry.shape == (9, 10) and geometry.spacing == (1.5, 0.5)
    voxels = np.array([[2.0, 3.0], [8.0, 9.0]])
    xy = [image.TransformContinuousIndexToPhysicalPoint([float(c) for c in v[::-1]]) for v in voxels]
    on_plane = _write_json(tmp_path / "p.mrk.json", {"markups": [_markups([(x, y, 0.0) for x, y in xy])]})
    np.testing.assert_allclose(read_points(on_plane, geometry), voxels, atol=1e-9)
    off_plane = _write_json(tmp_path / "off.mrk.json", {"markups": [_markups([(xy[0][0], xy[0][1], 4.0)])]})
    with pytest.raises(ValueError, match="off the 2D image's plane"):
        read_points(off_plane, geometry)


def test_4d_and_multicomponent_images_are_rejected(tmp_path):
    four_d = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.float32), isVector=False), str(four_d))
    with pytest.raises(ValueError, match=r"4 dimensions \(size \(5, 4, 3, 2\)"):
        read_image(four_d)
    rgb = tmp_path / "photo.png"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((6, 7, 3), np.uint8), isVector=True), str(rgb))
    with pytest.raises(ValueError, match="3 components per pixel.*grayscale"):
        read_image(rgb)


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.nii.gz"):
        read_image(tmp_path / "absent.nii.gz")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(ValueError, match="no DICOM series"):
        read_image(empty)
    junk = tmp_path / "junk.nrrd"
    junk.write_text("not an image")
    with pytest.raises(ValueError, match="could not read image"):
        read_image(junk)


def test_dicom_folder_with_two_series(tmp_path):
    _, image = _oblique_volume()
    folder = tmp_path / "mixed"
    _write_dicom_series(image, folder, "1.2.826.0.1.3680043.2.1125.1.111")
    _write_dicom_series(image, folder, "1.2.826.0.1.3680043.2.1125.1.222", first=1, count=2)
    with pytest.warns(UserWarning, match="2 DICOM series"):
        data, _ = read_image(folder)
    assert data.shape == (6, 7, 8)
    data, _ = read_image(folder, series_id="1.2.826.0.1.3680043.2.1125.1.222")
    assert data.shape == (2, 7, 8)
    with pytest.raises(ValueError, match="series_id"):
        read_image(folder, series_id="1.2.3")


def test_geometry_validation():
    with pytest.raises(ValueError, match="shape"):
        ImageGeometry((4,), (1.0,), (0.0,), (1.0,))
    with pytest.raises(ValueError, match="spacing"):
        ImageGeometry((4, 5), (1.0, 0.0), (0.0, 0.0), (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="origin"):
        ImageGeometry((4, 5), (1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="direction"):
        ImageGeometry((4, 5), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0, 1.0, 0.0))
    geometry = ImageGeometry.default((4, 5, 6), spacing=(3.0, 1.0, 0.5))
    np.testing.assert_allclose(geometry.ijk_to_lps, np.diag([0.5, 1.0, 3.0, 1.0]))


# -- issue 15: malformed markups, LPS/RAS mix-ups, NaN in every format, output formats ---------------------


def test_malformed_control_points_name_the_file_and_the_point(volume_files, tmp_path):
    _, image, paths = volume_files
    geometry = read_image(paths[".nrrd"])[1]
    good = _lps_of(image, KNOWN_VOXELS[:2])
    not_objects = _write_json(tmp_path / "ints.mrk.json", {"markups": [_markups(good, controlPoints=[1, 2])]})
    with pytest.raises(ValueError, match=r"ints\.mrk\.json: control point 1 is 1, not an object"):
        read_points(not_objects, geometry)
    markup = _markups(good)
    markup["controlPoints"][1]["position"] = ["a", 0.0, 0.0]
    strings = _write_json(tmp_path / "strings.mrk.json", {"markups": [markup]})
    with pytest.raises(ValueError, match=r"strings\.mrk\.json: control point 2 \('P-2'\) has position \['a', "):
        read_points(strings, geometry)
    markup = _markups(good, controlPoints={"position": [0, 0, 0]})
    with pytest.raises(ValueError, match=r"cp\.mrk\.json: \"controlPoints\" must be a list"):
        read_points(_write_json(tmp_path / "cp.mrk.json", {"markups": [markup]}), geometry)
    markup = _markups(good)
    markup["controlPoints"][0]["position"] = [1.0, True, 2.0]
    with pytest.raises(ValueError, match=r"control point 1 \('P-1'\) has position"):
        read_points(_write_json(tmp_path / "bool.mrk.json", {"markups": [markup]}), geometry)


@pytest.mark.parametrize("written, labelled", [("RAS", "LPS"), ("LPS", "RAS")])
def test_points_in_the_other_coordinate_system_get_a_hint(volume_files, tmp_path, written, labelled):
    """Positions saved in one system but labelled with the other: the error says the other label fits."""
    _, image, paths = volume_files
    geometry = read_image(paths[".nrrd"])[1]
    lps = _lps_of(image, KNOWN_VOXELS)
    positions = lps * ([-1, -1, 1] if written == "RAS" else 1)
    path = _write_json(tmp_path / "mixed.mrk.json", {"markups": [_markups(positions, labelled)]})
    with pytest.raises(ValueError) as error:
        read_points(path, geometry)
    message = str(error.value)
    assert "mixed.mrk.json" in message and "outside the image" in message and "control point 1 ('P-1')" in message
    assert "read as {} they would all lie inside".format(written) in message
    # Genuinely outside in both systems: the message says so instead.
    far = _write_json(tmp_path / "far.mrk.json", {"markups": [_markups(lps + 500.0, labelled)]})
    with pytest.raises(ValueError, match="would not lie inside either"):
        read_points(far, geometry)


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".nhdr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_read_back_in_every_format(tmp_path, ext, dtype):
    """ITK reads NaN and inf in NIfTI files as 0; read_image returns them as the file holds them."""
    array = np.linspace(0, 1, 4 * 5 * 6).reshape(4, 5, 6).astype(dtype)
    array[3, 4, 5] = np.nan
    array[0, 1, 2] = np.inf
    array[2, 0, 1] = -np.inf
    path = tmp_path / ("nan" + ext)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    for kind in (None, np.float32):
        data = read_image(path, dtype=kind)[0]
        np.testing.assert_array_equal(data, array.astype(kind or dtype))  # NaN compare equal here


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg", ".bmp"])
def test_picture_formats_refused_for_3d_and_for_geometry(volume_files, tmp_path, ext):
    """A 3D mask as a picture (PNG wrote one all-zero slice), or a 2D one whose geometry a picture loses."""
    array, _, paths = volume_files
    data, geometry = read_image(paths[".nrrd"])
    with pytest.raises(ValueError, match=r"\.nii\.gz, \.nii, \.nrrd, \.nhdr, \.mha, \.mhd"):
        write_mask(tmp_path / ("mask" + ext), data > 0, geometry)
    slice_geometry = ImageGeometry((7, 8), (0.8, 0.7), (10.0, -20.0), (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="origin" if ext in (".png", ".tif") else ext):
        write_mask(tmp_path / ("slice" + ext), data[0] > 0, slice_geometry)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="unknown output image format '.vtk'"):
        write_mask(tmp_path / "mask.vtk", data > 0, geometry)


def test_plain_2d_pictures_still_written(tmp_path):
    """Formats that hold the result exactly stay allowed: PNG/TIFF masks, TIFF float maps, of a plain 2D image."""
    geometry = ImageGeometry.default((9, 10))
    mask = np.arange(90).reshape(9, 10) % 3 == 0
    for ext in (".png", ".tif"):
        np.testing.assert_array_equal(read_image(write_mask(tmp_path / ("m" + ext), mask, geometry))[0], mask)
    probability = np.linspace(0, 1, 90, dtype=np.float32).reshape(9, 10)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "p.tif", probability, geometry))[0], probability)
    with pytest.raises(ValueError, match="cannot hold float32"):
        write_image(tmp_path / "p.png", probability, geometry)
