"""Connected components of masks: the largest one (ground truths, training targets, augmented masks)."""

import numpy as np
from scipy import ndimage


def largest_component(mask):
    """The largest connected component (face connectivity) of a bool mask; empty stays empty.

    Parameters
    ----------
    mask : bool array_like, (H, W) or (D, H, W)

    Returns
    -------
    bool ndarray, the mask's shape.

    Examples
    --------
    >>> largest_component([0, 1, 0, 1, 1]).astype(int).tolist()
    [0, 0, 0, 1, 1]
    """
    mask = np.asarray(mask, dtype=bool)
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return components == (int(np.argmax(sizes)) + 1)
