"""Mosaics of synthetic strip images: fluxes, noise, RA wrap, QA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std
from astropy.wcs import WCS
from tests.science.mosaic._mosaic_synth import DEC, RA_STEP, Strip, make_strip

from contimg.config.settings import MosaicSettings
from contimg.science.mosaic import MosaicInput, MosaicProducts, make_mosaic
from contimg.science.photometry import forced_photometry
from contimg.science.skymodel import Source, write_sky_model


def _inputs(strip: Strip, rms_scale: float = 1.0) -> list[MosaicInput]:
    return [
        MosaicInput(a, b, r * rms_scale) for (a, b), r in zip(strip.paths, strip.rms, strict=True)
    ]


@pytest.fixture(scope="module")
def strip_mosaic(strip: Strip, tmp_path_factory: pytest.TempPathFactory) -> MosaicProducts:
    return make_mosaic(
        _inputs(strip), tmp_path_factory.mktemp("mosaic"), "strip", reference=strip.sources
    )


def _plane(path: Path) -> tuple[np.ndarray, WCS]:
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=float)
        wcs = WCS(hdul[0].header).celestial
    while data.ndim > 2:
        data = data[0]
    return data, wcs


def _box_std(path: Path, ra: float, dec: float, half: int = 40) -> float:
    data, wcs = _plane(path)
    x, y = (round(float(v)) for v in wcs.world_to_pixel_values(ra, dec))
    cut = data[y - half : y + half + 1, x - half : x + half + 1]
    assert cut.shape == (2 * half + 1, 2 * half + 1), "box must lie inside the image"
    return float(mad_std(cut))


def test_mosaic_recovers_fluxes_within_5_percent(
    strip: Strip, strip_mosaic: MosaicProducts
) -> None:
    phot = forced_photometry(
        strip_mosaic.mosaic_path, strip.sources, noise_path=strip_mosaic.noise_path
    )
    assert not phot.outside
    truth = {s.name: s.flux_jy for s in strip.sources}
    ratios = {m.name: m.flux_jy / truth[m.name] for m in phot.measurements}
    assert len(ratios) == len(strip.sources)
    assert all(abs(r - 1.0) < 0.05 for r in ratios.values()), ratios
    assert strip_mosaic.qa.passed, strip_mosaic.qa.problems
    assert strip_mosaic.qa.n_matched == len(strip.sources)
    assert strip_mosaic.qa.flux_ratio == pytest.approx(1.0, abs=0.02)
    # the QA record keeps each source behind the ratio: the same forced fits
    by_name = {m.name: m for m in strip_mosaic.qa.sources}
    assert set(by_name) == set(ratios)
    for name, ratio in ratios.items():
        assert by_name[name].ratio == pytest.approx(ratio, rel=1e-6)
        assert by_name[name].expected_jy == pytest.approx(truth[name])


def test_mosaic_noise_lower_than_every_input_in_overlaps(
    strip: Strip, strip_mosaic: MosaicProducts
) -> None:
    # Source-free points midway between consecutive pointings (sources sit at dec -0.2/+0.25).
    for k in range(len(strip.centres) - 1):
        ra = (strip.centres[k] + 0.5 * RA_STEP) % 360.0
        mosaic_std = _box_std(strip_mosaic.mosaic_path, ra, DEC)
        input_stds = [_box_std(strip.paths[j][0], ra, DEC) for j in (k, k + 1)]
        assert mosaic_std < 0.85 * min(input_stds), (k, mosaic_std, input_stds)
        expected = _box_std(strip_mosaic.noise_path, ra, DEC)  # flat there: mad_std ~ 0
        noise_data, wcs = _plane(strip_mosaic.noise_path)
        x, y = (round(float(v)) for v in wcs.world_to_pixel_values(ra, DEC))
        assert expected < 0.05 * noise_data[y, x]
        assert mosaic_std == pytest.approx(noise_data[y, x], rel=0.2)
    assert strip_mosaic.qa.noise_ratio == pytest.approx(1.0, abs=0.15)
    assert strip_mosaic.qa.min_noise_jy < min(strip.rms)


def test_products_written_atomically_with_headers(
    strip: Strip, strip_mosaic: MosaicProducts
) -> None:
    outdir = strip_mosaic.mosaic_path.parent
    names = sorted(p.name for p in outdir.iterdir())
    assert names == ["strip-noise.fits", "strip-weight.fits", "strip.fits", "strip.png"]
    assert strip_mosaic.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = fits.getheader(strip_mosaic.mosaic_path)
    assert header["BMAJ"] == pytest.approx(56.0 / 3600.0)
    assert header["DATE-OBS"].startswith("2026-11-27T03:00:00")
    assert strip_mosaic.start_time is not None
    assert strip_mosaic.end_time is not None
    assert (strip_mosaic.end_time - strip_mosaic.start_time).total_seconds() == pytest.approx(
        3 * 24 * 12.884902, abs=1e-3
    )
    weight, _ = _plane(strip_mosaic.weight_path)
    noise, _ = _plane(strip_mosaic.noise_path)
    covered = weight > 0
    np.testing.assert_allclose(noise[covered], 1.0 / np.sqrt(weight[covered]), rtol=1e-5)


def test_mosaic_across_ra_zero(tmp_path: Path) -> None:
    strip = make_strip(tmp_path / "in", ra_first=358.2, n_images=3, seed=5)
    assert min(strip.centres) < 1.0  # straddles RA = 0
    assert max(strip.centres) > 358.0
    # Reference catalogue from the configuration (sky-model CSV) this time.
    catalog = write_sky_model(
        [Source(s.name, s.ra_deg, s.dec_deg, s.flux_jy) for s in strip.sources],
        tmp_path / "ref.csv",
    )
    settings = MosaicSettings(reference_catalog=catalog)
    product = make_mosaic(_inputs(strip), tmp_path / "out", "wrap", settings=settings)
    assert product.qa.n_matched == len(strip.sources)
    # A grid that wrapped the wrong way would span ~360 deg of RA.
    assert product.shape[1] * product.cell_arcsec / 3600.0 < 6.0
    assert product.ra_deg == pytest.approx(
        358.2 + RA_STEP - 360.0, abs=0.2
    ) or product.ra_deg == pytest.approx(358.2 + RA_STEP, abs=0.2)
    phot = forced_photometry(product.mosaic_path, strip.sources, noise_path=product.noise_path)
    truth = {s.name: s.flux_jy for s in strip.sources}
    assert {m.name for m in phot.measurements} == set(truth)
    for m in phot.measurements:
        assert m.flux_jy == pytest.approx(truth[m.name], rel=0.05), m.name
    assert product.qa.passed, product.qa.problems


def test_noise_qa_fails_when_input_rms_is_understated(strip: Strip, tmp_path: Path) -> None:
    settings = MosaicSettings(qa_noise_ratio_max=1.3)
    product = make_mosaic(_inputs(strip, rms_scale=0.5)[:2], tmp_path, "bad", settings=settings)
    assert product.qa.noise_ratio == pytest.approx(2.0, rel=0.15)
    assert not product.qa.passed
    assert "noise ratio" in product.qa.problems[0]


def test_empty_or_invalid_inputs_are_rejected(strip: Strip, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_mosaic([], tmp_path, "none")
    (img, pb), _ = strip.paths[0], strip.rms[0]
    with pytest.raises(ValueError, match="rms_jy"):
        make_mosaic([MosaicInput(img, pb, 0.0)], tmp_path, "zero")


def test_too_long_strip_for_tan_is_refused(strip: Strip, tmp_path: Path) -> None:
    settings = MosaicSettings(max_extent_deg=1.0)  # the strip's centres span ~2.2 deg
    with pytest.raises(ValueError, match="max_extent_deg"):
        make_mosaic(_inputs(strip), tmp_path, "long", settings=settings)
    assert not list(tmp_path.iterdir())  # nothing written
