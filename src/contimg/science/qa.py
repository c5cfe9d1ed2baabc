"""Image quality assessment: robust noise, peak, dynamic range, detections, verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from astropy.io import fits

from contimg.config.settings import ImagingSettings
from contimg.science.sources import CrossMatch, FoundSource

__all__ = ["ImageQA", "image_qa", "robust_rms"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ImageQA:
    """Quality figures of one image and the verdict against the configured thresholds.

    Attributes
    ----------
    rms_jy : float
        Robust (MAD) rms away from sources, Jy/beam (flat-noise image, inside ``pb_limit``).
    peak_jy : float
        Brightest pixel, Jy/beam.
    dynamic_range : float
        ``peak_jy / rms_jy``.
    bmaj_arcsec, bmin_arcsec, bpa_deg : float
        Restoring beam.
    n_sources_5sigma : int
        Sources (catalogue entries, or islands when no catalogue) peaking at >= 5 rms.
    n_matched : int or None
        Catalogue sources matched to the reference (None: no cross-match).
    median_flux_ratio : float or None
        Median measured / reference flux.
    median_ra_offset_arcsec, median_dec_offset_arcsec : float or None
        Median astrometric offsets from the reference.
    verdict : {"good", "bad"}
        "bad" when any threshold is violated.
    reasons : tuple of str
        Why the verdict is "bad" (empty when good).
    """

    rms_jy: float
    peak_jy: float
    dynamic_range: float
    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float
    n_sources_5sigma: int
    n_matched: int | None
    median_flux_ratio: float | None
    median_ra_offset_arcsec: float | None
    median_dec_offset_arcsec: float | None
    verdict: Literal["good", "bad"]
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (``reasons`` as a list)."""
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


def robust_rms(
    data: np.ndarray, *, clip_sigma: float = 5.0, grow_pixels: int = 0, iterations: int = 3
) -> float:
    """Rms from the median absolute deviation, masking sources iteratively.

    Parameters
    ----------
    data : numpy.ndarray
        Image pixels (NaN ignored).
    clip_sigma : float
        Pixels beyond this many rms from the median are treated as source.
    grow_pixels : int
        Grow the source mask by this many pixels (about a beam) to drop source wings.
    iterations : int
        Mask-and-re-estimate rounds.

    Returns
    -------
    float
        Robust rms.
    """
    from scipy import ndimage

    data = np.asarray(data, dtype=np.float32)  # an image's own precision: half the memory
    valid = np.isfinite(data)
    keep = valid.copy()
    rms = 0.0
    for _ in range(max(1, iterations)):
        values = data[keep]
        if values.size == 0:
            return 0.0
        med = float(np.median(values))
        np.subtract(values, med, out=values)
        rms = float(_MAD_TO_SIGMA * np.median(np.abs(values, out=values)))
        with np.errstate(invalid="ignore"):  # NaN pixels compare False: not source
            source = np.abs(data - np.float32(med)) > clip_sigma * rms
        if grow_pixels > 0 and source.any():
            source = ndimage.binary_dilation(source, iterations=grow_pixels)
        keep = valid & ~source
    return rms


def image_qa(
    image: Path,
    params: ImagingSettings | None = None,
    *,
    pb: Path | None = None,
    sources: Sequence[FoundSource] | None = None,
    match: CrossMatch | None = None,
) -> ImageQA:
    """Measure an image and judge it against the ``imaging.qa_*`` thresholds.

    Parameters
    ----------
    image : Path
        Restored (flat-noise) image.
    params : ImagingSettings, optional
        Thresholds (``qa_max_rms_jy``, ``qa_min_dynamic_range``, ``qa_max_flux_ratio_error``,
        ``qa_max_offset_arcsec``) and ``pb_limit``.
    pb : Path, optional
        Primary-beam image: statistics are taken where the beam is at least ``pb_limit``.
    sources : sequence of FoundSource, optional
        Catalogue of the image, for the detection count.
    match : CrossMatch, optional
        Cross-match against a reference, for the flux-scale and astrometry checks.

    Returns
    -------
    ImageQA
        Figures and verdict.
    """
    params = params or ImagingSettings()
    with fits.open(image) as hdul:
        header = hdul[0].header
        data = np.squeeze(np.asarray(hdul[0].data, dtype=np.float64))
    if pb is not None:
        beam = np.squeeze(np.asarray(fits.getdata(pb), dtype=np.float64))
        data = np.where(beam >= params.pb_limit, data, np.nan)
    bmaj = float(header.get("BMAJ", 0.0)) * 3600.0
    bmin = float(header.get("BMIN", 0.0)) * 3600.0
    bpa = float(header.get("BPA", 0.0))
    pix = abs(float(header.get("CDELT2", 0.0))) * 3600.0
    grow = round(bmaj / pix) if pix > 0 and bmaj > 0 else 2
    rms = robust_rms(data, grow_pixels=max(1, grow))
    finite = data[np.isfinite(data)]
    peak = float(finite.max()) if finite.size else 0.0
    dynamic_range = peak / rms if rms > 0 else 0.0
    if sources is not None:
        n5 = sum(1 for s in sources if s.peak_jy * s.pb >= 5.0 * rms)
    else:
        from scipy import ndimage

        _, n5 = ndimage.label(np.nan_to_num(data, nan=0.0) >= 5.0 * rms)

    reasons = []
    if not finite.size or rms <= 0:
        reasons.append("image has no valid pixels")
    if rms > params.qa_max_rms_jy:
        reasons.append(f"rms {rms:.4g} Jy > {params.qa_max_rms_jy:g}")
    if dynamic_range < params.qa_min_dynamic_range:
        reasons.append(f"dynamic range {dynamic_range:.1f} < {params.qa_min_dynamic_range:g}")
    ratio = dra = ddec = None
    n_matched = None
    if match is not None:
        n_matched = match.n_matched
        ratio = match.median_flux_ratio
        dra, ddec = match.median_ra_offset_arcsec, match.median_dec_offset_arcsec
        if ratio is not None and abs(ratio - 1.0) > params.qa_max_flux_ratio_error:
            reasons.append(
                f"median flux ratio {ratio:.3f} off by > {params.qa_max_flux_ratio_error:g}"
            )
        if dra is not None and ddec is not None:
            offset = float(np.hypot(dra, ddec))
            if offset > params.qa_max_offset_arcsec:
                reasons.append(
                    f'astrometric offset {offset:.1f}" > {params.qa_max_offset_arcsec:g}'
                )
    return ImageQA(
        rms_jy=rms,
        peak_jy=peak,
        dynamic_range=dynamic_range,
        bmaj_arcsec=bmaj,
        bmin_arcsec=bmin,
        bpa_deg=bpa,
        n_sources_5sigma=int(n5),
        n_matched=n_matched,
        median_flux_ratio=ratio,
        median_ra_offset_arcsec=dra,
        median_dec_offset_arcsec=ddec,
        verdict="bad" if reasons else "good",
        reasons=tuple(reasons),
    )
