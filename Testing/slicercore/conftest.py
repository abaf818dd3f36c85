"""Fixtures of the slicer-core tests: a Slicer application's core (see slicercore_app.py).

These tests need the ``slicer-core`` wheel (Python >= 3.10); ``make test-slicer``
builds ``.venv-slicer`` with it. Each test module starts with
``slicercore_required.require()``, so in any other environment they are
reported as skipped with its reason.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="session")
def slicer_app():
    """One CoreApplication for the session, installed as ``slicer.mrmlScene`` / ``slicer.app`` / ``slicer.modules``."""
    import slicercore_app

    application = slicercore_app.CoreApplication()
    slicercore_app.install(application)
    return application


@pytest.fixture(scope="session")
def module(slicer_app):
    """MIDeepSeg/MIDeepSeg.py, imported as Slicer imports it, with its logic and self-test classes."""
    import slicercore_app

    module = slicercore_app.importModule()
    # The progress dialog is a Qt widget: without Qt it must not open, however long a step takes.
    module.PROGRESS_DIALOG_DELAY_S = float("inf")
    return module


@pytest.fixture
def scene(slicer_app):
    """The application's scene, closed after the test (``Clear(0)`` keeps the singletons, as Close Scene)."""
    yield slicer_app.scene
    slicer_app.scene.Clear(0)


@pytest.fixture
def tilted(module, scene):
    """The self-test's scene: oblique anisotropic volume under a transform, 'other' and 'target' segments."""
    return module.MIDeepSegTest._syntheticScene()
