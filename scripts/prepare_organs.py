"""Organ folder data sets from the test references of the totalsegmentator source archive.

Usage: python scripts/prepare_organs.py REFERENCE_FILES MAP_TO_BINARY DEST

REFERENCE_FILES is ``tests/reference_files`` of the unpacked
``totalsegmentator-2.18.0`` source archive, MAP_TO_BINARY its
``totalsegmentator/map_to_binary.py`` (the class ids; read as text, the
package is not imported). Writes two folder data sets (imagesTr/ + labelsTr/,
one binary label file per organ, `mideepseg benchmark --cases DEST/report`):

* ``DEST/report``: the 13 organs of issue 12, the ones reported -- abdominal
  CT (3 mm): liver, spleen, both kidneys, urinary bladder; contrast CT DICOM
  series (0.98 x 0.98 x 2 mm, 20 slices): liver, spleen, stomach; MR abdomen
  (3 mm): liver, spleen; CTA (1.5 mm): heart, aorta, pulmonary artery.
* ``DEST/tune``: other structures of the same images, used to choose the
  refinement settings and never reported as results.
* ``DEST/check``: 15 more structures of the same images, a second set that is
  never reported: choices made on ``tune`` are checked on it before they ship.

The images are written once under ``DEST/sources`` and linked (relative
symlinks) from each case. The masks are the totalsegmentator models' outputs
shipped as test references: good, not manual. The DICOM mask (a NIfTI on a
y-flipped grid) and the CTA masks (on crops of the CTA) are resampled onto
their image's grid with nearest-neighbour interpolation (exact: same spacing).
"""

import ast
import os
import re
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

# image key -> (image path or DICOM folder, {organ: (label file, class map, class name or None = binary)})
REPORT = {
    "ct": ("example_ct.nii.gz", {
        "liver": ("example_seg_fast_force_split.nii.gz", "total", "liver"),
        "spleen": ("example_seg_fast_force_split.nii.gz", "total", "spleen"),
        "kidney_right": ("example_seg_fast_force_split.nii.gz", "total", "kidney_right"),
        "kidney_left": ("example_seg_fast_force_split.nii.gz", "total", "kidney_left"),
        "bladder": ("example_seg_fast_force_split.nii.gz", "total", "urinary_bladder")}),
    "dicom": ("example_ct_dicom", {
        "liver": ("example_seg_dicom.nii.gz", "total", "liver"),
        "spleen": ("example_seg_dicom.nii.gz", "total", "spleen"),
        "stomach": ("example_seg_dicom.nii.gz", "total", "stomach")}),
    "mr": ("example_mr_sm.nii.gz", {
        "liver": ("example_seg_mr.nii.gz", "total_mr", "liver"),
        "spleen": ("example_seg_mr.nii.gz", "total_mr", "spleen")}),
    "cta": ("aorta_report/example_ct.nii.gz", {
        "heart": ("pulmonary_report/models/heart.nii.gz", None, None),
        "aorta": ("aorta_report/test_result/models/aorta.nii.gz", None, None),
        "pulmonary_artery": ("pulmonary_report/models/pulmonary_artery.nii.gz", None, None)}),
}

TUNE = {
    "ct": ("example_ct.nii.gz", {
        name: ("example_seg_fast_force_split.nii.gz", "total", name)
        for name in ("stomach", "gallbladder", "inferior_vena_cava", "gluteus_maximus_left", "hip_left")}),
    "dicom": ("example_ct_dicom", {
        name: ("example_seg_dicom.nii.gz", "total", name) for name in ("aorta", "autochthon_left")}),
    "mr": ("example_mr_sm.nii.gz", {
        name: ("example_seg_mr.nii.gz", "total_mr", name) for name in ("kidney_right", "kidney_left", "stomach")}),
}

CHECK = {
    "ct": ("example_ct.nii.gz", {
        name: ("example_seg_fast_force_split.nii.gz", "total", name)
        for name in ("hip_right", "gluteus_medius_left", "iliopsoas_left", "femur_left", "sacrum", "vertebrae_L3",
                     "duodenum", "aorta")}),
    "dicom": ("example_ct_dicom", {
        name: ("example_seg_dicom.nii.gz", "total", name)
        for name in ("autochthon_right", "vertebrae_T12", "inferior_vena_cava", "pancreas")}),
    "mr": ("example_mr_sm.nii.gz", {
        name: ("example_seg_mr.nii.gz", "total_mr", name) for name in ("autochthon_right", "gallbladder", "pancreas")}),
}


def class_maps(path):
    """{"total": {id: name}, "total_mr": {...}} read from map_to_binary.py's text (no import)."""
    text = Path(path).read_text()
    maps = {}
    for key in ("total", "total_mr"):
        match = re.search(r'\n\s*"{}": (\{{.*?\n\s*\}})'.format(key), text, re.S)
        if match is None:
            raise ValueError("no class map {!r} in {}".format(key, path))
        maps[key] = ast.literal_eval(match.group(1))
    return maps


def read_source(path):
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        names = reader.GetGDCMSeriesFileNames(str(path))
        if not names:
            raise FileNotFoundError(2, "no DICOM series", str(path))
        reader.SetFileNames(names)
        return reader.Execute()
    return sitk.ReadImage(str(path))


def on_grid(label, image):
    """`label` resampled onto `image`'s grid (nearest neighbour, 0 outside)."""
    return sitk.Resample(label, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, label.GetPixelID())


def main(reference, map_path, dest):
    reference, dest = Path(reference), Path(dest)
    maps = class_maps(map_path)
    images = {}
    (dest / "sources").mkdir(parents=True, exist_ok=True)
    for subset, table in (("report", REPORT), ("tune", TUNE), ("check", CHECK)):
        for folder in ("imagesTr", "labelsTr"):
            (dest / subset / folder).mkdir(parents=True, exist_ok=True)
        for key, (source, organs) in table.items():
            if key not in images:
                image = read_source(reference / source)
                image = sitk.Cast(image, sitk.sitkInt16)
                sitk.WriteImage(image, str(dest / "sources" / (key + ".nii.gz")), useCompression=True)
                images[key] = image
            image = images[key]
            for organ, (label_file, class_map, class_name) in organs.items():
                label = on_grid(read_source(reference / label_file), image)
                values = sitk.GetArrayFromImage(label)
                if class_map is None:
                    mask = values > 0
                else:
                    ids = [k for k, v in maps[class_map].items() if v == class_name]
                    if len(ids) != 1:
                        raise ValueError("{} is not one class of {}".format(class_name, class_map))
                    mask = values == ids[0]
                if not mask.any():
                    raise ValueError("{} {}: empty mask".format(key, organ))
                out = sitk.GetImageFromArray(mask.astype(np.uint8))
                out.CopyInformation(image)
                name = "{}_{}.nii.gz".format(key, organ)
                sitk.WriteImage(out, str(dest / subset / "labelsTr" / name), useCompression=True)
                link = dest / subset / "imagesTr" / name
                if link.is_symlink() or link.exists():
                    link.unlink()
                os.symlink(os.path.relpath(dest / "sources" / (key + ".nii.gz"), link.parent), link)
                print("{}/{}: {} voxels, shape {}, spacing {}".format(
                    subset, name, int(mask.sum()), mask.shape,
                    tuple(round(s, 3) for s in reversed(image.GetSpacing()))))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    main(*sys.argv[1:])
