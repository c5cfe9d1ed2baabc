"""The science workflows: standard, quicklook, calibrator, reprocessing, mosaic.

Each workflow is a list of stages; the engine derives the graph from what the
stages need and produce. Stages shared by several workflows are built by one
function each, so a stage that already ran for a group in one workflow (the
conversion of a calibrator group, say) is reused, not redone, by the next.

Group workflows take ``{"group_id": str}``; ``reprocessing`` takes
``{"ms": Path}``; ``mosaic`` takes ``{"start": datetime, "end": datetime}``.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path

from contimg.config.settings import Settings
from contimg.pipeline import Resources, RetryPolicy, Stage, Workflow
from contimg.workflows import _calibration_stages as cal
from contimg.workflows import _imaging_stages as img
from contimg.workflows import _ingest_stages as ingest
from contimg.workflows import _mosaic_stages as mos

__all__ = ["calibrator", "mosaic", "quicklook", "reprocessing", "standard"]

# Shared storage hiccups (NFS, a busy disk) are worth a second try; nothing else is.
_IO_RETRY = RetryPolicy.exponential(3, initial_delay_s=2.0, max_delay_s=30.0, jitter=0.1)


def _conversion(settings: Settings) -> list[Stage]:
    paths = settings.paths
    return [
        Stage("group_files", ingest.group_files, produces="group_files"),
        Stage(
            "convert",
            partial(ingest.converted_ms, paths=paths),
            produces="converted_ms",
            config="conversion",
            executor="process",
            retry=_IO_RETRY,
            timeout_s=1800,
            resources=Resources(cpus=settings.conversion.n_workers),
        ),
        Stage("register_ms", ingest.registered_ms, produces="ms"),
    ]


def _flagging(settings: Settings, *, enforce_limit: bool = True) -> Stage:
    return Stage(
        "flag",
        partial(ingest.flags, paths=settings.paths, enforce_limit=enforce_limit),
        produces="flags",
        config="flagging",
        executor="process",
        timeout_s=1800,
        resources=Resources(cpus=settings.flagging.threads),
    )


def _apply(settings: Settings) -> list[Stage]:
    return [
        Stage(
            "choose_calibration",
            cal.calibration_decision,
            produces="calibration_decision",
            config="calibration",
            after=("flag",),
        ),
        Stage(
            "apply_calibration",
            partial(cal.calibrated, paths=settings.paths),
            produces="calibrated",
            config="calibration",
            executor="process",
            timeout_s=1800,
        ),
        Stage("record_calibration", cal.recorded_calibration, produces="calibration_set"),
    ]


def _solve(settings: Settings) -> list[Stage]:
    return [
        Stage(
            "calibrator_model",
            cal.calibration_model,
            produces="calibration_model",
            config="calibration",
            after=("flag",),
        ),
        Stage(
            "solve",
            partial(cal.cal_set, paths=settings.paths),
            produces="cal_set",
            config="calibration",
            executor="process",
            timeout_s=3600,
        ),
        Stage("register_calibration", cal.registered_cal_set, produces="cal_set_id"),
    ]


def _imaging(settings: Settings, *, calibrated: bool) -> list[Stage]:
    stages = [
        Stage(
            "image",
            partial(img.image, paths=settings.paths),
            produces="image",
            needs=("ms", "calibrated") if calibrated else ("ms",),
            config="imaging",
            executor="process",
            timeout_s=3600,
            resources=Resources(cpus=settings.imaging.threads),
        ),
        # Registered as soon as it is made (verdict "pending"): source finding is off the
        # latency path, and its results update the record.
        Stage("register_image", img.image_id, produces="image_id", config="imaging"),
        Stage(
            "assess_image",
            img.image_assessment,
            produces="image_assessment",
            config="imaging",
            executor="process",
            timeout_s=1800,
            after=("register_image",),
        ),
        Stage("record_assessment", img.assessed_verdict, produces="verdict"),
    ]
    if calibrated:
        # After the assessment: monitor_first_epochs reads the first images' catalogues.
        stages.append(
            Stage(
                "photometry",
                img.light_curves,
                produces="n_measurements",
                config="photometry",
                critical=False,
                after=("record_assessment",),
            )
        )
    return stages


def standard(settings: Settings) -> Workflow:
    """Convert, flag, apply the nearest calibration, image, register, assess, measure."""
    return Workflow(
        "standard",
        [
            *_conversion(settings),
            _flagging(settings),
            *_apply(settings),
            *_imaging(settings, calibrated=True),
        ],
        inputs={"group_id": str},
        description="A target group from subband files to a calibrated, checked, measured image.",
    )


def quicklook(settings: Settings) -> Workflow:
    """Convert and image a group as it is (no flagging, no calibration)."""
    return Workflow(
        "quicklook",
        [*_conversion(settings), *_imaging(settings, calibrated=False)],
        inputs={"group_id": str},
        description="A fast look at a group: convert, image, register, assess.",
    )


def calibrator(settings: Settings) -> Workflow:
    """Convert and flag a calibrator-transit group, solve, register the set."""
    return Workflow(
        "calibrator",
        [*_conversion(settings), _flagging(settings, enforce_limit=False), *_solve(settings)],
        inputs={"group_id": str},
        description="Solve bandpass and gains on the calibrator transiting a group.",
    )


def reprocessing(settings: Settings) -> Workflow:
    """Calibrate an existing MS on its own calibrator (or ``calibration.model``) and image it."""
    return Workflow(
        "reprocessing",
        [
            _flagging(settings),
            *_solve(settings),
            Stage(
                "choose_calibration",
                cal.calibration_decision,
                produces="calibration_decision",
                config="calibration",
                after=("register_calibration",),
            ),
            *_apply(settings)[1:],
            *_imaging(settings, calibrated=True),
        ],
        inputs={"ms": Path},
        description="An existing MS (any array): flag, solve, apply, image, assess.",
    )


def mosaic(settings: Settings) -> Workflow:
    """Mosaic the QA-passed images of a time range."""
    return Workflow(
        "mosaic",
        [
            Stage("select_images", mos.mosaic_inputs, produces="mosaic_inputs", config="mosaic"),
            Stage(
                "mosaic",
                partial(mos.mosaic, paths=settings.paths),
                produces="mosaic",
                config="mosaic",
                executor="process",
                resources=Resources(nice=settings.mosaic.nice),
                timeout_s=3600,
            ),
            Stage("register_mosaic", mos.mosaic_id, produces="mosaic_id"),
        ],
        inputs={"start": datetime, "end": datetime},
        description="Reproject and combine a time range's images along the strip.",
    )
