"""The calibration sky model: point sources with spectra, seen through the primary beam.

The solve averages the phase-shifted calibrator data over the group's fields, so the model
each source needs is its *apparent* spectrum averaged over the same fields: ``S(nu)`` times the
Airy primary-beam response at its offset from each field's beam centre (a drift-scan field's
phase centre is its beam centre), averaged over fields. That spectrum is written into a CASA
component list as a tabular spectrum and Fourier-transformed into MODEL_DATA by ``ft``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.special import j1

__all__ = [
    "ModelError",
    "airy_beam",
    "angular_separation_deg",
    "apparent_spectrum",
    "read_model_csv",
    "write_component_list",
]

from contimg.science.calibrate._types import ModelSource

_C = 299_792_458.0


class ModelError(ValueError):
    """A sky-model file or calibrator model that cannot be used."""


def angular_separation_deg(
    ra1: float, dec1: float, ra2: np.ndarray, dec2: np.ndarray
) -> np.ndarray:
    """Great-circle separation, degrees (vectorised over the second position)."""
    r1, d1, r2, d2 = map(np.deg2rad, (ra1, dec1, np.asarray(ra2), np.asarray(dec2)))
    cos = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def airy_beam(offset_deg: np.ndarray, freqs_hz: np.ndarray, dish_m: float) -> np.ndarray:
    """Airy power pattern ``(2 J1(x) / x)**2``, ``x = pi D sin(theta) / lambda``.

    Parameters
    ----------
    offset_deg : numpy.ndarray
        Offsets from the beam centre, degrees, shape (n,).
    freqs_hz : numpy.ndarray
        Frequencies, shape (m,).
    dish_m : float
        Dish diameter, metres.

    Returns
    -------
    numpy.ndarray
        Response, shape (n, m), 1 on axis.
    """
    x = np.pi * dish_m * np.sin(np.deg2rad(np.asarray(offset_deg, float)))[:, None]
    x = x * np.asarray(freqs_hz, float)[None, :] / _C
    safe = np.where(np.abs(x) > 1e-9, x, 1.0)
    return np.where(np.abs(x) > 1e-9, (2.0 * j1(safe) / safe) ** 2, 1.0)


def apparent_spectrum(
    source: ModelSource,
    freqs_hz: np.ndarray,
    beam_ra_deg: np.ndarray,
    beam_dec_deg: np.ndarray,
    dish_m: float | None,
) -> np.ndarray:
    """Field-averaged apparent spectrum of a source, Jy per channel.

    Parameters
    ----------
    source : ModelSource
        The source.
    freqs_hz : numpy.ndarray
        Channel frequencies.
    beam_ra_deg, beam_dec_deg : numpy.ndarray
        Beam centre of each averaged field, degrees.
    dish_m : float or None
        Dish diameter for the Airy beam; ``None`` (or nan) applies no beam.

    Returns
    -------
    numpy.ndarray
        Apparent flux density per channel.
    """
    spectrum = source.flux_at(np.asarray(freqs_hz, float))
    if dish_m is None or not np.isfinite(dish_m):
        return spectrum
    offsets = angular_separation_deg(source.ra_deg, source.dec_deg, beam_ra_deg, beam_dec_deg)
    return spectrum * airy_beam(offsets, freqs_hz, dish_m).mean(axis=0)


def read_model_csv(path: Path) -> list[ModelSource]:
    """Read a sky-model CSV (``name,ra_deg,dec_deg,flux_jy,spectral_index``; extra columns ignored).

    Parameters
    ----------
    path : Path
        The CSV file.

    Returns
    -------
    list of ModelSource
        Sources, brightest first.

    Raises
    ------
    ModelError
        Missing columns, unparsable values or no sources; the message names the file and row.
    """
    path = Path(path)
    required = ("name", "ra_deg", "dec_deg", "flux_jy", "spectral_index")
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ModelError(f"{path}: missing column(s) {', '.join(missing)}")
            sources = []
            for lineno, row in enumerate(reader, start=2):
                try:
                    sources.append(
                        ModelSource(
                            name=row["name"].strip(),
                            ra_deg=float(row["ra_deg"]),
                            dec_deg=float(row["dec_deg"]),
                            flux_jy=float(row["flux_jy"]),
                            spectral_index=float(row["spectral_index"] or 0.0),
                        )
                    )
                except (TypeError, ValueError) as exc:
                    raise ModelError(f"{path}:{lineno}: {exc}") from None
    except OSError as exc:
        raise ModelError(f"{path}: {exc.strerror or exc}") from None
    if not sources:
        raise ModelError(f"{path}: no sources")
    return sorted(sources, key=lambda s: -s.flux_jy)


def write_component_list(
    path: Path,
    sources: Sequence[ModelSource],
    spectra: Sequence[np.ndarray],
    freqs_hz: np.ndarray,
) -> Path:
    """Write a CASA component list of point sources with tabular spectra.

    Call :func:`contimg.science.casa_env.ensure_casa_environment` first.

    Parameters
    ----------
    path : Path
        Output ``.cl`` table (replaced if present).
    sources : sequence of ModelSource
        Positions and names.
    spectra : sequence of numpy.ndarray
        Apparent flux per channel of each source.
    freqs_hz : numpy.ndarray
        Channel frequencies of the spectra.

    Returns
    -------
    Path
        The component list.
    """
    import shutil

    from casatools import componentlist

    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    freqs = np.asarray(freqs_hz, float)
    order = np.argsort(freqs)
    cl = componentlist()
    try:
        for src, spec in zip(sources, spectra, strict=True):
            ref = float(freqs[order][len(order) // 2])
            cl.addcomponent(
                dir=f"J2000 {src.ra_deg}deg {src.dec_deg}deg",
                flux=float(np.asarray(spec)[order][len(order) // 2]),
                fluxunit="Jy",
                freq=f"{ref}Hz",
                shape="point",
                label=src.name,
            )
            cl.setspectrum(
                which=cl.length() - 1,
                type="tabular",
                tabularfreqs=[float(f) for f in freqs[order]],
                tabularflux=[float(s) for s in np.asarray(spec)[order]],
                # TOPO cannot be converted without an epoch; the spectra are smooth anyway
                tabularframe="LSRK",
            )
        cl.rename(str(path))
    finally:
        cl.close()
        cl.done()
    return path
