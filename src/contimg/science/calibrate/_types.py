"""Typed values exchanged by the calibration functions (frozen dataclasses).

A *set* is what one solve produces: the ordered caltables, the calibrator, the reference
antenna, a validity window, provenance and QA, and a status (``valid`` or ``rejected``).
The state store persists sets exactly as these values; the apply side only ever receives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ApplyAction",
    "ApplyDecision",
    "ApplyResult",
    "CalSet",
    "CalSetStatus",
    "CalTable",
    "CalTableKind",
    "ModelSource",
    "TableQA",
]


class CalTableKind(StrEnum):
    """CASA calibration table types, in the order they are applied."""

    DELAY = "K"
    BANDPASS = "B"
    GAIN = "G"
    GAIN_SHORT = "G_short"


class CalSetStatus(StrEnum):
    """Outcome of the QA gate: only ``valid`` sets are ever applied."""

    VALID = "valid"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ModelSource:
    """A point source of the calibration sky model.

    Attributes
    ----------
    name : str
        Source name.
    ra_deg, dec_deg : float
        J2000 position, degrees.
    flux_jy : float
        Stokes I flux density at 1.4 GHz, Jy.
    spectral_index : float
        ``S(nu) = flux_jy * (nu / 1.4 GHz) ** spectral_index``.
    """

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0

    def flux_at(self, freq_hz: Any) -> Any:
        """Flux density at ``freq_hz`` (scalar or array), Jy."""
        return self.flux_jy * (freq_hz / 1.4e9) ** self.spectral_index


@dataclass(frozen=True)
class TableQA:
    """Quality metrics of one caltable.

    Attributes
    ----------
    flagged_fraction : float
        Fraction of flagged solutions.
    snr_median : float
        Median SNR of the unflagged solutions (``nan`` when none).
    amp_scatter : float
        Robust channel-to-channel (bandpass) or solution-to-solution scatter of the amplitudes,
        relative to their median: the noise in the solutions, not the true gain spread.
    phase_scatter_deg : float
        The same for phases, degrees.
    """

    flagged_fraction: float
    snr_median: float
    amp_scatter: float
    phase_scatter_deg: float


@dataclass(frozen=True)
class CalTable:
    """One caltable of a set.

    Attributes
    ----------
    kind : CalTableKind
        Table type.
    path : Path
        Absolute path of the CASA table.
    interp : str
        ``applycal`` interpolation (``nearest`` for bandpass and delay, ``linear`` for gains).
    qa : TableQA or None
        QA metrics, once measured.
    """

    kind: CalTableKind
    path: Path
    interp: str
    qa: TableQA | None = None


@dataclass(frozen=True)
class CalSet:
    """One solved (or rejected) calibration set.

    Attributes
    ----------
    set_id : str
        Unique id (also the folder name under ``caltables/``).
    calibrator : str
        Calibrator (or sky-model) name.
    refant : str
        Reference antenna name used.
    transit_time : datetime
        Time of the calibrator solution (its transit, or the data midpoint), UTC.
    valid_from, valid_to : datetime
        Validity window, UTC.
    tables : tuple of CalTable
        Tables in apply order (empty when rejected before solving).
    status : CalSetStatus
        ``valid`` or ``rejected``.
    reasons : tuple of str
        Why the set was rejected (empty when valid).
    source_ms : Path
        The MS the set was solved on.
    provenance : Mapping
        CASA version, parameters, fields used, times.
    """

    set_id: str
    calibrator: str
    refant: str
    transit_time: datetime
    valid_from: datetime
    valid_to: datetime
    tables: tuple[CalTable, ...]
    status: CalSetStatus
    reasons: tuple[str, ...] = ()
    source_ms: Path | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Whether the set passed QA and may be applied."""
        return self.status is CalSetStatus.VALID

    def covers(self, time: datetime) -> bool:
        """Whether ``time`` lies within the validity window."""
        return self.valid_from <= time <= self.valid_to


class ApplyAction(StrEnum):
    """What to do with a target MS."""

    APPLY = "apply"
    FAIL = "fail"
    WAIT = "wait"
    UNCALIBRATED = "uncalibrated"


@dataclass(frozen=True)
class ApplyDecision:
    """The calibration decision for one target MS (always stated in a run's outputs).

    Attributes
    ----------
    action : ApplyAction
        ``apply`` when a valid set covers the target, else the configured ``when_missing``.
    cal_set : CalSet or None
        The chosen set when ``action`` is ``apply``.
    reason : str
        Human-readable explanation (which set and its distance, or why none).
    overlapping : tuple of str
        Other valid sets whose windows also covered the target (logged, not used).
    """

    action: ApplyAction
    cal_set: CalSet | None
    reason: str
    overlapping: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply_calibration`` did to a target MS.

    Attributes
    ----------
    ms : Path
        The target MS.
    set_id : str
        The applied set.
    tables : tuple of Path
        Tables applied, in order.
    flagged_before, flagged_after : float
        Flagged fraction of the target's visibilities before and after calibration.
    applied_in : {"CORRECTED_DATA", "imaging"}
        Where the calibrated data are: CASA wrote the MS's CORRECTED_DATA, or the imaging
        pass divides ``tables`` out of DATA while it writes the imaging copy (MS untouched).
    """

    ms: Path
    set_id: str
    tables: tuple[Path, ...]
    flagged_before: float
    flagged_after: float
    applied_in: Literal["CORRECTED_DATA", "imaging"] = "CORRECTED_DATA"
