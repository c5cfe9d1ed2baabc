"""Which ready group to claim next, and which targets wait for a calibration set.

Calibrator groups go first. A target (a group planned ``standard`` only) is held back
while a calibrator group whose transit lies within ``calibration.validity_hours`` of it has
not finished its ``calibrator`` run (still collecting, ready, or running anywhere): its
``standard`` run would otherwise find no set, or a worse one. It is also held for a transit
*predicted* but not yet observed (see :class:`PendingCalibrator`) when no valid set covers
it already. The wait is bounded: once a target has been ready for
``calibration.wait_timeout_s`` it goes ahead, and the standard workflow then does what
``calibration.when_missing`` says. Held targets occupy no worker slot, so other work (and
the calibrator itself) keeps running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from contimg.config.settings import CalibrationSettings
from contimg.service._plan import CALIBRATOR_WORKFLOW
from contimg.state._ingest import GroupRecord
from contimg.state._service import ServiceGroupRecord

__all__ = ["Decision", "PendingCalibrator", "order_candidates"]


@dataclass(frozen=True)
class PendingCalibrator:
    """A calibrator transit whose solution is still to come.

    Attributes
    ----------
    calibrator : str
        The calibrator's name.
    transit_at : datetime
        Its transit.
    group_id : str or None
        The planned calibrator group; ``None`` for a transit predicted after the newest
        data (its group has not begun to arrive).
    group_pk : int or None
        That group's ``groups.id``.
    """

    calibrator: str
    transit_at: datetime
    group_id: str | None = None
    group_pk: int | None = None

    @classmethod
    def from_claim(cls, claim: ServiceGroupRecord) -> PendingCalibrator:
        """Build the pending calibrator of a planned calibrator group."""
        if claim.calibrator is None or claim.transit_at is None:
            raise ValueError(f"group {claim.group_id} is not a calibrator group")
        return cls(claim.calibrator, claim.transit_at, claim.group_id, claim.group_pk)

    def describe(self) -> str:
        """Say what is awaited (stable text: stored as the wait reason)."""
        if self.group_id is not None:
            return f"waiting for calibrator group {self.group_id} ({self.calibrator})"
        return (
            f"waiting for the {self.calibrator} transit at "
            f"{self.transit_at:%Y-%m-%dT%H:%M:%S} (not observed yet)"
        )


@dataclass(frozen=True)
class Decision:
    """One candidate and whether it may start now.

    Attributes
    ----------
    claim : ServiceGroupRecord
        The planned group.
    group : GroupRecord
        Its group row.
    wait_reason : str or None
        Why it is held back; ``None`` when it may be claimed.
    """

    claim: ServiceGroupRecord
    group: GroupRecord
    wait_reason: str | None = None


def _blocking(
    claim: ServiceGroupRecord,
    pending: Sequence[PendingCalibrator],
    settings: CalibrationSettings,
    covered: Callable[[datetime], bool],
) -> PendingCalibrator | None:
    window_s = settings.validity_hours * 3600.0
    for cal in pending:
        if cal.group_pk == claim.group_pk:
            continue
        if abs((cal.transit_at - claim.obs_start).total_seconds()) > window_s:
            continue
        if cal.group_pk is None and covered(claim.obs_start):
            continue  # a predicted transit is not worth waiting for when a set exists
        return cal
    return None


def order_candidates(
    candidates: Sequence[tuple[ServiceGroupRecord, GroupRecord]],
    pending: Sequence[PendingCalibrator],
    settings: CalibrationSettings,
    now: datetime,
    covered: Callable[[datetime], bool] = lambda _t: False,
) -> list[Decision]:
    """Decide, for each ready group, whether it may be claimed now.

    Parameters
    ----------
    candidates : sequence of (ServiceGroupRecord, GroupRecord)
        Ready, unclaimed groups (calibrator groups first, then by time).
    pending : sequence of PendingCalibrator
        Calibrator transits whose calibrator run has not finished: planned calibrator
        groups, and predicted transits not observed yet.
    settings : CalibrationSettings
        ``validity_hours`` and ``wait_timeout_s``.
    now : datetime
        The current time (aware).
    covered : callable, optional
        Observation start -> whether a valid calibration set covers it already.

    Returns
    -------
    list of Decision
        In claim order; held ones carry their ``wait_reason``.
    """
    out = []
    for claim, group in candidates:
        reason = None
        if CALIBRATOR_WORKFLOW not in claim.plan:
            cal = _blocking(claim, pending, settings, covered)
            waited = (now - (claim.ready_at or now)).total_seconds()
            if cal is not None and waited < settings.wait_timeout_s:
                reason = f"{cal.describe()}; {waited:.0f} of {settings.wait_timeout_s:.0f} s"
        out.append(Decision(claim, group, reason))
    return out
