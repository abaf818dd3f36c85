#!/usr/bin/env bash
# Fetch the real development cases that can be had on a machine with only PyPI and Debian:
#
#   1. Debian's mricron-data -> /usr/share/mricron/templates: the Colin27 T1 MRI with the AAL
#      labels and its brain mask (`mideepseg validate` and `mideepseg benchmark --cases colin27`).
#   2. The MNI152 2009 T1 template with its grey / white matter probability maps, shipped inside
#      the nilearn wheel (downloaded with pip, not installed) -> a folder data set under
#      data/mni152 (imagesTr/ + labelsTr/) with two objects the networks never saw as targets:
#      the lateral ventricles (tissue probability < 0.3, 8 mm inside the brain, largest part) and
#      the whole brain (grey + white > 0.5, holes filled), one label file each.
#      `mideepseg benchmark --cases data/mni152/ventricles` (or .../brain: 1.7 M voxels, slow in 3D).
#   3. Real organs: the test references inside the totalsegmentator 2.18.0 source archive on PyPI
#      (downloaded with pip, not installed or built) -> folder data sets data/organs/report (the 13
#      organs of issue 12: abdominal CT, contrast CT DICOM series, MR abdomen, CTA) and
#      data/organs/tune (other structures of the same images, for choosing settings) and
#      data/organs/check (15 more, for checking those choices before they ship), one binary
#      label file per organ (scripts/prepare_organs.py says which).
#      `mideepseg benchmark --cases data/organs/report`.
#
# Usage: scripts/fetch_data.sh [DEST]        (DEST default: data/; it is git-ignored)
# Needs: root (or sudo) for apt-get; PYTHON (default .venv/bin/python) with MIDeepSegLib.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-data}
PY=${PYTHON:-$PWD/.venv/bin/python}
NILEARN_VERSION=0.14.1
TOTALSEG_VERSION=2.18.0

if [ ! -f /usr/share/mricron/templates/ch2.nii.gz ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq mricron-data
fi
echo "Colin27 + AAL: /usr/share/mricron/templates"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --no-deps --quiet -d "$work" "nilearn==$NILEARN_VERSION"
"$PY" -m zipfile -e "$work"/nilearn-*.whl "$work" >/dev/null
"$PY" - "$work/nilearn/datasets/data" "$DEST/mni152" <<'EOF'
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from MIDeepSegLib.core.components import largest_component
from MIDeepSegLib.io import read_image, write_image, write_mask

source, dest = Path(sys.argv[1]), Path(sys.argv[2])
name = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
t1, geometry = read_image(source / name.format("t1"))
tissue = (read_image(source / name.format("gm"))[0] + read_image(source / name.format("wm"))[0]) / 255.0
brain = ndimage.binary_fill_holes(largest_component(tissue > 0.5))
ventricles = largest_component(ndimage.binary_erosion(brain, iterations=8) & (tissue < 0.3))
for case, mask in (("ventricles", ventricles), ("brain", brain)):
    (dest / case / "imagesTr").mkdir(parents=True, exist_ok=True)
    (dest / case / "labelsTr").mkdir(parents=True, exist_ok=True)
    write_image(dest / case / "imagesTr" / "mni152.nii.gz", t1, geometry)
    write_mask(dest / case / "labelsTr" / "mni152.nii.gz", mask, geometry)
    print("{}: {} voxels -> {}".format(case, int(mask.sum()), dest / case))
EOF

# pip prepares the source archive's metadata (a build environment) but installs nothing.
"$PY" -m pip download --no-deps --no-binary :all: --quiet -d "$work" "totalsegmentator==$TOTALSEG_VERSION"
tar -xzf "$work"/totalsegmentator-"$TOTALSEG_VERSION".tar.gz -C "$work"
ts="$work/totalsegmentator-$TOTALSEG_VERSION"
"$PY" scripts/prepare_organs.py "$ts/tests/reference_files" "$ts/totalsegmentator/map_to_binary.py" "$DEST/organs"
