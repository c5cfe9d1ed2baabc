"""Calibrator catalogue: the built-in list of L-band calibrators and name look-up."""

from contimg.science.catalog.calibrators import (
    Calibrator,
    CalibratorNotFoundError,
    get_calibrator,
    load_calibrators,
)

__all__ = ["Calibrator", "CalibratorNotFoundError", "get_calibrator", "load_calibrators"]
