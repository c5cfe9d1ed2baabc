"""``make_image``: one group MS in, a complete set of image products out.

Steps: check that unflagged data exist; choose the common phase centre (the group's mid-time
meridian); write the imaging copy in one pass (calibrated when asked, re-phased when the MS has
several fields, so that no field is left out, channel-averaged when asked); size the cell from
the beam the weighting gives; run the backend from :data:`IMAGERS`; reject an empty or
non-finite image; stamp the FITS headers; write the primary-beam and corrected images and a
quicklook; rename everything into place.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import structlog
from astropy.io import fits
from astropy.time import Time

from contimg.config.settings import ImagingSettings, section_hash
from contimg.science.image.average import average_channels
from contimg.science.image.msinfo import (
    MsSummary,
    choose_data_column,
    summarize_ms,
    unflagged_fraction,
)
from contimg.science.image.pb import write_pb_products
from contimg.science.image.plan import BackendImages, ImagingPlan
from contimg.science.image.products import Beam, ImageProducts, ImagingError
from contimg.science.image.psf import estimate_beam
from contimg.science.image.rephase import group_centre
from contimg.science.image.tclean import run_tclean
from contimg.science.image.wsclean import run_wsclean
from contimg.science.quicklook import preload_plotting, write_quicklook

if TYPE_CHECKING:
    from contimg.science.calibrate.gains import AntennaGains

__all__ = ["IMAGERS", "make_image", "plan_cell"]

log = structlog.get_logger(__name__)

#: The imager backends, by name (``imaging.backend``). Each takes a resolved plan and returns
#: the FITS files it made; heavy imports happen inside.
IMAGERS: dict[str, Callable[[ImagingPlan], BackendImages]] = {
    "wsclean": run_wsclean,
    "tclean": run_tclean,
}

_SAME_CENTRE_RAD = 1e-7  # ~0.02": a single field already at the centre is not re-phased


def _contimg_version() -> str:
    try:
        return version("contimg")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def plan_cell(ms: Path, params: ImagingSettings) -> tuple[float, int, Beam | None]:
    """Return (cell arcsec, image size in pixels, estimated beam or None when the cell is set).

    Parameters
    ----------
    ms : Path
        Measurement Set to be imaged (single phase centre).
    params : ImagingSettings
        ``cell_arcsec`` (None: the estimated beam's minor axis over ``cells_per_beam``) and
        ``fov_deg``.

    Returns
    -------
    tuple
        Cell, even image size covering ``fov_deg``, and the beam estimate.
    """
    beam = None
    if params.cell_arcsec is not None:
        cell = float(params.cell_arcsec)
    else:
        beam = estimate_beam(ms, params.robust, fov_deg=params.fov_deg)
        cell = math.floor(10.0 * beam.bmin_arcsec / params.cells_per_beam) / 10.0
        cell = max(cell, 0.1)
    size = math.ceil(params.fov_deg * 3600.0 / cell)
    size += size % 2
    return cell, size, beam


def make_image(
    ms: Path,
    out_dir: Path,
    params: ImagingSettings | None = None,
    *,
    name: str | None = None,
    group_id: str | None = None,
    calibration_set: str | None = None,
    phase_centre_deg: tuple[float, float] | None = None,
    scratch_dir: Path | None = None,
    apply_tables: Sequence[Path] = (),
) -> ImageProducts:
    """Image a Measurement Set at one phase centre and write the image products.

    Parameters
    ----------
    ms : Path
        The group MS (any number of fields; re-phased in a scratch copy when needed, the input
        is never modified).
    out_dir : Path
        Directory for the products: ``<name>-image.fits``, ``-psf``, ``-residual``, ``-model``,
        ``-pb``, ``-pbcor`` and ``<name>.png``.
    params : ImagingSettings, optional
        The ``imaging`` config section (defaults when omitted).
    name : str, optional
        File name stem; default the MS name without ``.ms``.
    group_id : str, optional
        Group identifier for the headers; default ``name``.
    calibration_set : str, optional
        Calibration set applied to the data (recorded in the headers; "none" when None).
    phase_centre_deg : tuple of float, optional
        Image centre (RA, Dec) in degrees; default the group's mid-time meridian.
    scratch_dir : Path, optional
        Where temporary copies go (default: a hidden directory in ``out_dir``); removed at the
        end, also on failure.
    apply_tables : sequence of Path, optional
        Bandpass and gain tables of a calibration set to divide out of DATA while the imaging
        copy is written (:mod:`contimg.science.calibrate.gains`); the MS itself is untouched.

    Returns
    -------
    ImageProducts
        Paths of everything written, the restoring beam and the frequency.

    Raises
    ------
    ImagingError
        The MS has no unflagged data, the imager failed, or the image is empty/non-finite.
    """
    params = params or ImagingSettings()
    if params.backend not in IMAGERS:
        raise ImagingError(
            ms, f"unknown imaging backend {params.backend!r}; known: {sorted(IMAGERS)}"
        )
    ms = Path(ms).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or ms.name.removesuffix(".ms").removesuffix(".MS")
    group_id = group_id or name
    bound = log.bind(ms=str(ms), group_id=group_id, backend=params.backend)

    summary = summarize_ms(ms)
    if unflagged_fraction(ms, stop_at=1e-6) == 0.0:
        raise ImagingError(ms, "all visibilities are flagged; nothing to image")

    if phase_centre_deg is not None:
        centre = (math.radians(phase_centre_deg[0]), math.radians(phase_centre_deg[1]))
    else:
        centre = group_centre(summary.fields)

    scratch_parent = Path(scratch_dir).resolve() if scratch_dir else out_dir
    scratch_parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=scratch_parent))
    try:
        gains = None
        if apply_tables:
            from contimg.science.calibrate.gains import load_gains

            gains = load_gains(apply_tables, ms)
            data_column = "DATA"
        else:
            data_column = choose_data_column(ms, params.data_column)
        work_ms, work_column = _prepare_ms(
            ms,
            summary,
            centre,
            _average_factor(summary, params),
            scratch,
            data_column,
            gains,
            params.threads,
        )
        cell, size, est = plan_cell(work_ms, params)
        bound.info(
            "image.planned",
            cell_arcsec=cell,
            size=size,
            beam_estimate=None if est is None else [est.bmaj_arcsec, est.bmin_arcsec],
            fields=summary.n_fields_used,
            data_column=data_column,
            calibrated_in_pass=gains is not None,
            imaging_copy=work_ms != ms,
        )
        plan = ImagingPlan(
            ms=work_ms,
            prefix=scratch / name,
            size=size,
            cell_arcsec=cell,
            robust=params.robust,
            niter=params.niter,
            mgain=params.mgain,
            auto_mask=params.auto_mask,
            auto_threshold=params.auto_threshold,
            threads=params.threads,
            memory_gb=params.memory_gb,
            data_column=work_column,
            scratch=scratch,
            restoring_beam=params.restoring_beam_arcsec,
            padding=params.padding,
            gridder=params.gridder,
            wgridder_accuracy=params.wgridder_accuracy,
            baseline_averaging=params.baseline_averaging,
        )
        # Warm the plotting imports while the imager runs (they cost seconds on a cold worker).
        preload = threading.Thread(target=preload_plotting, name="preload-plotting", daemon=True)
        preload.start()
        raw = IMAGERS[params.backend](plan)
        preload.join()
        _check_image(ms, raw.image)
        beam, freq = _beam_and_frequency(raw.image, summary)
        keywords = _keywords(summary, params, group_id, calibration_set, raw.software, freq, beam)
        for path in (raw.image, raw.psf, raw.residual, raw.model):
            _stamp(path, keywords)
        pb_tmp = scratch / f"{name}-pb.fits"
        pbcor_tmp = scratch / f"{name}-pbcor.fits"
        png_tmp = scratch / f"{name}.png"
        # One after the other: both silence astropy's FITS-fix notes with catch_warnings,
        # which is process-wide state and races when two threads enter it.
        write_pb_products(
            raw.image,
            pb_tmp,
            pbcor_tmp,
            summary.fields,
            freq,
            dish_diameter_m=summary.dish_diameter_m,
            pb_limit=params.pb_limit,
        )
        write_quicklook(raw.image, png_tmp, title=f"{group_id}")
        finals = {
            "image": (raw.image, out_dir / f"{name}-image.fits"),
            "psf": (raw.psf, out_dir / f"{name}-psf.fits"),
            "residual": (raw.residual, out_dir / f"{name}-residual.fits"),
            "model": (raw.model, out_dir / f"{name}-model.fits"),
            "pb": (pb_tmp, out_dir / f"{name}-pb.fits"),
            "pbcor": (pbcor_tmp, out_dir / f"{name}-pbcor.fits"),
            "png": (png_tmp, out_dir / f"{name}.png"),
        }
        # Each product is complete before it is renamed into place (rename is atomic on one
        # filesystem; the scratch directory lives in out_dir by default for that reason).
        for src, dst in finals.values():
            _move_atomic(src, dst)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    products = ImageProducts(
        image=finals["image"][1],
        psf=finals["psf"][1],
        residual=finals["residual"][1],
        model=finals["model"][1],
        pb=finals["pb"][1],
        pbcor=finals["pbcor"][1],
        png=finals["png"][1],
        beam=beam,
        frequency_hz=freq,
        ms=ms,
        backend=params.backend,
        group_id=group_id,
        cell_arcsec=cell,
        size=size,
        phase_centre_deg=(math.degrees(centre[0]), math.degrees(centre[1])),
        data_column=data_column,
    )
    bound.info(
        "image.written",
        image=str(products.image),
        bmaj_arcsec=beam.bmaj_arcsec,
        bmin_arcsec=beam.bmin_arcsec,
    )
    return products


def _average_factor(summary: MsSummary, params: ImagingSettings) -> int:
    """Channels averaged before gridding: ``channel_average`` or up to ``average_to_mhz``."""
    factor = params.channel_average
    freqs = summary.chan_freq_hz
    if params.average_to_mhz is not None and freqs.size > 1:
        width_mhz = float(np.median(np.diff(freqs))) / 1e6
        factor = max(factor, int(params.average_to_mhz / width_mhz + 1e-6))
    return factor


def _prepare_ms(
    ms: Path,
    summary: MsSummary,
    centre: tuple[float, float],
    channel_average: int,
    scratch: Path,
    data_column: str,
    gains: AntennaGains | None = None,
    threads: int = 1,
) -> tuple[Path, str]:
    """Return an MS with one phase centre at ``centre`` and the column to image in it.

    ``ms`` itself when it already has one phase centre there and needs neither averaging nor
    calibration; otherwise the imaging copy, written in one pass over ``ms``: only
    ``data_column`` (as DATA), calibrated with ``gains``, re-phased to ``centre`` and
    channel-averaged, in that order.
    """
    fields = summary.fields
    used = fields.used
    single_at_centre = used.size == 1 and (
        abs(fields.ra_rad[used[0]] - centre[0]) < _SAME_CENTRE_RAD
        and abs(fields.dec_rad[used[0]] - centre[1]) < _SAME_CENTRE_RAD
    )
    if channel_average == 1 and gains is None and single_at_centre:
        return ms, data_column
    work = average_channels(
        ms,
        scratch / "imaging.ms",
        channel_average,
        data_column=data_column,
        gains=gains,
        rephase_to=None if single_at_centre else centre,
        threads=threads,
    )
    return work, ("DATA" if work != ms else data_column)


def _check_image(ms: Path, image: Path) -> None:
    with fits.open(image) as hdul:
        data = np.asarray(hdul[0].data)
    finite = np.isfinite(data)
    if not finite.any():
        raise ImagingError(ms, f"the imager wrote an image with no finite pixels ({image.name})")
    if not np.any(data[finite] != 0):
        raise ImagingError(ms, f"the imager wrote an all-zero image ({image.name})")


def _beam_and_frequency(image: Path, summary: MsSummary) -> tuple[Beam, float]:
    header = fits.getheader(image)
    if "BMAJ" not in header:
        raise ImagingError(summary.path, f"{image.name} has no restoring beam (BMAJ)")
    beam = Beam(
        bmaj_arcsec=float(header["BMAJ"]) * 3600.0,
        bmin_arcsec=float(header["BMIN"]) * 3600.0,
        bpa_deg=float(header.get("BPA", 0.0)),
    )
    freq = summary.centre_frequency_hz
    for axis in range(1, int(header.get("NAXIS", 0)) + 1):
        if str(header.get(f"CTYPE{axis}", "")).upper().startswith("FREQ"):
            freq = float(header[f"CRVAL{axis}"])
    return beam, freq


def _keywords(
    summary: MsSummary,
    params: ImagingSettings,
    group_id: str,
    calibration_set: str | None,
    software: str,
    freq: float,
    beam: Beam,
) -> dict[str, tuple[object, str]]:
    telescope = summary.telescope
    if telescope.upper() in {"OVRO_MMA", "DSA-110", "DSA_110", "DSA110"}:
        telescope = "DSA-110"
    start = Time(summary.time_range_mjd_s[0] / 86400.0, format="mjd", scale="utc")
    return {
        "BMAJ": (beam.bmaj_arcsec / 3600.0, "[deg] restoring beam major axis"),
        "BMIN": (beam.bmin_arcsec / 3600.0, "[deg] restoring beam minor axis"),
        "BPA": (beam.bpa_deg, "[deg] restoring beam position angle"),
        "TELESCOP": (telescope, "telescope"),
        "DATE-OBS": (start.isot, "start of the observation (UTC)"),
        "OBSFREQ": (freq, "[Hz] reference (band-centre) frequency"),
        "GROUPID": (group_id, "contimg group id"),
        "CALSET": (calibration_set or "none", "calibration set applied"),
        "IMAGER": (software, "imager and version"),
        "CONTIMG": (_contimg_version(), "contimg version"),
        "CFGHASH": (section_hash(params), "hash of the imaging config section"),
        "PBLIMIT": (params.pb_limit, "primary-beam level of the corrected image cut"),
    }


def _stamp(path: Path, keywords: dict[str, tuple[object, str]]) -> None:
    with fits.open(path, mode="update") as hdul:
        header = hdul[0].header
        for key, (value, comment) in keywords.items():
            header[key] = (value, comment)


def _move_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    shutil.move(str(src), tmp)  # same filesystem: a rename; else a copy to a hidden name
    os.replace(tmp, dst)
