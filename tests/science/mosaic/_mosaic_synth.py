"""Synthetic DSA-110-like images for the mosaic, photometry and variability tests.

Images are built here independently of the code under test: sources are elliptical
Gaussians of the restoring beam drawn in pixel space (north up, east left), attenuated by
an Airy primary beam of a 4.65 m dish, plus Gaussian noise convolved with the beam and
scaled to the stated rms, with a fixed seed. Files look like WSClean's: 4-D (RA, Dec,
FREQ, STOKES) with BMAJ/BMIN/BPA and DATE-OBS, ``<name>-pbcor.fits`` and ``<name>-pb.fits``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time
from scipy.signal import fftconvolve
from scipy.special import j1

DEC = 54.6
BEAM = (56.0 / 3600.0, 38.0 / 3600.0, 20.0)  # deg, deg, deg E of N
FREQ = 1.4e9
SIDEREAL_DAY_S = 86164.0905
GROUP_S = 24 * 12.884902  # one group: 24 integrations
#: RA step between consecutive groups: the sky turns 360 deg per sidereal day.
RA_STEP = 360.0 * GROUP_S / SIDEREAL_DAY_S  # = 1.292 deg of RA (0.748 deg on the sky at +54.6)
T0 = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Src:
    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0


def airy(theta_deg: np.ndarray, freq_hz: float = FREQ, dish_m: float = 4.65) -> np.ndarray:
    x = math.pi * dish_m * np.sin(np.radians(theta_deg)) / (299792458.0 / freq_hz)
    x = np.where(x == 0, 1e-12, x)
    return (2.0 * j1(x) / x) ** 2


def _header(ra0: float, dec0: float, npix: int, cell_deg: float, time: datetime) -> fits.Header:
    hdr = fits.Header()
    hdr["NAXIS"] = 4
    for i, n in enumerate((npix, npix, 1, 1), start=1):
        hdr[f"NAXIS{i}"] = n
    hdr["CTYPE1"], hdr["CRVAL1"], hdr["CDELT1"], hdr["CRPIX1"] = (
        "RA---TAN",
        ra0,
        -cell_deg,
        npix / 2 + 1,
    )
    hdr["CTYPE2"], hdr["CRVAL2"], hdr["CDELT2"], hdr["CRPIX2"] = (
        "DEC--TAN",
        dec0,
        cell_deg,
        npix / 2 + 1,
    )
    hdr["CUNIT1"] = hdr["CUNIT2"] = "deg"
    hdr["CTYPE3"], hdr["CRVAL3"], hdr["CDELT3"], hdr["CRPIX3"], hdr["CUNIT3"] = (
        "FREQ",
        FREQ,
        1.8e8,
        1,
        "Hz",
    )
    hdr["CTYPE4"], hdr["CRVAL4"], hdr["CDELT4"], hdr["CRPIX4"] = "STOKES", 1.0, 1.0, 1
    hdr["RADESYS"], hdr["EQUINOX"] = "ICRS", 2000.0
    hdr["BMAJ"], hdr["BMIN"], hdr["BPA"] = BEAM
    hdr["BUNIT"] = "JY/BEAM"
    hdr["DATE-OBS"] = time.strftime("%Y-%m-%dT%H:%M:%S.%f")
    hdr["MJD-OBS"] = Time(time).mjd  # present, so astropy's datfix has nothing to fix (warns)
    return hdr


def _beam_image(dx: np.ndarray, dy: np.ndarray, cell_deg: float, scale: float = 1.0) -> np.ndarray:
    """Unit-peak beam (axes times ``scale``) at pixel offsets (dx right = west, dy up = north)."""
    bmaj, bmin, bpa = BEAM[0] * scale, BEAM[1] * scale, BEAM[2]
    pa = math.radians(bpa)
    east, north = -dx * cell_deg, dy * cell_deg
    a = east * math.sin(pa) + north * math.cos(pa)
    b = east * math.cos(pa) - north * math.sin(pa)
    s = 1.0 / math.sqrt(8.0 * math.log(2.0))
    return np.exp(-0.5 * ((a / (bmaj * s)) ** 2 + (b / (bmin * s)) ** 2))


def synth_image(
    outdir: Path,
    name: str,
    *,
    ra0: float,
    sources: Sequence[Src],
    rms_jy: float,
    seed: int,
    time: datetime = T0,
    dec0: float = DEC,
    npix: int = 640,
    cell_arcsec: float = 10.0,
    blank_below: float = 0.6,
) -> tuple[Path, Path]:
    """Write ``<name>-pbcor.fits`` and ``<name>-pb.fits``; return their paths."""
    from astropy.wcs import WCS

    cell = cell_arcsec / 3600.0
    hdr = _header(ra0 % 360.0, dec0, npix, cell, time)
    wcs = WCS(hdr).celestial
    yy, xx = np.mgrid[0:npix, 0:npix]
    ra, dec = wcs.pixel_to_world_values(xx, yy)
    r0, d0 = math.radians(ra0), math.radians(dec0)
    cos_t = np.sin(d0) * np.sin(np.radians(dec)) + np.cos(d0) * np.cos(np.radians(dec)) * np.cos(
        np.radians(ra) - r0
    )
    pb = airy(np.degrees(np.arccos(np.clip(cos_t, -1, 1))))
    sky = np.zeros((npix, npix))
    half = int(4 * BEAM[0] / cell)
    for src in sources:
        sx, sy = (float(v) for v in wcs.world_to_pixel_values(src.ra_deg, src.dec_deg))
        ix, iy = round(sx), round(sy)
        if not (-half <= ix < npix + half and -half <= iy < npix + half):
            continue
        ys = slice(max(iy - half, 0), min(iy + half + 1, npix))
        xs = slice(max(ix - half, 0), min(ix + half + 1, npix))
        sky[ys, xs] += src.flux_jy * _beam_image(xx[ys, xs] - sx, yy[ys, xs] - sy, cell)
    rng = np.random.default_rng(seed)
    k = int(3 * BEAM[0] / cell)
    ky, kx = np.mgrid[-k : k + 1, -k : k + 1]
    # Image noise is correlated like the beam (white uv noise through the PSF): white noise
    # convolved with the beam shrunk by sqrt(2) has exactly the beam as its autocorrelation.
    kernel = _beam_image(kx, ky, cell, scale=1.0 / math.sqrt(2.0))
    noise = fftconvolve(rng.standard_normal((npix, npix)), kernel, mode="same")
    noise *= rms_jy / noise.std()
    image = sky * pb + noise
    # Blank the corrected image where the beam is low, as WSClean products are (pb_limit).
    pbcor_data = np.where(pb >= blank_below, image / pb, np.nan)
    pbcor = fits.PrimaryHDU(pbcor_data[None, None].astype(np.float32), hdr)
    pb_hdu = fits.PrimaryHDU(pb[None, None].astype(np.float32), hdr)
    outdir.mkdir(parents=True, exist_ok=True)
    pbcor_path, pb_path = outdir / f"{name}-pbcor.fits", outdir / f"{name}-pb.fits"
    pbcor.writeto(pbcor_path, overwrite=True)
    pb_hdu.writeto(pb_path, overwrite=True)
    return pbcor_path, pb_path


def strip_sources(ra_first: float, n_images: int) -> list[Src]:
    """Bright steady sources along the strip, in the overlaps and near image centres."""
    out = []
    fluxes = (0.25, 0.12, 0.4, 0.18, 0.3, 0.15, 0.22)
    for k in range(2 * n_images - 1):
        ra = ra_first + 0.5 * k * RA_STEP + 0.07
        dec = DEC + (0.25 if k % 2 else -0.2)
        out.append(Src(f"S{k}", ra % 360.0, dec, fluxes[k % len(fluxes)]))
    return out


@dataclass(frozen=True)
class Strip:
    paths: list[tuple[Path, Path]]
    rms: list[float]
    sources: list[Src]
    centres: list[float]


def make_strip(outdir: Path, ra_first: float, n_images: int, seed: int) -> Strip:
    sources = strip_sources(ra_first, n_images)
    paths, rms, centres = [], [], []
    for k in range(n_images):
        ra0 = (ra_first + k * RA_STEP) % 360.0
        noise = 0.002 * (1.0 + 0.15 * k)  # the inputs differ in depth
        paths.append(
            synth_image(
                outdir,
                f"img{k}",
                ra0=ra0,
                sources=sources,
                rms_jy=noise,
                seed=seed + k,
                time=T0 + timedelta(seconds=GROUP_S * k),
            )
        )
        rms.append(noise)
        centres.append(ra0)
    return Strip(paths, rms, sources, centres)
