"""Stages from a (calibrated) MS to a registered, assessed, measured image.

The image is registered as soon as it is made (``image_id``: the QA figures that need no
catalogue, verdict ``pending``); source finding, cross-match and the verdict
(``image_assessment``) follow and are recorded on that row (``assessed_verdict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from astropy.io import fits

from contimg.config.settings import ImagingSettings, PathsSettings, PhotometrySettings
from contimg.science.image import ImageProducts, make_image
from contimg.science.photometry import forced_photometry, load_monitored
from contimg.science.qa import ImageQA, image_qa
from contimg.science.quicklook import write_quicklook
from contimg.science.sources import (
    CrossMatch,
    FoundSource,
    crossmatch,
    find_sources,
    read_reference_catalogue,
    write_catalogue_csv,
)
from contimg.science.variability import LightCurveAccumulator
from contimg.state import SqlStateRepository
from contimg.state._images import NewAssessment, NewImage
from contimg.workflows._calibration_stages import CalibrationOutcome

__all__ = [
    "ImageAssessment",
    "assessed_verdict",
    "image",
    "image_assessment",
    "image_id",
    "light_curves",
]


@dataclass(frozen=True)
class ImageAssessment:
    """QA figures, the source catalogue and its cross-match for one image."""

    qa: ImageQA
    sources: tuple[FoundSource, ...]
    catalogue: Path
    match: CrossMatch | None


def image(
    ms: Path,
    config: ImagingSettings,
    scratch: Path,
    calibrated: CalibrationOutcome | None = None,
    *,
    paths: PathsSettings,
) -> ImageProducts:
    """Image the MS (the whole group at its mid-time meridian) with primary-beam correction.

    A set applied in the imaging pass (``calibration.apply_to = "imaging"``) is divided out of
    DATA while the imaging copy is written.
    """
    return make_image(
        ms,
        paths.images_dir,
        config,
        calibration_set=calibrated.set_id if calibrated else None,
        scratch_dir=scratch,
        apply_tables=calibrated.imaging_tables if calibrated else (),
    )


def _obs_time(path: Path) -> datetime | None:
    value = fits.getheader(path).get("DATE-OBS")  # FITS times are UTC without a zone
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def image_id(
    image: ImageProducts, config: ImagingSettings, repository: SqlStateRepository, run_id: int
) -> int:
    """Register the image as soon as it is made; return the image id.

    The row carries the QA figures that need no catalogue (rms, peak, dynamic range) and
    the verdict ``pending``; :func:`assessed_verdict` completes it.
    """
    p = image
    qa = image_qa(p.image, config, pb=p.pb)
    record = repository.images.record(
        NewImage(
            name=p.group_id,
            group_id=p.group_id,
            ms_path=str(p.ms),
            image_path=str(p.image),
            pbcor_path=str(p.pbcor),
            pb_path=str(p.pb),
            psf_path=str(p.psf),
            residual_path=str(p.residual),
            model_path=str(p.model),
            png_path=str(p.png),
            backend=p.backend,
            frequency_hz=p.frequency_hz,
            bmaj_arcsec=p.beam.bmaj_arcsec,
            bmin_arcsec=p.beam.bmin_arcsec,
            bpa_deg=p.beam.bpa_deg,
            cell_arcsec=p.cell_arcsec,
            size=p.size,
            ra_deg=p.phase_centre_deg[0],
            dec_deg=p.phase_centre_deg[1],
            obs_time=_obs_time(p.image),
            calibration_set=_header_calibration(p.image),
            rms_jy=qa.rms_jy,
            peak_jy=qa.peak_jy,
            dynamic_range=qa.dynamic_range,
            verdict="pending",
            qa={**qa.as_dict(), "verdict": "pending"},
            run_id=run_id,
        )
    )
    return record.id


def image_assessment(
    image: ImageProducts, config: ImagingSettings, scratch: Path
) -> ImageAssessment:
    """Find sources, cross-match them with the reference catalogue, judge the image."""
    found = find_sources(
        image.image,
        pb_image=image.pb,
        snr=config.source_snr,
        pb_limit=config.pb_limit,
        scratch_dir=scratch,
        rms_box_beams=config.source_rms_box_beams,
    )
    match = None
    if config.reference_catalog is not None:
        reference = read_reference_catalogue(config.reference_catalog)
        radius = config.fov_deg / 2**0.5
        match = crossmatch(
            found,
            reference,
            image.frequency_hz,
            radius_arcsec=config.crossmatch_radius_arcsec,
            footprint=(*image.phase_centre_deg, radius),
        )
    qa = image_qa(image.image, config, pb=image.pb, sources=found, match=match)
    catalogue = write_catalogue_csv(found, image.image.with_name(f"{image.group_id}-sources.csv"))
    write_quicklook(
        image.image,
        image.png,
        title=image.group_id,
        rms_jy=qa.rms_jy,
        sources=[(s.ra_deg, s.dec_deg) for s in found],
    )
    return ImageAssessment(qa, tuple(found), catalogue, match)


def assessed_verdict(
    image_id: int, image_assessment: ImageAssessment, repository: SqlStateRepository
) -> str:
    """Record the assessment on the registered image (catalogue replaced); return the verdict."""
    qa = image_assessment.qa
    record = repository.images.record_assessment(
        image_id,
        NewAssessment(
            verdict=qa.verdict,
            catalogue_path=str(image_assessment.catalogue),
            rms_jy=qa.rms_jy,
            peak_jy=qa.peak_jy,
            dynamic_range=qa.dynamic_range,
            n_sources=qa.n_sources_5sigma,
            n_matched=qa.n_matched,
            flux_ratio=qa.median_flux_ratio,
            ra_offset_arcsec=qa.median_ra_offset_arcsec,
            dec_offset_arcsec=qa.median_dec_offset_arcsec,
            qa=qa.as_dict(),
        ),
        image_assessment.sources,
    )
    return record.verdict


def _header_calibration(path: Path) -> str | None:
    value = fits.getheader(path).get("CALSET")
    return None if value in (None, "none") else str(value)


def light_curves(
    image: ImageProducts,
    image_id: int,
    repository: SqlStateRepository,
    config: PhotometrySettings,
) -> int:
    """Measure the monitored sources in the image and update their light curves.

    Returns the number of measurements added (upper limits included). Earlier
    epochs are not re-read: each source's running metrics are updated in place.
    """
    detections: list = []
    if config.monitor_first_epochs > 0:
        first = repository.images.list_images(limit=config.monitor_first_epochs, oldest_first=True)
        detections = [repository.images.sources(rec.id) for rec in first]
    positions = load_monitored(config, detections)
    if not positions:
        return 0
    repository.sources.add_sources(positions)
    measured = forced_photometry(image.pbcor, positions, settings=config)
    return repository.sources.add_photometry(
        image_path=measured.image_path,
        time=measured.time,
        rows=measured.measurements,
        accumulate=LightCurveAccumulator.from_settings(config),
        image_id=image_id,
    )
