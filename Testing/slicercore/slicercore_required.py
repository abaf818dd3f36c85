"""Skip a slicer-core test module, with the reason, where the slicer-core wheel is not installed."""

import pytest

REASON = ("slicer-core (Slicer's MRML and module logics, Python >= 3.10) is not installed here; "
          "`make test-slicer` builds .venv-slicer with it and runs these tests")


def require():
    """Call at the top of a test module, before importing slicer."""
    pytest.importorskip("slicer_core", reason=REASON)
