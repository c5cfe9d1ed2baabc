"""The ``<group_id>_truth.json`` written beside each simulated group."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GAIN_CONVENTION",
    "TRUTH_SCHEMA",
    "VISIBILITY_CONVENTION",
    "GroupTruth",
    "RfiEvent",
    "TruthSource",
    "read_truth",
    "write_truth",
]

#: Version of the truth.json layout.
TRUTH_SCHEMA = 1

VISIBILITY_CONVENTION = (
    "pyuvdata unprojected: V_pq(t, nu) = sum_s S_s(nu) PB(theta_s(t), nu) "
    "exp(+2 pi i (u l + v m + w n)), (u, v, w) = ENU baseline x_q - x_p in wavelengths, "
    "p = ant_1, q = ant_2, (l, m, n) the apparent (of date) direction of the source; "
    "pyuvdata phase() to a source leaves it with zero phase. XX = YY = Stokes I."
)

GAIN_CONVENTION = (
    "data (pyuvdata/UVH5) = conj(G_p) G_q (V_sky + noise + rfi), p = ant_1, q = ant_2, "
    "G_p(t, nu, feed) = gains[t][p][feed] * bandpass[p][nu][feed] (XX uses feed X, YY feed Y). "
    "A Measurement Set written from these files (pyuvdata write_ms, or contimg's fast writer) "
    "stores the conjugate, G_p conj(G_q) conj(V): CASA's V_ij = g_i g_j^* M_ij with g = G "
    "exactly as written here (amplitudes and phases, before referencing to a refant)."
)


def _round(a: np.ndarray, digits: int = 9) -> list[Any]:
    return np.round(np.asarray(a, dtype=float), digits).tolist()


def complex_block(a: np.ndarray, axes: list[str], **extra: Any) -> dict[str, Any]:
    """JSON form of a complex array: real and imaginary parts as nested lists."""
    return {"axes": axes, **extra, "real": _round(a.real), "imag": _round(a.imag)}


def write_truth(path: Path, truth: dict[str, Any]) -> Path:
    """Write truth JSON atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.partial")
    # compact: the C encoder is ~10x faster than indented output (full-scale bandpasses)
    text = json.dumps({"schema": TRUTH_SCHEMA, **truth}, separators=(",", ":"))
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class TruthSource:
    """A source as simulated in one group (``flux_jy`` is this group's 1.4 GHz flux)."""

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    catalog_flux_jy: float
    spectral_index: float
    is_calibrator: bool
    simulated: bool
    pb_mid: float
    apparent_flux_mid_jy: float
    min_offset_deg: float


@dataclass(frozen=True)
class RfiEvent:
    """Injected RFI: ``channel``/``freq_hz`` None for a burst, ``time_index`` None for all."""

    kind: str
    subband: int
    channel: int | None
    freq_hz: float | None
    time_index: int | None
    amplitude_jy: float


@dataclass(frozen=True, eq=False)
class GroupTruth:
    """The parts of a truth.json a closed-loop test needs, as arrays.

    Attributes
    ----------
    path : Path
        The truth file.
    group_id : str
        Group id (sb00 timestamp).
    group_index : int
        Index in the simulated sequence.
    pointing_dec_deg : float
        Pointing declination (apparent).
    antenna_numbers : numpy.ndarray
        Data antennas, the antenna axis of ``gains`` and ``bandpass``.
    times_jd : numpy.ndarray
        Integration centres, the time axis of ``gains``.
    freqs_hz : numpy.ndarray
        All channel centres ascending, the frequency axis of ``bandpass``.
    sources : tuple of TruthSource
        Sources with this group's fluxes.
    gains : numpy.ndarray or None
        Complex gains, (time, antenna, feed X/Y).
    bandpass : numpy.ndarray or None
        Complex bandpasses, (antenna, frequency, feed X/Y).
    noise_sigma_jy : float or None
        Noise sigma of each of real and imaginary part of a cross-correlation.
    rfi : tuple of RfiEvent
        Injected RFI.
    missing_subbands : tuple of int
        Subbands not written.
    gain_convention : str
        How the gains enter the data.
    """

    path: Path
    group_id: str
    group_index: int
    pointing_dec_deg: float
    antenna_numbers: np.ndarray
    times_jd: np.ndarray
    freqs_hz: np.ndarray
    sources: tuple[TruthSource, ...]
    gains: np.ndarray | None
    bandpass: np.ndarray | None
    noise_sigma_jy: float | None
    rfi: tuple[RfiEvent, ...]
    missing_subbands: tuple[int, ...]
    gain_convention: str

    def antenna_gains(self) -> np.ndarray:
        """Total gains ``G = gain(t) * bandpass(nu)``, shape (time, antenna, frequency, feed).

        Ones where a part was not simulated. The data are ``conj(G_ant1) G_ant2 V``.
        """
        shape = (len(self.times_jd), len(self.antenna_numbers), len(self.freqs_hz), 2)
        total = np.ones(shape, dtype=complex)
        if self.gains is not None:
            total = total * self.gains[:, :, None, :]
        if self.bandpass is not None:
            total = total * self.bandpass[None]
        return total

    def source(self, name: str) -> TruthSource:
        """Return the source called ``name``."""
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"{self.path}: no source named {name!r}")


def _complex(block: dict[str, Any] | None) -> np.ndarray | None:
    if block is None:
        return None
    return np.asarray(block["real"]) + 1j * np.asarray(block["imag"])


def read_truth(path: Path | str) -> GroupTruth:
    """Read a ``<group_id>_truth.json`` written by the simulator.

    Raises
    ------
    ValueError
        If the file is not a truth file of a schema version this code reads.
    """
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("schema") != TRUTH_SCHEMA:
        raise ValueError(f"{path}: truth schema {raw.get('schema')!r}, expected {TRUTH_SCHEMA}")
    noise = raw.get("noise")
    return GroupTruth(
        path=path,
        group_id=raw["group_id"],
        group_index=int(raw["group_index"]),
        pointing_dec_deg=float(raw["pointing_dec_deg"]),
        antenna_numbers=np.asarray(raw["antenna_numbers"], dtype=int),
        times_jd=np.asarray(raw["times_jd"], dtype=float),
        freqs_hz=np.asarray(raw["freqs_hz"], dtype=float),
        sources=tuple(TruthSource(**s) for s in raw["sources"]),
        gains=_complex(raw.get("gains")),
        bandpass=_complex(raw.get("bandpass")),
        noise_sigma_jy=None if noise is None else float(noise["sigma_jy"]),
        rfi=tuple(RfiEvent(**e) for e in raw.get("rfi", [])),
        missing_subbands=tuple(raw.get("missing_subbands", [])),
        gain_convention=raw["gain_convention"],
    )
