"""Primary-beam model and correction (ours: Debian WSClean has no EveryBeam).

DSA-110 dishes are 4.65 m alt-az dishes pointed at the meridian: the beam is an Airy disk
centred at (HA = 0, Dec = pointing), fixed to the ground while the sky drifts through it. For a
group the effective beam at a sky position is the average over the group's integrations of the
Airy response at its distance from each integration's meridian centre (the field centres of a
converted MS), weighted by the rows of each field.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from contimg.instrument.beam import airy_beam
from contimg.science.image.rephase import FieldCentres

__all__ = ["beam_image", "write_pb_products"]

_PB_GRID = 160


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def beam_image(
    header: fits.Header,
    fields: FieldCentres,
    freq_hz: float,
    dish_diameter_m: float = 4.65,
) -> np.ndarray:
    """Evaluate the group-averaged primary beam on an image grid.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Image header (celestial WCS; extra axes ignored).
    fields : FieldCentres
        Beam centres (field phase centres) and row counts used as weights.
    freq_hz : float
        Frequency at which the beam is evaluated (the band centre).
    dish_diameter_m : float
        Dish diameter.

    Returns
    -------
    numpy.ndarray
        2-D beam (ny, nx), float32. Evaluated on a coarse grid (<= 160 points a side) and
        interpolated bicubically (the beam varies on degree scales, pixels are arcseconds).
    """
    from scipy.interpolate import RectBivariateSpline

    with warnings.catch_warnings():
        # WSClean headers trigger astropy's harmless 'datfix' notes (MJD-OBS from DATE-OBS).
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    ny, nx = int(header["NAXIS2"]), int(header["NAXIS1"])
    # The beam varies on degree scales and pixels are arcseconds: evaluate it on a coarse grid
    # (at most ~_PB_GRID points a side, edges included) and interpolate (bicubic, separable).
    step = max(1, int(np.ceil(max(nx, ny) / _PB_GRID)))
    ys = np.unique(np.append(np.arange(0, ny, step), ny - 1)).astype(float)
    xs = np.unique(np.append(np.arange(0, nx, step), nx - 1)).astype(float)
    gx, gy = np.meshgrid(xs, ys)
    ra, dec = wcs.wcs_pix2world(gx, gy, 0)
    pix = _unit_vectors(np.deg2rad(ra), np.deg2rad(dec))
    used = fields.used
    weights = fields.rows[used].astype(float)
    centres = _unit_vectors(fields.ra_rad[used], fields.dec_rad[used])
    coarse = np.zeros(gx.shape)
    for w, c in zip(weights, centres, strict=True):
        theta = np.arccos(np.clip(pix @ c, -1.0, 1.0))
        coarse += w * airy_beam(theta, freq_hz, dish_diameter_m)
    coarse /= weights.sum()
    if step == 1:
        return coarse.astype(np.float32)
    k = min(3, len(xs) - 1, len(ys) - 1)
    spline = RectBivariateSpline(ys, xs, coarse, kx=k, ky=k)
    return spline(np.arange(ny, dtype=float), np.arange(nx, dtype=float)).astype(np.float32)


def write_pb_products(
    image: Path,
    pb_out: Path,
    pbcor_out: Path,
    fields: FieldCentres,
    freq_hz: float,
    *,
    dish_diameter_m: float = 4.65,
    pb_limit: float = 0.2,
) -> None:
    """Write the beam image and the beam-corrected image (NaN below ``pb_limit``).

    Parameters
    ----------
    image : Path
        Restored image (FITS); its header is copied to both outputs.
    pb_out, pbcor_out : Path
        Output paths (written directly; the caller renames them into place).
    fields : FieldCentres
        Beam centres and weights.
    freq_hz : float
        Band-centre frequency.
    dish_diameter_m : float
        Dish diameter.
    pb_limit : float
        Beam level below which the corrected image is blanked.
    """
    with fits.open(image) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float32)
    pb2d = beam_image(header, fields, freq_hz, dish_diameter_m)
    pb = np.broadcast_to(pb2d, data.shape).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = np.where(pb >= pb_limit, data / pb, np.nan).astype(np.float32)
    pb_header = header.copy()
    pb_header["BUNIT"] = ""
    pb_header["PBMODEL"] = ("airy", "primary beam model")
    pb_header["PBDISH"] = (dish_diameter_m, "[m] dish diameter of the beam model")
    pb_header["PBFREQ"] = (freq_hz, "[Hz] frequency of the beam model")
    pb_header["PBNFLD"] = (int(fields.used.size), "fields (hour angles) averaged")
    fits.PrimaryHDU(pb, pb_header).writeto(pb_out, overwrite=True)
    cor_header = header.copy()
    cor_header["PBLIMIT"] = (pb_limit, "corrected image blanked below this beam level")
    cor_header["PBMODEL"] = ("airy", "primary beam model")
    fits.PrimaryHDU(corrected, cor_header).writeto(pbcor_out, overwrite=True)
