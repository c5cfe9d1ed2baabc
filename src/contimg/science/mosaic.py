r"""Mosaics along the strip: reproject primary-beam corrected images and combine them.

Each input is a primary-beam corrected image ``I`` with its primary beam ``B`` and the
noise ``sigma`` of the uncorrected image (flat across it). The corrected image's noise at a
pixel is ``sigma/B``, so the inverse-variance weight is ``w = B²/sigma²`` (Sault, Staveley-Smith
& Brouw 1996) and

.. math::

    M = \frac{\sum_k w_k I_k}{\sum_k w_k}, \qquad \sigma_M = \frac{1}{\sqrt{\sum_k w_k}}.

Inputs are reprojected one at a time onto the part of a common grid (TAN by default, from
:func:`reproject.mosaicking.find_optimal_celestial_wcs`, whose reference point is the mean
of unit vectors and so is correct across RA = 0/360) that covers them, and accumulated;
memory is two output-sized arrays plus one input. Pixels whose primary beam is below
``pb_cutoff`` are not used.

QA compares the mosaic's noise with the expected combination (``sigma_M``): the robust
standard deviation of ``M/sigma_M`` should be 1. With a reference catalogue it also reports
the median ratio of forced-fit mosaic fluxes to catalogue fluxes (scaled to the mosaic
frequency with each source's spectral index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.stats import mad_std
from astropy.time import Time
from astropy.wcs import WCS
from reproject import reproject_interp
from reproject.mosaicking import find_optimal_celestial_wcs

from contimg.config.settings import MosaicSettings, PhotometrySettings
from contimg.science._fitsplane import Beam, Plane, atomic_write, read_plane, write_fits
from contimg.science.photometry import measure_positions
from contimg.science.skymodel import REFERENCE_FREQUENCY_HZ, read_sky_model

__all__ = [
    "MatchedFlux",
    "MosaicInput",
    "MosaicProducts",
    "MosaicQA",
    "ReferenceSource",
    "expected_noise",
    "make_mosaic",
]


class ReferenceSource(Protocol):
    """A sky-model / reference-catalogue row (INTERFACE.md columns)."""

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def ra_deg(self) -> float: ...  # noqa: D102

    @property
    def dec_deg(self) -> float: ...  # noqa: D102

    @property
    def flux_jy(self) -> float: ...  # noqa: D102

    @property
    def spectral_index(self) -> float: ...  # noqa: D102


@dataclass(frozen=True)
class MosaicInput:
    """One image to mosaic.

    Attributes
    ----------
    image_path : Path
        Primary-beam corrected image (``<name>-pbcor.fits``).
    pb_path : Path
        Its primary beam (``<name>-pb.fits``), same grid.
    rms_jy : float
        Noise of the uncorrected image (Jy/beam), e.g. from image QA.
    """

    image_path: Path
    pb_path: Path
    rms_jy: float


@dataclass(frozen=True)
class MatchedFlux:
    """One reference source measured in a mosaic (forced beam fit at its catalogue position).

    Attributes
    ----------
    name : str
        Reference source name.
    flux_jy : float
        Measured flux density in the mosaic.
    expected_jy : float
        Reference flux scaled to the mosaic frequency with its spectral index.
    ratio : float
        ``flux_jy / expected_jy``.
    snr : float
        Measured flux over the local effective noise.
    """

    name: str
    flux_jy: float
    expected_jy: float
    ratio: float
    snr: float


@dataclass(frozen=True)
class MosaicQA:
    """Quality figures of a mosaic.

    Attributes
    ----------
    expected_noise_jy : float
        Median effective noise ``1/sqrt(Σw)`` over the covered pixels.
    min_noise_jy : float
        Lowest effective noise (the deepest overlap).
    measured_noise_jy : float
        ``noise_ratio * expected_noise_jy``.
    noise_ratio : float
        Robust std of ``mosaic / effective noise`` over covered pixels (1 when the
        inputs' rms values describe their noise).
    flux_ratio : float or None
        Median mosaic/reference flux ratio of cross-matched sources (None without any).
    n_matched : int
        Reference sources measured above ``qa_min_snr``.
    passed : bool
        Both figures within their configured limits.
    problems : tuple of str
        Why QA failed (empty when it passed).
    sources : tuple of MatchedFlux
        The reference sources behind ``flux_ratio``, one each.
    """

    expected_noise_jy: float
    min_noise_jy: float
    measured_noise_jy: float
    noise_ratio: float
    flux_ratio: float | None
    n_matched: int
    passed: bool
    problems: tuple[str, ...] = ()
    sources: tuple[MatchedFlux, ...] = ()


@dataclass(frozen=True)
class MosaicProducts:
    """What :func:`make_mosaic` wrote (absolute paths) and what it found."""

    mosaic_path: Path
    weight_path: Path
    noise_path: Path
    png_path: Path
    inputs: tuple[MosaicInput, ...]
    ra_deg: float
    dec_deg: float
    shape: tuple[int, int]
    cell_arcsec: float
    beam: Beam | None
    frequency_hz: float
    start_time: datetime | None
    end_time: datetime | None
    qa: MosaicQA


def expected_noise(weights: np.ndarray) -> np.ndarray:
    """Return the effective noise ``1/sqrt(Σw)`` of a weight map (NaN where uncovered)."""
    with np.errstate(divide="ignore"):
        return np.where(weights > 0, 1.0 / np.sqrt(np.where(weights > 0, weights, 1.0)), np.nan)


def _footprint_box(
    plane: Plane, wcs_out: WCS, shape_out: tuple[int, int], margin: int = 3
) -> tuple[slice, slice] | None:
    """Bounding box (y, x slices) of an input's border on the output grid."""
    ny, nx = plane.data.shape
    # Sample the outer pixel edges; a TAN border is curved on another TAN grid.
    t = np.linspace(0.0, 1.0, 33)
    xe, ye = t * nx - 0.5, t * ny - 0.5
    xs = np.concatenate([xe, np.full_like(t, nx - 0.5), xe, np.full_like(t, -0.5)])
    ys = np.concatenate([np.full_like(t, -0.5), ye, np.full_like(t, ny - 0.5), ye])
    ra, dec = plane.wcs.pixel_to_world_values(xs, ys)
    px, py = wcs_out.world_to_pixel_values(ra, dec)
    if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
        return slice(0, shape_out[0]), slice(0, shape_out[1])
    x0 = max(math.floor(px.min()) - margin, 0)
    x1 = min(math.ceil(px.max()) + margin + 1, shape_out[1])
    y0 = max(math.floor(py.min()) - margin, 0)
    y1 = min(math.ceil(py.max()) + margin + 1, shape_out[0])
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(y0, y1), slice(x0, x1)


def _median_beam(beams: Sequence[Beam | None]) -> Beam | None:
    known = [b for b in beams if b is not None]
    if not known:
        return None
    return Beam(
        float(np.median([b.bmaj_deg for b in known])),
        float(np.median([b.bmin_deg for b in known])),
        float(np.median([b.bpa_deg for b in known])),
    )


def _header(
    wcs: WCS, beam: Beam | None, freq: float, times: list[datetime], bunit: str
) -> fits.Header:
    hdr = wcs.to_header()
    hdr["BUNIT"] = bunit
    if beam is not None:
        hdr["BMAJ"], hdr["BMIN"], hdr["BPA"] = beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg
    hdr["RESTFRQ"] = (freq, "[Hz] reference frequency of the inputs")
    if times:
        hdr["DATE-OBS"] = Time(min(times)).isot
        hdr["DATE-END"] = (Time(max(times)).isot, "start of the last input")
    hdr["ORIGIN"] = "contimg mosaic"
    return hdr


def _write_png(path: Path, data: np.ndarray, wcs: WCS, title: str) -> Path:
    from matplotlib.figure import Figure  # lazy: heavy, and no pyplot global state

    # A quicklook: about one image pixel per screen pixel (the figure is 1000 px wide).
    step = max(1, math.ceil(max(data.shape) / 1000))
    data, wcs = data[::step, ::step], wcs[::step, ::step]
    finite = data[np.isfinite(data)]
    lo, hi = np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0)
    aspect = data.shape[0] / max(data.shape[1], 1)
    fig = Figure(figsize=(10.0, max(3.0, 10.0 * aspect) + 0.8), dpi=100)
    ax = fig.add_subplot(projection=wcs)
    im = ax.imshow(data, origin="lower", cmap="inferno", vmin=lo, vmax=hi)
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="Jy/beam", fraction=0.03)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _noise_ratio(mosaic: np.ndarray, noise: np.ndarray) -> float:
    z = mosaic / noise
    z = z[np.isfinite(z)]
    if z.size < 10:
        return math.nan
    # Sources are sparse: MAD-based std after a 5-sigma cut ignores them.
    s = float(mad_std(z))
    return float(mad_std(z[np.abs(z - np.median(z)) < 5 * s]))


def _check_extent(planes: Sequence[Plane], cfg: MosaicSettings) -> None:
    """Refuse a zenithal (TAN/SIN) grid for inputs spread too far: it would blow up."""
    if cfg.projection == "CAR" or len(planes) < 2:
        return
    centres = []
    for p in planes:
        ny, nx = p.data.shape
        ra, dec = (
            np.radians(float(v)) for v in p.wcs.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2)
        )
        centres.append((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    xyz = np.array(centres)
    spread = float(np.degrees(np.arccos(np.clip(np.min(xyz @ xyz.T), -1.0, 1.0))))
    if spread > cfg.max_extent_deg:
        raise ValueError(
            f"inputs span {spread:.1f} deg > mosaic.max_extent_deg = {cfg.max_extent_deg}: "
            f"a {cfg.projection} grid cannot hold them; use a shorter time range or "
            "mosaic.projection = 'CAR'"
        )


def make_mosaic(
    inputs: Sequence[MosaicInput],
    outdir: Path,
    name: str,
    *,
    settings: MosaicSettings | None = None,
    reference: Sequence[ReferenceSource] | None = None,
    photometry: PhotometrySettings | None = None,
) -> MosaicProducts:
    """Reproject and combine primary-beam corrected images into one mosaic.

    Parameters
    ----------
    inputs : sequence of MosaicInput
        The images (already selected by time range and QA).
    outdir : Path
        Directory for ``<name>.fits``, ``<name>-weight.fits``, ``<name>-noise.fits``
        and ``<name>.png``; each written to a temporary name and renamed.
    name : str
        Product base name.
    settings : MosaicSettings, optional
        The ``mosaic`` configuration section.
    reference : sequence of ReferenceSource, optional
        Reference catalogue (sky-model rows) for the flux-ratio QA; default: the
        sky-model CSV ``settings.reference_catalog`` when set, else no flux QA.
    photometry : PhotometrySettings, optional
        Forced-fit settings used for the flux-ratio QA.

    Returns
    -------
    MosaicProducts
        Paths, grid, time range and QA.
    """
    cfg = settings or MosaicSettings()
    if not inputs:
        raise ValueError("a mosaic needs at least one input image")
    for item in inputs:
        if not item.rms_jy > 0:
            raise ValueError(f"{item.image_path}: rms_jy must be > 0, got {item.rms_jy!r}")
    if reference is None and cfg.reference_catalog is not None:
        reference = tuple(read_sky_model(cfg.reference_catalog))
    headers = [read_plane(Path(i.image_path)) for i in inputs]
    _check_extent(headers, cfg)
    resolution = cfg.cell_arcsec * u.arcsec if cfg.cell_arcsec else None
    wcs_out, shape_out = find_optimal_celestial_wcs(
        [(p.data.shape, p.wcs) for p in headers],
        frame="icrs",
        projection=cfg.projection,
        resolution=resolution,
    )
    shape_out = (int(shape_out[0]), int(shape_out[1]))
    sum_wi = np.zeros(shape_out)
    sum_w = np.zeros(shape_out)
    for item, plane in zip(inputs, headers, strict=True):
        box = _footprint_box(plane, wcs_out, shape_out)
        if box is None:
            continue
        sub_wcs = wcs_out[box]
        sub_shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
        pb_plane = read_plane(Path(item.pb_path))
        if pb_plane.data.shape != plane.data.shape:
            raise ValueError(f"{item.pb_path}: shape differs from {item.image_path}")
        valid = np.isfinite(plane.data) & np.isfinite(pb_plane.data)
        valid &= np.where(valid, pb_plane.data, 0.0) >= cfg.pb_cutoff
        # Spline interpolation (bicubic) prefilters the whole array, so one NaN (WSClean
        # blanks the pbcor image below its pb limit) would spread everywhere: interpolate
        # zero-filled data with a validity plane and drop output pixels near invalid ones.
        # The three planes share one coordinate transform (the costly part), computed
        # without reproject's round-trip check: both grids are plain celestial TAN/SIN.
        stack = np.stack(
            [
                np.where(valid, plane.data, 0.0),
                valid.astype(np.float64),
                np.where(valid, pb_plane.data, 0.0),
            ]
        )
        img_out, valid_out, pb_out = reproject_interp(
            (stack, plane.wcs),
            sub_wcs,
            shape_out=(3, *sub_shape),
            order=cfg.interpolation,
            return_footprint=False,
            roundtrip_coords=False,
        )
        good = (
            np.isfinite(img_out)
            & np.isfinite(pb_out)
            & (pb_out >= cfg.pb_cutoff)
            & (np.abs(np.nan_to_num(valid_out) - 1.0) < 1e-3)
        )
        w = np.where(good, np.nan_to_num(pb_out) ** 2 / item.rms_jy**2, 0.0)
        sum_wi[box] += w * np.nan_to_num(img_out)
        sum_w[box] += w
    covered = sum_w > 0
    mosaic = np.full(shape_out, np.nan)
    mosaic[covered] = sum_wi[covered] / sum_w[covered]
    noise = expected_noise(sum_w)

    beam = _median_beam([p.beam for p in headers])
    freq = float(np.median([p.frequency_hz for p in headers]))
    times = [p.time for p in headers if p.time is not None]
    outdir = Path(outdir)
    mosaic_path = write_fits(
        outdir / f"{name}.fits", mosaic, _header(wcs_out, beam, freq, times, "JY/BEAM")
    )
    weight_path = write_fits(
        outdir / f"{name}-weight.fits",
        sum_w,
        _header(wcs_out, beam, freq, times, "BEAM**2/(JY/BEAM)**2"),
    )
    noise_path = write_fits(
        outdir / f"{name}-noise.fits", noise, _header(wcs_out, beam, freq, times, "JY/BEAM")
    )
    png_path = _write_png(outdir / f"{name}.png", mosaic, wcs_out, f"{name} ({len(inputs)} images)")

    qa = _qa(mosaic, noise, wcs_out, beam, freq, cfg, reference, photometry)
    centre = wcs_out.pixel_to_world_values((shape_out[1] - 1) / 2, (shape_out[0] - 1) / 2)
    return MosaicProducts(
        mosaic_path=mosaic_path,
        weight_path=weight_path,
        noise_path=noise_path,
        png_path=png_path,
        inputs=tuple(inputs),
        ra_deg=float(centre[0]) % 360.0,
        dec_deg=float(centre[1]),
        shape=shape_out,
        cell_arcsec=float(np.sqrt(abs(np.linalg.det(wcs_out.pixel_scale_matrix)))) * 3600.0,
        beam=beam,
        frequency_hz=freq,
        start_time=min(times) if times else None,
        end_time=max(times) if times else None,
        qa=qa,
    )


def _qa(
    mosaic: np.ndarray,
    noise: np.ndarray,
    wcs: WCS,
    beam: Beam | None,
    freq: float,
    cfg: MosaicSettings,
    reference: Sequence[ReferenceSource] | None,
    photometry: PhotometrySettings | None,
) -> MosaicQA:
    finite = noise[np.isfinite(noise)]
    expected = float(np.median(finite)) if finite.size else math.nan
    ratio = _noise_ratio(mosaic, noise)
    problems: list[str] = []
    if not finite.size:
        problems.append("mosaic covers no pixel")
    elif not ratio <= cfg.qa_noise_ratio_max:
        problems.append(f"noise ratio {ratio:.2f} > {cfg.qa_noise_ratio_max}")
    matched: list[MatchedFlux] = []
    flux_ratio: float | None = None
    if reference and beam is not None and finite.size:
        by_name = {r.name: r for r in reference}
        measurements, _ = measure_positions(
            mosaic, wcs, beam, reference, noise=noise, settings=photometry
        )
        for m in measurements:
            ref = by_name[m.name]
            expected_flux = ref.flux_jy * (freq / REFERENCE_FREQUENCY_HZ) ** ref.spectral_index
            if m.snr >= cfg.qa_min_snr and expected_flux > 0:
                matched.append(
                    MatchedFlux(m.name, m.flux_jy, expected_flux, m.flux_jy / expected_flux, m.snr)
                )
        if matched:
            flux_ratio = float(np.median([m.ratio for m in matched]))
            if abs(flux_ratio - 1.0) > cfg.qa_flux_ratio_tolerance:
                problems.append(
                    f"flux ratio {flux_ratio:.3f} off by more than {cfg.qa_flux_ratio_tolerance}"
                )
    return MosaicQA(
        expected_noise_jy=expected,
        min_noise_jy=float(finite.min()) if finite.size else math.nan,
        measured_noise_jy=ratio * expected,
        noise_ratio=ratio,
        flux_ratio=flux_ratio,
        n_matched=len(matched),
        passed=not problems,
        problems=tuple(problems),
        sources=tuple(matched),
    )
