"""Fixtures for the mosaic, photometry and variability tests (images from ``_mosaic_synth``)."""

from __future__ import annotations

import pytest
from tests.science.mosaic._mosaic_synth import Strip, make_strip


@pytest.fixture(scope="session")
def strip(tmp_path_factory: pytest.TempPathFactory) -> Strip:
    """Four overlapping images along the +54.6 strip (session-scoped: built once)."""
    return make_strip(tmp_path_factory.mktemp("strip"), ra_first=150.0, n_images=4, seed=11)
