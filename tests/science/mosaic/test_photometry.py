"""Forced photometry on synthetic images: fluxes, realistic errors, upper limits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tests.science.mosaic._mosaic_synth import BEAM, DEC, Src, airy, synth_image

from contimg.config.settings import PhotometrySettings
from contimg.science.photometry import (
    SkyPosition,
    condon_peak_error,
    forced_photometry,
    load_monitored,
    monitored_from_detections,
)
from contimg.science.skymodel import Source, write_sky_model

RA0 = 210.0

#: Statistical errors only (no flux-scale floor), for the tests about the fit's error.
STATISTICAL = PhotometrySettings(flux_scale_error_frac=0.0)


def _offset(d_east: float, d_north: float) -> tuple[float, float]:
    return RA0 + d_east / math.cos(math.radians(DEC)), DEC + d_north


def test_bright_sources_recovered_and_errors_match_scatter(tmp_path: Path) -> None:
    bright = [Src("B1", *_offset(0.1, 0.1), 0.2), Src("B2", *_offset(-0.4, 0.2), 0.1)]
    # 48 empty positions on a grid, > 4 beams apart: their fluxes sample the noise.
    empty = [
        SkyPosition(f"E{i}_{j}", *_offset(-0.6 + 0.1 * i, -0.55 + 0.1 * j))
        for i in range(12)
        for j in range(4)
    ]
    rms = 0.002
    pbcor, _ = synth_image(tmp_path, "one", ra0=RA0, sources=bright, rms_jy=rms, seed=3)
    phot = forced_photometry(pbcor, [*bright, *empty], settings=STATISTICAL)
    assert phot.beam.bmaj_deg == pytest.approx(BEAM[0])
    assert not phot.outside
    by_name = {m.name: m for m in phot.measurements}
    for src in bright:
        m = by_name[src.name]
        assert abs(m.flux_jy - src.flux_jy) < 3 * m.flux_err_jy, src.name
        assert m.flux_jy == pytest.approx(src.flux_jy, rel=0.05)
        assert not m.upper_limit
    # Errors are honest: empty-position fluxes / their errors scatter with unit std.
    z = np.array([by_name[p.name].flux_jy / by_name[p.name].flux_err_jy for p in empty])
    assert np.std(z) == pytest.approx(1.0, abs=0.3)
    assert abs(np.mean(z)) < 0.5
    # Local rms follows the primary beam of the corrected image (noise / pb).
    for p in empty[::7]:
        m = by_name[p.name]
        theta = math.hypot(*[(p.ra_deg - RA0) * math.cos(math.radians(DEC)), p.dec_deg - DEC])
        assert m.local_rms_jy == pytest.approx(rms / airy(np.array(theta)), rel=0.3)


def test_source_below_noise_is_an_upper_limit_not_a_gap(tmp_path: Path) -> None:
    faint = Src("F", *_offset(0.05, -0.05), 0.003)
    pbcor, _ = synth_image(tmp_path, "faint", ra0=RA0, sources=[faint], rms_jy=0.002, seed=9)
    settings = PhotometrySettings(detection_sigma=5.0)
    phot = forced_photometry(pbcor, [faint], settings=settings)
    assert [m.name for m in phot.measurements] == ["F"]
    m = phot.measurements[0]
    assert m.upper_limit
    assert math.isfinite(m.flux_jy)
    assert m.flux_err_jy > 0
    assert m.limit_jy == pytest.approx(5.0 * m.local_rms_jy)
    assert m.snr < 5.0
    # The same source, required only at 1 sigma, is a detection.
    loose = forced_photometry(pbcor, [faint], settings=PhotometrySettings(detection_sigma=1.0))
    assert loose.measurements[0].upper_limit is (loose.measurements[0].snr < 1.0)


def test_noise_map_gives_local_rms(tmp_path: Path) -> None:
    from astropy.io import fits

    src = Src("N", *_offset(0.0, 0.0), 0.1)
    pbcor, _ = synth_image(tmp_path, "nm", ra0=RA0, sources=[src], rms_jy=0.002, seed=4)
    with fits.open(pbcor) as hdul:
        noise = fits.PrimaryHDU(np.full_like(hdul[0].data, 0.0025), hdul[0].header)
    noise.writeto(tmp_path / "noise.fits")
    m = forced_photometry(
        pbcor, [src], noise_path=tmp_path / "noise.fits", settings=STATISTICAL
    ).measurements[0]
    assert m.local_rms_jy == pytest.approx(0.0025)
    # Condon's error is the floor; the fit over beam-correlated pixels scatters a bit more.
    condon = condon_peak_error(0.0025, bmaj_deg=BEAM[0], bmin_deg=BEAM[1])
    assert condon <= m.flux_err_jy < 1.3 * condon


def test_positions_off_the_image_are_reported(tmp_path: Path) -> None:
    pbcor, _ = synth_image(tmp_path, "off", ra0=RA0, sources=[], rms_jy=0.002, seed=1)
    phot = forced_photometry(pbcor, [SkyPosition("far", RA0 + 30.0, DEC)])
    assert phot.measurements == ()
    assert phot.outside == ("far",)


def test_condon_error_hand_values() -> None:
    # Circular beam, point source: rho^2 = (1/4) 2^1.5 2^1.5 (A/s)^2 = 2 (A/s)^2 -> error = rms.
    assert condon_peak_error(0.001, bmaj_deg=0.01, bmin_deg=0.01) == pytest.approx(0.001)
    # 56" x 38": k = (1/4)(1 + 38/56)^1.5 (1 + 56/38)^1.5 = 2.1164 -> rms * sqrt(2/k).
    k = 0.25 * (1 + 38 / 56) ** 1.5 * (1 + 56 / 38) ** 1.5
    assert condon_peak_error(1.0, bmaj_deg=56 / 3600, bmin_deg=38 / 3600) == pytest.approx(
        math.sqrt(2 / k)
    )
    assert math.sqrt(2 / k) == pytest.approx(0.9724, abs=1e-4)


def test_monitored_from_detections_merges_epochs() -> None:
    catalogue = [SkyPosition("CAT1", 10.0, 54.6)]
    epoch1 = [SkyPosition("d", 10.0 + 5 / 3600, 54.6), SkyPosition("d", 11.0, 54.0)]
    epoch2 = [SkyPosition("d", 11.0, 54.0 + 10 / 3600), SkyPosition("d", 359.99, 55.0)]
    out = monitored_from_detections([epoch1, epoch2], existing=catalogue, match_radius_arcsec=30)
    assert out[0].name == "CAT1"
    assert len(out) == 3
    assert out[1].name == "J004400.0+540000"
    assert out[2].ra_deg == pytest.approx(359.99)


def test_load_monitored_from_csv_and_first_epochs(tmp_path: Path) -> None:
    csv_path = write_sky_model(
        [Source("CAT1", 150.0, 54.6, 0.2), Source("CAT2", 151.0, 54.7, 0.05, -0.7)],
        tmp_path / "monitor.csv",
    )
    only_csv = load_monitored(PhotometrySettings(monitored_sources=csv_path))
    assert [(p.name, p.catalog_flux_jy) for p in only_csv] == [("CAT1", 0.2), ("CAT2", 0.05)]
    epochs = [
        [SkyPosition("x", 150.0 + 3 / 3600, 54.6), SkyPosition("x", 152.0, 54.5)],
        [SkyPosition("x", 153.0, 54.5)],
        [SkyPosition("x", 154.0, 54.5)],  # beyond monitor_first_epochs: not used
    ]
    settings = PhotometrySettings(monitored_sources=csv_path, monitor_first_epochs=2)
    merged = load_monitored(settings, epochs)
    assert [p.name for p in merged][:2] == ["CAT1", "CAT2"]
    assert [p.ra_deg for p in merged[2:]] == [152.0, 153.0]
    assert merged[2].catalog_flux_jy is None
    assert [p.origin for p in merged] == ["catalog", "catalog", "detected", "detected"]
