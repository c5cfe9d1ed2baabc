"""The built-in list of L-band calibrators (package data ``data/calibrators.csv``).

Each row states where its position, flux density and spectral index come from
(``reference`` column). Names are looked up case- and space-insensitively, by the
canonical name (``0834+555``), the J2000 name (``J0834+5534``) or an alias
(``4C+55.16``, ``3C 286``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from contimg.science.skymodel import REFERENCE_FREQUENCY_HZ, Source

__all__ = [
    "Calibrator",
    "CalibratorNotFoundError",
    "get_calibrator",
    "load_calibrators",
]

_DATA_FILE = "calibrators.csv"


class CalibratorNotFoundError(KeyError):
    """No calibrator has that name or alias."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "calibrator not found"


@dataclass(frozen=True)
class Calibrator:
    """A compact calibrator with a power-law spectrum.

    Attributes
    ----------
    name : str
        Canonical name: the VLA calibrator list's short J2000 name (``0834+555``), or
        the 3C name for the flux-scale calibrators, or the survey name of a blazar.
    j2000_name : str
        IAU J2000 name (``J0834+5534``).
    aliases : tuple of str
        Other names it is known by.
    ra_deg, dec_deg : float
        J2000 position, degrees.
    flux_jy : float
        Stokes I at 1.4 GHz, Jy.
    spectral_index : float
        ``S ~ nu ** spectral_index`` around 1.4 GHz.
    strip_dec_deg : float or None
        The observed DSA-110 declination strip it serves, if any.
    reference : str
        Where the position, flux density and spectral index come from.
    """

    name: str
    j2000_name: str
    aliases: tuple[str, ...]
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float
    strip_dec_deg: float | None
    reference: str

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this calibrator answers to."""
        return (self.name, self.j2000_name, *self.aliases)

    def flux_at(self, freq_hz: np.ndarray | float) -> np.ndarray:
        """Flux density at ``freq_hz``, Jy."""
        ratio = np.asarray(freq_hz, dtype=float) / REFERENCE_FREQUENCY_HZ
        return self.flux_jy * ratio**self.spectral_index

    def to_source(self) -> Source:
        """Return the calibrator as a sky-model point source."""
        return Source(self.name, self.ra_deg, self.dec_deg, self.flux_jy, self.spectral_index)


def _key(name: str) -> str:
    return "".join(name.split()).upper()


@cache
def _load() -> tuple[Calibrator, ...]:
    text = (resources.files("contimg.science.catalog") / "data" / _DATA_FILE).read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        strip = row["strip_dec_deg"].strip()
        out.append(
            Calibrator(
                name=row["name"].strip(),
                j2000_name=row["j2000_name"].strip(),
                aliases=tuple(a.strip() for a in row["aliases"].split(";") if a.strip()),
                ra_deg=float(row["ra_deg"]),
                dec_deg=float(row["dec_deg"]),
                flux_jy=float(row["flux_jy"]),
                spectral_index=float(row["spectral_index"]),
                strip_dec_deg=float(strip) if strip else None,
                reference=row["reference"].strip(),
            )
        )
    return tuple(out)


def load_calibrators() -> list[Calibrator]:
    """Return the built-in calibrators (package data), in file order."""
    return list(_load())


def get_calibrator(name: str) -> Calibrator:
    """Look a calibrator up by name, J2000 name or alias (case and spaces ignored).

    Raises
    ------
    CalibratorNotFoundError
        If no built-in calibrator has that name; the message lists the known ones.
    """
    wanted = _key(name)
    for cal in _load():
        if any(_key(n) == wanted for n in cal.names):
            return cal
    known = ", ".join(c.name for c in _load())
    raise CalibratorNotFoundError(f"unknown calibrator {name!r} (known: {known})")
