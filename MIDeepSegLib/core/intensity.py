"""Intensity normalisation: the two scales the pipeline needs.

* :func:`rescale_unit` maps a crop to [0, 1]. The geodesic distance and the
  graph cut's contrast term use it: Eq. 2 sums intensity changes and Eq. 11
  divides them by sigma = 0.1, so both assume a [0, 1] scale. (On a z-scored
  crop geodesic distances reach ~14 and exp(-D) is ~0 almost everywhere.)
* :func:`zscore` is the CNN's input normalisation (paper Section 2.5: the mean
  and standard deviation of the cropped image).
"""

import numpy as np

#: Percentiles used as the ends of the [0, 1] range; robust to a few extreme
#: voxels (metal in CT, vessels in MR) that would otherwise squash the contrast.
UNIT_PERCENTILES = (0.5, 99.5)


def rescale_unit(image, percentiles=UNIT_PERCENTILES):
    """Rescale intensities linearly to [0, 1] between two percentiles, clipping outside.

    Parameters
    ----------
    image : ndarray
        Any shape; usually the crop around the object.
    percentiles : (float, float)
        Low and high percentile mapped to 0 and 1. ``(0, 100)`` is min-max.

    Returns
    -------
    float32 ndarray, same shape, values in [0, 1]; all zeros for a constant image.
    """
    image = np.asarray(image, dtype=np.float32)
    low, high = np.percentile(image, percentiles)
    if not high > low:  # (nearly) constant: fall back to the full range
        low, high = float(image.min()), float(image.max())
    if not high > low:
        return np.zeros(image.shape, np.float32)
    out = (image - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def zscore(image):
    """Subtract the mean and divide by the standard deviation (float32).

    A constant image gives all zeros (the standard deviation is replaced by 1).
    """
    image = np.asarray(image, dtype=np.float32)
    std = float(image.std())
    return ((image - np.float32(image.mean())) / np.float32(std if std > 0 else 1.0)).astype(np.float32)
