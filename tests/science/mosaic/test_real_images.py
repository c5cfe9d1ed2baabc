"""Mosaic and forced photometry on real WSClean images of two simulated consecutive groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from tests.science.image._simms import Source, build_ms
from tests.science.mosaic._mosaic_synth import RA_STEP

from contimg.config.settings import ImagingSettings, PhotometrySettings
from contimg.science.image import ImageProducts, make_image
from contimg.science.mosaic import MosaicInput, make_mosaic
from contimg.science.photometry import forced_photometry
from contimg.science.qa import robust_rms

pytestmark = [pytest.mark.wsclean, pytest.mark.slow]

DEC = 54.57
LST0 = 150.0
# Between the two pointings (1.29 deg of RA apart) and near each centre.
SKY = [
    Source("mid", LST0 + 0.5 * RA_STEP, 54.65, 2.0),
    Source("first", LST0 - 0.3, 54.30, 1.5),
    Source("second", LST0 + RA_STEP + 0.3, 54.85, 1.0, -0.7),
]
PARAMS = ImagingSettings(fov_deg=3.0, niter=5000, qa_max_rms_jy=0.02, qa_min_dynamic_range=50)

#: Statistical errors only (no flux-scale floor): the mosaic's error must beat each input's.
STATISTICAL = PhotometrySettings(flux_scale_error_frac=0.0)


@pytest.fixture(scope="module")
def two_groups(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[ImageProducts, float]]:
    out = []
    for k, gid in enumerate(("2026-01-15T11:00:00", "2026-01-15T11:05:09")):
        root = tmp_path_factory.mktemp(f"real{k}")
        ms = build_ms(
            root / f"{gid}.ms",
            SKY,
            dec_deg=DEC,
            lst_mid_deg=LST0 + k * RA_STEP,
            noise_jy=0.3,
            seed=21 + k,
        )
        products = make_image(ms, root / "images", PARAMS, group_id=gid, calibration_set="none")
        rms = robust_rms(np.squeeze(fits.getdata(products.image)), grow_pixels=5)
        out.append((products, rms))
    return out


def test_real_mosaic_recovers_fluxes(
    two_groups: list[tuple[ImageProducts, float]], tmp_path: Path
) -> None:
    inputs = [MosaicInput(p.pbcor, p.pb, rms) for p, rms in two_groups]
    product = make_mosaic(inputs, tmp_path, "real", reference=SKY)  # sky-model columns
    freq = product.frequency_hz
    assert product.qa.n_matched == len(SKY)
    assert product.qa.flux_ratio == pytest.approx(1.0, abs=0.05)
    assert product.qa.noise_ratio == pytest.approx(1.0, abs=0.2)  # image-QA rms is honest
    assert product.qa.passed
    phot = forced_photometry(
        product.mosaic_path, SKY, noise_path=product.noise_path, settings=STATISTICAL
    )
    for m in phot.measurements:
        truth = next(s for s in SKY if s.name == m.name).flux_at(freq)
        assert m.flux_jy == pytest.approx(truth, rel=0.05), m.name
    # The source between the pointings is measured in both images and agrees.
    singles = [
        forced_photometry(p.pbcor, [SKY[0]], settings=STATISTICAL).measurements[0]
        for p, _ in two_groups
    ]
    assert singles[0].flux_jy == pytest.approx(singles[1].flux_jy, rel=0.05)
    mosaic_mid = next(m for m in phot.measurements if m.name == "mid")
    assert mosaic_mid.flux_err_jy < min(s.flux_err_jy for s in singles)
