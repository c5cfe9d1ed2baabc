"""Calibrator catalogue: the built-in list of L-band calibrators and name look-up."""

from contimg.science.catalog.calibrators import (
    Calibrator,
    CalibratorNotFoundError,
    get_calibrator,
    load_calibrators,
)
from contimg.science.catalog.transit import transit_time

__all__ = [
    "Calibrator",
    "CalibratorNotFoundError",
    "get_calibrator",
    "load_calibrators",
    "transit_time",
]
