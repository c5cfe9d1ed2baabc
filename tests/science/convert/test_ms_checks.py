"""The MSs open in CASA and WSClean, and a closed loop: image the group, find its sources.

The loop is what catches phasing and uvw sign errors: a writer that only relabels the phase
centre, or flips a sign, still makes an MS that opens and looks right, but the sources land in
the wrong place.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from tests.science.convert.conftest import SimGroup

from contimg.science.convert import ConvertedMS


@pytest.mark.casa
@pytest.mark.parametrize("writer", ["fast", "pyuvdata"])
def test_casa_reads_the_ms(convert_with, writer: str) -> None:
    from contimg.science.casa_env import ensure_casa_environment

    ensure_casa_environment()
    import casatools

    ms = convert_with(writer)
    md = casatools.msmetadata()
    md.open(str(ms.path))
    try:
        assert md.nfields() == 4
        assert md.nspw() == 1
        assert md.nchan(0) == 64
        freqs = md.chanfreqs(0)
        assert np.all(np.diff(freqs) > 0)
        assert md.antennanames(0) == ["DSA-001"]
        assert len(md.antennasforscan(1)) == 24
    finally:
        md.close()
    tool = casatools.ms()
    tool.open(str(ms.path))
    try:
        assert tool.nrow() == ms.n_rows
    finally:
        tool.close()


def _wsclean(ms: Path, field: int, name: Path, niter: int) -> Path:
    cmd = [
        "wsclean",
        "-quiet",
        "-size",
        "512",
        "512",
        "-scale",
        "3asec",
        "-field",
        str(field),
        "-weight",
        "briggs",
        "0",
        "-niter",
        str(niter),
        "-mgain",
        "0.8",
        "-j",
        "2",
        "-name",
        str(name),
        str(ms),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return Path(f"{name}-image.fits")


def _peak_near(
    image: Path, ra_deg: float, dec_deg: float, box: int = 25
) -> tuple[float, float, float]:
    """Sub-pixel peak position (RA, Dec) near a sky position and the beam's geometric mean."""
    with fits.open(image) as hdul:
        data = hdul[0].data[0, 0]
        header = hdul[0].header
    wcs = WCS(header, fix=False).celestial  # no datfix warning about MJD-OBS
    x0, y0 = (
        round(float(v)) for v in wcs.world_to_pixel(SkyCoord(ra_deg * u.deg, dec_deg * u.deg))
    )
    cut = data[y0 - box : y0 + box + 1, x0 - box : x0 + box + 1]
    iy, ix = np.unravel_index(np.argmax(cut), cut.shape)

    # parabolic refinement on the 3x3 neighbourhood
    def _vertex(a: float, b: float, c: float) -> float:
        den = a - 2 * b + c
        return 0.0 if den == 0 else 0.5 * (a - c) / den

    dx = _vertex(cut[iy, ix - 1], cut[iy, ix], cut[iy, ix + 1])
    dy = _vertex(cut[iy - 1, ix], cut[iy, ix], cut[iy + 1, ix])
    sky = wcs.pixel_to_world(x0 - box + ix + dx, y0 - box + iy + dy).icrs
    beam_arcsec = 3600 * np.sqrt(header["BMAJ"] * header["BMIN"])
    return sky.ra.deg, sky.dec.deg, beam_arcsec


@pytest.mark.wsclean
@pytest.mark.slow
def test_wsclean_images_sources_at_true_positions(
    fast_ms: ConvertedMS, sim_group: SimGroup, tmp_path: Path
) -> None:
    # first and last integration: the phase centre moves 3 arcmin between them
    for field in (0, fast_ms.n_fields - 1):
        image = _wsclean(fast_ms.path, field, tmp_path / f"f{field}", niter=300)
        for src in sim_group.sources:
            ra, dec, beam = _peak_near(image, src.ra_deg, src.dec_deg)
            offset = (
                SkyCoord(ra * u.deg, dec * u.deg)
                .separation(SkyCoord(src.ra_deg * u.deg, src.dec_deg * u.deg))
                .arcsec
            )
            assert offset < beam / 5, (field, src, offset, beam)


@pytest.mark.wsclean
def test_wsclean_reads_the_reference_ms(
    reference_ms: ConvertedMS, sim_group: SimGroup, tmp_path: Path
) -> None:
    image = _wsclean(reference_ms.path, 0, tmp_path / "ref", niter=100)
    src = next(iter(sim_group.sources))
    ra, dec, beam = _peak_near(image, src.ra_deg, src.dec_deg)
    offset = SkyCoord(ra * u.deg, dec * u.deg).separation(
        SkyCoord(src.ra_deg * u.deg, src.dec_deg * u.deg)
    )
    assert offset.arcsec < beam / 5
