"""Quicklook PNG of an image: asinh stretch, beam ellipse, found sources marked."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

__all__ = ["preload_plotting", "write_quicklook"]

_MAX_RENDER_PIXELS = 1200


def _robust_rms(data: np.ndarray) -> float:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(finite - np.median(finite))))


def preload_plotting() -> None:
    """Import matplotlib (Agg) and WCSAxes now; several seconds on a cold process.

    :func:`contimg.science.image.make_image` calls it in a thread while the imager runs, so the
    quicklook afterwards costs only its rendering.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure
    import matplotlib.patches  # the import fills the module cache; nothing to use here
    from astropy.visualization import wcsaxes  # noqa: F401 - imported only to cache it


def write_quicklook(
    image: Path,
    png: Path,
    *,
    title: str = "",
    rms_jy: float | None = None,
    sources: Sequence[tuple[float, float]] = (),
    dpi: int = 100,
) -> Path:
    """Render ``image`` to ``png`` (written to a temporary name, then renamed).

    Parameters
    ----------
    image : Path
        FITS image (celestial WCS, extra axes of length 1).
    png : Path
        Output PNG.
    title : str
        Title prefix (the group id); the rms is appended.
    rms_jy : float, optional
        Image rms for the title and the stretch; default the MAD of the image.
    sources : sequence of (ra_deg, dec_deg)
        Found sources to mark with circles.
    dpi : int
        Resolution (the figure is 8 x 8 inches).

    Returns
    -------
    Path
        ``png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse

    with fits.open(image) as hdul:
        header = hdul[0].header
        data = np.squeeze(np.asarray(hdul[0].data, dtype=np.float64))
    with warnings.catch_warnings():
        # WSClean headers trigger astropy's harmless 'datfix' notes (MJD-OBS from DATE-OBS).
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    # Noise from every 4th pixel of the full-resolution image (the MAD needs no more).
    rms = rms_jy if rms_jy is not None else _robust_rms(data[::4, ::4])
    # The figure shows ~800 pixels: render large images block-max downsampled (cheap, keeps
    # every source visible) instead of handing matplotlib 10^7 pixels.
    step = max(1, int(np.ceil(max(data.shape) / _MAX_RENDER_PIXELS)))
    if step > 1:
        ny, nx = (data.shape[0] // step) * step, (data.shape[1] // step) * step
        blocks = data[:ny, :nx].reshape(ny // step, step, nx // step, step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
            data = np.nanmax(blocks, axis=(1, 3))
        wcs = wcs[::step, ::step]
    finite = data[np.isfinite(data)]
    vmax = float(np.max(finite)) if finite.size else 1.0
    scale = max(rms, 1e-12) * 3.0
    stretched = np.arcsinh(data / scale)
    lo = np.arcsinh(-3.0 * max(rms, 1e-12) / scale)
    hi = np.arcsinh(max(vmax, 5 * rms) / scale)

    fig = Figure(figsize=(8, 8))
    ax = fig.add_subplot(projection=wcs)
    ax.imshow(stretched, origin="lower", cmap="inferno", vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    if "BMAJ" in header and header.get("CDELT2"):
        pix = abs(float(header["CDELT2"])) * step
        bmaj, bmin = float(header["BMAJ"]) / pix, float(header["BMIN"]) / pix
        ny = data.shape[0]
        xy = (0.05 * data.shape[1] + bmaj, 0.05 * ny + bmaj)
        ax.add_patch(
            Ellipse(
                xy,
                width=bmin,
                height=bmaj,
                angle=float(header.get("BPA", 0.0)),
                edgecolor="cyan",
                facecolor="none",
                linewidth=1.5,
            )
        )
    if len(sources):
        radec = np.asarray(sources, dtype=float)
        x, y = wcs.wcs_world2pix(radec[:, 0], radec[:, 1], 0)
        radius = max(6.0, data.shape[0] / 80)
        ax.scatter(x, y, s=(2 * radius) ** 2, facecolors="none", edgecolors="lime", linewidths=0.8)
    label = f"{title}  rms {rms * 1e3:.2f} mJy/beam" if title else f"rms {rms * 1e3:.2f} mJy/beam"
    ax.set_title(label)
    png = Path(png)
    tmp = png.with_name(f".{png.stem}.tmp{os.getpid()}.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, png)
    return png
