"""Stages that solve, register, choose and apply calibration.

Choosing and registering read or write the state store and run inline; CASA
solving and applying run in the process executor (CASA is crash-prone and
keeps global state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from contimg.config.settings import CalibrationSettings, PathsSettings
from contimg.science.calibrate import (
    ApplyAction,
    ApplyDecision,
    ApplyResult,
    CalSet,
    ModelSource,
    solve_calibration,
)
from contimg.science.calibrate.apply import apply_calibration
from contimg.state import SqlStateRepository
from contimg.workflows.calibration_steps import (
    decide_for_ms,
    record_application,
    register_set,
    resolve_model,
)

__all__ = [
    "CalibrationModel",
    "CalibrationOutcome",
    "cal_set",
    "calibrated",
    "calibration_decision",
    "calibration_model",
    "recorded_calibration",
    "registered_cal_set",
]


class CalibrationMissingError(RuntimeError):
    """No valid calibration set covers a target and ``calibration.when_missing = "fail"``."""


class CalibrationRejectedError(RuntimeError):
    """A solved set failed QA; it is registered as ``rejected`` and never applied."""


@dataclass(frozen=True)
class CalibrationModel:
    """What a solve uses: the calibrator's name, its sky model and its transit."""

    name: str
    sources: tuple[ModelSource, ...]
    transit_time: datetime | None


@dataclass(frozen=True)
class CalibrationOutcome:
    """How a target MS was calibrated (always part of a run's outputs)."""

    ms: Path
    action: ApplyAction
    reason: str
    applied: ApplyResult | None = None

    @property
    def set_id(self) -> str | None:
        """The applied set, or ``None`` when the data stay uncalibrated."""
        return self.applied.set_id if self.applied else None

    @property
    def imaging_tables(self) -> tuple[Path, ...]:
        """Tables the imaging pass applies to DATA (empty when there is nothing to apply)."""
        if self.applied and self.applied.applied_in == "imaging":
            return self.applied.tables
        return ()


def calibration_model(
    ms: Path, repository: SqlStateRepository, config: CalibrationSettings
) -> CalibrationModel:
    """Find the calibrator transiting the MS (or read ``calibration.model``)."""
    name, sources, transit = resolve_model(
        repository.calibration, ms, config, model_csv=config.model
    )
    when = transit.transit.transit_time if transit and transit.transit else None
    return CalibrationModel(name, tuple(sources), when)


def cal_set(
    ms: Path,
    calibration_model: CalibrationModel,
    config: CalibrationSettings,
    scratch: Path,
    *,
    paths: PathsSettings,
) -> CalSet:
    """Solve bandpass and gains on the calibrator (CASA; valid or rejected set)."""
    return solve_calibration(
        ms,
        calibration_model.sources,
        caltables_dir=paths.caltables_dir,
        settings=config,
        calibrator=calibration_model.name,
        transit_time=calibration_model.transit_time,
        log_dir=paths.logs_dir,
        scratch_dir=scratch,
    )


def registered_cal_set(cal_set: CalSet, repository: SqlStateRepository, run_id: int) -> str:
    """Register the set; a rejected set is stored with its reasons and fails the stage."""
    register_set(repository.calibration, cal_set, run_id=run_id)
    if not cal_set.valid:
        raise CalibrationRejectedError(
            f"calibration set {cal_set.set_id} rejected: {'; '.join(cal_set.reasons)}"
        )
    return cal_set.set_id


def calibration_decision(
    ms: Path, repository: SqlStateRepository, config: CalibrationSettings
) -> ApplyDecision:
    """Choose the nearest valid set covering the MS, or say what to do without one."""
    return decide_for_ms(repository.calibration, ms, config)


def calibrated(
    ms: Path,
    calibration_decision: ApplyDecision,
    config: CalibrationSettings,
    scratch: Path,
    *,
    paths: PathsSettings,
) -> CalibrationOutcome:
    """Apply the chosen set (``calibration.apply_to``), or state why the data stay uncalibrated.

    ``wait`` reaching this stage means the service already waited its bounded time
    (``calibration.wait_timeout_s``) for a set, so the target goes on uncalibrated.
    """
    decision = calibration_decision
    if decision.action is ApplyAction.FAIL:
        raise CalibrationMissingError(f"{ms}: {decision.reason}")
    if decision.action is not ApplyAction.APPLY or decision.cal_set is None:
        return CalibrationOutcome(ms, decision.action, decision.reason)
    result = apply_calibration(
        ms,
        decision.cal_set,
        log_dir=paths.logs_dir,
        scratch_dir=scratch,
        apply_to=config.apply_to,
    )
    return CalibrationOutcome(ms, ApplyAction.APPLY, decision.reason, result)


def recorded_calibration(
    calibrated: CalibrationOutcome, repository: SqlStateRepository, run_id: int
) -> str | None:
    """Record which set went into the MS; return its id (``None`` when uncalibrated)."""
    if calibrated.applied is None:
        return None
    record_application(repository.calibration, calibrated.applied, run_id=run_id)
    return calibrated.applied.set_id
