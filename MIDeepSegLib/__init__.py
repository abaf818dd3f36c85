"""MIDeepSegLib: minimally interactive segmentation of medical images.

The pure-Python core of the MIDeepSeg 3D Slicer extension (Luo et al.,
"MIDeepSeg", Medical Image Analysis 2021). It never imports slicer, qt, ctk or
vtk, so the same code runs inside Slicer, from the ``mideepseg`` command line
and in the test-suite.

Conventions (the same everywhere in the package):

* arrays are numpy in *array order*: ``(y, x)`` for 2D and ``(z, y, x)`` for 3D;
* ``spacing`` is one positive number per array axis, in the same order, in mm;
* points are float voxel coordinates, shape ``(N, ndim)``, in array order;
* masks are ``uint8`` in {0, 1}; probabilities are ``float32`` in [0, 1].

Public names are imported lazily (PEP 562) so that ``import MIDeepSegLib``
works, and is instant, even where torch is not installed yet: the Slicer module
imports the package at start-up and only asks the user to install torch when a
name that needs it is first used.
"""

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "geodesic_distance": "core.geodesic",
    "cue_map": "core.cuemap",
    "egd": "core.cuemap",
    "ENCODINGS": "core.cuemap",
    "information_fusion": "core.fusion",
    "graph_cut": "core.graphcut",
    "refine_ifgc": "core.refinement",
    "refine_gc": "core.refinement",
    "dice": "core.metrics",
    "assd": "core.metrics",
    "hd95": "core.metrics",
    "interior_margin_points": "core.simulate",
    "relaxed_bbox": "core.crop",
    "refinement_click": "core.simulate",
    "Segmenter": "segmenter",
    "ClickSession": "session",
    "Result": "segmenter",
    "FolderDataset": "training.datasets",
    "ShapeSynthesis": "training.shapes",
    "LabelMapSynthesis": "training.labelmaps",
    "ExampleSampler": "training.sampler",
    "train": "training.loop",
    "validate_unseen": "evaluation.validation",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'MIDeepSegLib' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value  # cache: the next lookup skips __getattr__
    return value


def __dir__():
    return __all__
