"""Session fixtures: one simulated multi-field group MS, imaged once per backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from contimg.config.settings import ImagingSettings
from contimg.science.image import ImageProducts, make_image
from contimg.science.sources import FoundSource, ReferenceSource, find_sources

from ._simms import Source, build_ms

DEC = 54.57
LST_MID = 150.0
# Test-scale imaging: the full 3 deg field at the auto cell (~1/5 beam), converged clean.
PARAMS = ImagingSettings(fov_deg=3.0, niter=5000, qa_max_rms_jy=0.02, qa_min_dynamic_range=50)

# Truth: one source near the centre, three off axis (b is well off axis: beam ~0.6).
SKY = [
    Source("a", 150.02, 54.60, 3.0),
    Source("b", 150.30, 55.75, 2.0, -0.7),
    Source("c", 149.00, 54.00, 1.5),
    Source("d", 150.90, 54.45, 1.0),
]


def reference(sky: list[Source] = SKY) -> list[ReferenceSource]:
    return [ReferenceSource(s.name, s.ra_deg, s.dec_deg, s.flux_jy, s.spectral_index) for s in sky]


@pytest.fixture(scope="session")
def group_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four integrations, each its own FIELD phased to its meridian (as converted groups are)."""
    path = tmp_path_factory.mktemp("ms") / "2026-01-15T11:00:00.ms"
    return build_ms(path, SKY, dec_deg=DEC, lst_mid_deg=LST_MID, noise_jy=0.3, seed=7)


@pytest.fixture(scope="session")
def wsclean_products(group_ms: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageProducts:
    out = tmp_path_factory.mktemp("images-wsclean")
    return make_image(group_ms, out, PARAMS, group_id="2026-01-15T11:00:00", calibration_set="none")


@pytest.fixture(scope="session")
def wsclean_sources(wsclean_products: ImageProducts) -> list[FoundSource]:
    return find_sources(wsclean_products.image, pb_image=wsclean_products.pb, pb_limit=0.2)


@pytest.fixture(scope="session")
def tclean_products(group_ms: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageProducts:
    out = tmp_path_factory.mktemp("images-tclean")
    params = PARAMS.model_copy(update={"backend": "tclean"})
    return make_image(group_ms, out, params, group_id="2026-01-15T11:00:00")
