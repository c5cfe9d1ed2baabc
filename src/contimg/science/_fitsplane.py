"""Read one celestial plane of a FITS image and write FITS/PNG products atomically.

Private helpers shared by :mod:`contimg.science.mosaic` and
:mod:`contimg.science.photometry`. WSClean writes 4-D images (RA, Dec, FREQ,
STOKES); the science here works on the 2-D celestial plane plus a few header
values (restoring beam, frequency, observation time).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning

__all__ = ["Beam", "Plane", "atomic_write", "read_plane", "write_fits"]

#: Used when a header carries no frequency: the sky-model reference frequency.
DEFAULT_FREQUENCY_HZ = 1.4e9


@dataclass(frozen=True)
class Beam:
    """Restoring beam: FWHM of the major and minor axes (deg) and position angle (deg, E of N)."""

    bmaj_deg: float
    bmin_deg: float
    bpa_deg: float


@dataclass(frozen=True)
class Plane:
    """The celestial plane of an image with what the science needs from its header."""

    data: np.ndarray
    wcs: WCS
    header: fits.Header
    beam: Beam | None
    frequency_hz: float
    time: datetime | None

    @property
    def cell_deg(self) -> float:
        """Pixel size (geometric mean of the two axes), degrees."""
        scales = np.abs(np.linalg.det(self.wcs.pixel_scale_matrix))
        return float(np.sqrt(scales))


def _header_beam(header: fits.Header) -> Beam | None:
    if "BMAJ" in header and "BMIN" in header:
        return Beam(float(header["BMAJ"]), float(header["BMIN"]), float(header.get("BPA", 0.0)))
    return None


def _header_frequency(header: fits.Header) -> float:
    for axis in range(1, int(header.get("NAXIS", 0)) + 1):
        if str(header.get(f"CTYPE{axis}", "")).upper().startswith("FREQ"):
            return float(header[f"CRVAL{axis}"])
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in header:
            return float(header[key])
    return DEFAULT_FREQUENCY_HZ


def _header_time(header: fits.Header) -> datetime | None:
    if "DATE-OBS" in header:
        return Time(str(header["DATE-OBS"]), scale="utc").to_datetime(timezone=UTC)
    if "MJD-OBS" in header:
        return Time(float(header["MJD-OBS"]), format="mjd", scale="utc").to_datetime(timezone=UTC)
    return None


def read_plane(path: Path) -> Plane:
    """Read the first celestial plane of a FITS image.

    Parameters
    ----------
    path : Path
        FITS file whose primary HDU holds a 2-D to 4-D image with a celestial WCS.

    Returns
    -------
    Plane
        Data as float64 (NaN where blanked), 2-D celestial WCS, header, beam,
        frequency (Hz) and observation start time.
    """
    with fits.open(path, memmap=False) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float64)
    while data.ndim > 2:
        data = data[0]
    with warnings.catch_warnings():
        # astropy "fixes" DATE-OBS/MJD-OBS and unit spellings with a warning; harmless here.
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    if wcs.naxis != 2:
        raise ValueError(f"{path}: no celestial WCS in the primary header")
    return Plane(
        data=data,
        wcs=wcs,
        header=header,
        beam=_header_beam(header),
        frequency_hz=_header_frequency(header),
        time=_header_time(header),
    )


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through ``write(tmp)`` to a temporary name beside ``path``, then rename into place.

    A crash leaves at most a hidden ``.tmp`` file, never a half product under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.absolute()


def write_fits(path: Path, data: np.ndarray, header: fits.Header) -> Path:
    """Write a float32 primary-HDU FITS image atomically."""
    hdu = fits.PrimaryHDU(data=np.asarray(data, dtype=np.float32), header=header)
    return atomic_write(path, lambda tmp: hdu.writeto(tmp))
