"""Calibration: solve bandpass and gains on calibrator transits, gate them, apply them.

Science only: plain functions over paths and typed values (no database, no orchestration).
Heavy CASA imports happen inside the functions, after
:func:`contimg.science.casa_env.ensure_casa_environment`.
"""

from contimg.science.calibrate._types import (
    ApplyAction,
    ApplyDecision,
    ApplyResult,
    CalSet,
    CalSetStatus,
    CalTable,
    CalTableKind,
    ModelSource,
    TableQA,
)
from contimg.science.calibrate.apply import RejectedSetError, apply_calibration, choose_cal_set
from contimg.science.calibrate.model import ModelError, read_model_csv
from contimg.science.calibrate.qa import CalTableError, QAThresholds, check_caltable
from contimg.science.calibrate.refant import DEFAULT_REFANT_CHAIN, RefantError, choose_refant
from contimg.science.calibrate.solve import SolveError, new_set_id, solve_calibration

__all__ = [
    "DEFAULT_REFANT_CHAIN",
    "ApplyAction",
    "ApplyDecision",
    "ApplyResult",
    "CalSet",
    "CalSetStatus",
    "CalTable",
    "CalTableError",
    "CalTableKind",
    "ModelError",
    "ModelSource",
    "QAThresholds",
    "RefantError",
    "RejectedSetError",
    "SolveError",
    "TableQA",
    "apply_calibration",
    "check_caltable",
    "choose_cal_set",
    "choose_refant",
    "new_set_id",
    "read_model_csv",
    "solve_calibration",
]
