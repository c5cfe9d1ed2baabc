"""Quick estimate of the synthesized beam the chosen weighting gives, to size the cell.

The beam of a core-dominated array such as DSA-110 is set by the weighted uv distribution, not
by the longest baseline (Briggs 0: about 56" x 38", while lambda/B_max is about 17"). Here the
uv points of a sample of rows are gridded, Briggs-weighted as imagers do it, Fourier transformed
to a PSF, and a 2-D Gaussian is fitted to its main lobe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contimg.science.image.products import Beam, ImagingError

__all__ = ["estimate_beam"]

_C = 299_792_458.0
_GRID = 512
_MAX_ROWS = 200_000
_MAX_CHANNELS = 16


def estimate_beam(ms: Path, robust: float, *, fov_deg: float = 3.5) -> Beam:
    """Estimate the synthesized beam of ``ms`` at Briggs ``robust`` weighting.

    Parameters
    ----------
    ms : Path
        Measurement Set (unflagged cross-correlations are used).
    robust : float
        Briggs robust parameter (as WSClean's ``-weight briggs``).
    fov_deg : float
        Image field of view; sets the uv cell of the weighting grid as the imager would.

    Returns
    -------
    Beam
        Fitted Gaussian FWHM axes and position angle.
    """
    from casacore.tables import table

    with table(str(ms), ack=False) as t:
        step = max(1, t.nrows() // _MAX_ROWS)
        sel = t.query(
            "ANTENNA1 != ANTENNA2 && !FLAG_ROW && !all(FLAG)",
            columns="UVW",
            offset=0,
        )
        try:
            uvw = sel.getcol("UVW", rowincr=step) if sel.nrows() else np.zeros((0, 3))
        finally:
            sel.close()
    if uvw.shape[0] == 0:
        raise ImagingError(ms, "no unflagged cross-correlations to estimate a beam from")
    with table(str(Path(ms) / "SPECTRAL_WINDOW"), ack=False) as spw:
        freqs = np.concatenate([np.ravel(c) for c in spw.getcol("CHAN_FREQ")])
    freqs = np.sort(freqs)[:: max(1, freqs.size // _MAX_CHANNELS)]
    u = (uvw[:, 0:1] * freqs / _C).ravel()
    v = (uvw[:, 1:2] * freqs / _C).ravel()
    u = np.concatenate([u, -u])
    v = np.concatenate([v, -v])

    # Weighting grid: uv cell = 1 / field of view, as in the imager.
    fov = np.deg2rad(fov_deg)
    duv_w = 1.0 / fov
    iu = np.round(u / duv_w).astype(np.int64)
    iv = np.round(v / duv_w).astype(np.int64)
    cell_w, sum_sq = _cell_counts(iu, iv)
    f2 = (5.0 * 10.0 ** (-robust)) ** 2 / (sum_sq / u.size)
    weights = 1.0 / (1.0 + cell_w * f2)

    # PSF grid: pixel a quarter of 1/uv_max, so even the outrigger fringes are sampled.
    uvmax = float(np.max(np.hypot(u, v)))
    pix = 1.0 / (4.0 * uvmax)
    duv = 1.0 / (_GRID * pix)
    gu = np.round(u / duv).astype(np.int64) % _GRID
    gv = np.round(v / duv).astype(np.int64) % _GRID
    grid = np.zeros((_GRID, _GRID))
    np.add.at(grid, (gv, gu), weights)
    psf = np.fft.fftshift(np.real(np.fft.ifft2(grid)))
    psf /= psf.max()
    return _fit_main_lobe(psf, pix)


#: Largest dense weighting grid counted with ``bincount`` (cells); beyond it, ``unique``.
_DENSE_CELLS = 20_000_000


def _cell_counts(iu: np.ndarray, iv: np.ndarray) -> tuple[np.ndarray, float]:
    """Count the samples in each sample's uv cell; also return the sum of squared counts.

    A dense grid with ``bincount`` where it is small enough (a full group: 5x faster than
    sorting the cell keys), else ``unique``.
    """
    nu, nv = int(np.abs(iu).max()), int(np.abs(iv).max())
    cell = (iu + nu) * (2 * nv + 1) + (iv + nv)
    if (2 * nu + 1) * (2 * nv + 1) <= _DENSE_CELLS:
        counts = np.bincount(cell)
    else:
        _, cell, counts = np.unique(cell, return_inverse=True, return_counts=True)
    return counts[cell].astype(float), float(np.sum(counts.astype(float) ** 2))


def _fit_main_lobe(psf: np.ndarray, pix_rad: float) -> Beam:
    """Fit an elliptical Gaussian to the PSF pixels of the main lobe (above 35 % of peak)."""
    from scipy import ndimage, optimize

    c = psf.shape[0] // 2
    labels, _ = ndimage.label(psf > 0.35)
    lobe = labels == labels[c, c]
    yy, xx = np.nonzero(lobe)
    z = psf[yy, xx]
    x = (xx - c).astype(float)
    y = (yy - c).astype(float)

    def model(p: np.ndarray) -> np.ndarray:
        a, b, cc = p
        return np.exp(-(a * x * x + 2 * b * x * y + cc * y * y)) - z

    # Start from the second moments of the lobe.
    w = z / z.sum()
    cov = np.array([[np.sum(w * x * x), np.sum(w * x * y)], [np.sum(w * x * y), np.sum(w * y * y)]])
    cov = cov + np.eye(2) * 0.25
    inv = np.linalg.inv(2 * cov)
    p0 = np.array([inv[0, 0], inv[0, 1], inv[1, 1]])
    fit = optimize.least_squares(model, p0)
    a, b, cc = fit.x
    matrix = np.array([[a, b], [b, cc]])
    evals, evecs = np.linalg.eigh(matrix)  # ascending: first = major axis direction
    # exp(-q) = 1/2 at q = ln 2: FWHM along an axis = 2 sqrt(ln2 / eval).
    fwhm = 2.0 * np.sqrt(np.log(2.0) / np.clip(evals, 1e-12, None)) * pix_rad
    major_vec = evecs[:, 0]
    # x grows with l (east on the sky for an image flipped as RA increases left); PA from north
    # through east: atan2(east, north).
    bpa = float(np.rad2deg(np.arctan2(major_vec[0], major_vec[1]))) % 180.0
    bmaj, bmin = float(np.rad2deg(fwhm[0]) * 3600), float(np.rad2deg(fwhm[1]) * 3600)
    return Beam(bmaj_arcsec=bmaj, bmin_arcsec=bmin, bpa_deg=bpa)
