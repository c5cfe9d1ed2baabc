"""Which ready group to claim next, and which targets wait for a calibration set.

Calibrator groups go first. A target (a group planned ``standard`` only) is held back
while a calibrator group whose transit lies within ``calibration.validity_hours`` of it has
not finished its ``calibrator`` run (still collecting, ready, or running anywhere): its
``standard`` run would otherwise find no set, or a worse one. The wait is bounded: once a
target has been ready for ``calibration.wait_timeout_s`` it goes ahead, and the standard
workflow then does what ``calibration.when_missing`` says. Held targets occupy no worker
slot, so other work (and the calibrator itself) keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contimg.config.settings import CalibrationSettings
from contimg.service._plan import CALIBRATOR_WORKFLOW
from contimg.state._ingest import GroupRecord
from contimg.state._service import ServiceGroupRecord

__all__ = ["Decision", "order_candidates"]


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
    calibrators: Sequence[ServiceGroupRecord],
    settings: CalibrationSettings,
) -> ServiceGroupRecord | None:
    window_s = settings.validity_hours * 3600.0
    for cal in calibrators:
        if cal.group_pk == claim.group_pk or cal.transit_at is None:
            continue
        if abs((cal.transit_at - claim.obs_start).total_seconds()) <= window_s:
            return cal
    return None


def order_candidates(
    candidates: Sequence[tuple[ServiceGroupRecord, GroupRecord]],
    pending_calibrators: Sequence[ServiceGroupRecord],
    settings: CalibrationSettings,
    now: datetime,
) -> list[Decision]:
    """Decide, for each ready group, whether it may be claimed now.

    Parameters
    ----------
    candidates : sequence of (ServiceGroupRecord, GroupRecord)
        Ready, unclaimed groups (calibrator groups first, then by time).
    pending_calibrators : sequence of ServiceGroupRecord
        Calibrator groups whose calibrator run has not finished.
    settings : CalibrationSettings
        ``validity_hours`` and ``wait_timeout_s``.
    now : datetime
        The current time (aware).

    Returns
    -------
    list of Decision
        In claim order; held ones carry their ``wait_reason``.
    """
    out = []
    for claim, group in candidates:
        reason = None
        if CALIBRATOR_WORKFLOW not in claim.plan:
            cal = _blocking(claim, pending_calibrators, settings)
            waited = (now - (claim.ready_at or now)).total_seconds()
            if cal is not None and waited < settings.wait_timeout_s:
                reason = (
                    f"waiting for calibrator group {cal.group_id} ({cal.calibrator}); "
                    f"{waited:.0f} of {settings.wait_timeout_s:.0f} s"
                )
        out.append(Decision(claim, group, reason))
    return out
