"""Stages that select QA-passed images of a time range and mosaic them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from contimg.config.settings import MosaicSettings, PathsSettings
from contimg.science.mosaic import MosaicInput, MosaicProducts, make_mosaic
from contimg.state import SqlStateRepository

__all__ = ["mosaic", "mosaic_id", "mosaic_inputs"]


class NotEnoughImagesError(LookupError):
    """Fewer QA-passed images in the time range than ``mosaic.min_images``."""


def mosaic_inputs(
    start: datetime, end: datetime, repository: SqlStateRepository, config: MosaicSettings
) -> tuple[MosaicInput, ...]:
    """Select the primary-beam corrected images observed in [start, end] that passed QA."""
    records = repository.images.list_images(
        verdict="good", since=start, until=end, oldest_first=True, limit=10_000
    )
    if len(records) < config.min_images:
        raise NotEnoughImagesError(
            f"{len(records)} QA-passed image(s) between {start.isoformat()} and "
            f"{end.isoformat()}; mosaic.min_images = {config.min_images}"
        )
    return tuple(
        MosaicInput(Path(r.pbcor_path), Path(r.pb_path), float(r.rms_jy or 0.0)) for r in records
    )


def mosaic(
    mosaic_inputs: tuple[MosaicInput, ...],
    start: datetime,
    end: datetime,
    config: MosaicSettings,
    *,
    paths: PathsSettings,
) -> MosaicProducts:
    """Reproject and combine the images with pb^2 / variance weights."""
    name = f"mosaic-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}"
    return make_mosaic(list(mosaic_inputs), paths.mosaics_dir, name, settings=config)


def mosaic_id(mosaic: MosaicProducts, repository: SqlStateRepository, run_id: int) -> int:
    """Register the mosaic with its inputs and QA; return its id."""
    record = repository.mosaics.add(
        name=mosaic.mosaic_path.stem,
        path=mosaic.mosaic_path,
        weight_path=mosaic.weight_path,
        noise_path=mosaic.noise_path,
        png_path=mosaic.png_path,
        start_time=mosaic.start_time,
        end_time=mosaic.end_time,
        ra_deg=mosaic.ra_deg,
        dec_deg=mosaic.dec_deg,
        qa=dataclasses.asdict(mosaic.qa),
        qa_passed=mosaic.qa.passed,
        inputs=mosaic.inputs,
        run_id=run_id,
    )
    return record.id
