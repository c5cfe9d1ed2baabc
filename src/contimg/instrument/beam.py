"""Airy-disk primary beam of a uniformly illuminated circular dish."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import j1

__all__ = ["airy_beam", "airy_fwhm_rad"]

_C = 299_792_458.0


def _airy(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0, (2.0 * j1(safe) / safe) ** 2)


# Half-power point of (2 J1(x)/x)^2: x = 1.6163399...
_X_HALF = brentq(lambda x: float(_airy(np.array(x))) - 0.5, 1.0, 2.5, xtol=1e-14)


def airy_beam(
    theta_rad: np.ndarray | float, freq_hz: np.ndarray | float, dish_diameter_m: float
) -> np.ndarray:
    """Power response PB(theta) = (2 J1(x) / x)^2, x = pi D sin(theta) / lambda.

    Parameters
    ----------
    theta_rad : array_like
        Angle from the beam centre, radians.
    freq_hz : array_like
        Frequency, Hz; broadcast against ``theta_rad``.
    dish_diameter_m : float
        Dish diameter, metres.

    Returns
    -------
    numpy.ndarray
        Beam power, 1 at the centre.
    """
    wavelength = _C / np.asarray(freq_hz, dtype=float)
    x = np.pi * dish_diameter_m * np.sin(np.asarray(theta_rad, dtype=float)) / wavelength
    return _airy(x)


def airy_fwhm_rad(freq_hz: float, dish_diameter_m: float) -> float:
    """Full width at half maximum of the Airy beam, radians (~1.029 lambda / D)."""
    return float(2.0 * np.arcsin(_X_HALF * (_C / freq_hz) / (np.pi * dish_diameter_m)))
