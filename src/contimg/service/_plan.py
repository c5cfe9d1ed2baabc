"""Which workflows a group gets: ``calibrator`` then ``standard`` on a transit, else ``standard``.

A group is planned as soon as its first file is indexed: every subband file of a group
carries the same integration times, so one header gives the group's time span, and the
header declination gives the pointing. A calibrator group is known before it is complete,
so targets can wait for it (see :mod:`contimg.service._scheduler`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contimg.config.settings import Settings
from contimg.science.catalog import Calibrator
from contimg.science.catalog.transit import calibrator_for_group
from contimg.state._ingest import GroupRecord

__all__ = ["CALIBRATOR_WORKFLOW", "STANDARD_WORKFLOW", "GroupPlan", "plan_group"]

#: Workflow run on a calibrator transit group before :data:`STANDARD_WORKFLOW`.
CALIBRATOR_WORKFLOW = "calibrator"
#: Workflow run on every group.
STANDARD_WORKFLOW = "standard"

_JD_UNIX_EPOCH = 2440587.5


@dataclass(frozen=True)
class GroupPlan:
    """The workflows for one group, in order, and why.

    Attributes
    ----------
    workflows : tuple of str
        ``("calibrator", "standard")`` for a calibrator transit, else ``("standard",)``.
    obs_start : datetime
        First integration (UTC).
    calibrator : str or None
        The transiting calibrator.
    transit_at : datetime or None
        Its transit time.
    reason : str
        Why (from the transit search), for logs.
    """

    workflows: tuple[str, ...]
    obs_start: datetime
    calibrator: str | None = None
    transit_at: datetime | None = None
    reason: str = ""


def _jd_to_datetime(jd: float) -> datetime:
    return datetime.fromtimestamp((jd - _JD_UNIX_EPOCH) * 86400.0, tz=UTC)


def plan_group(
    group: GroupRecord,
    header_times_jd: Sequence[float] | None,
    calibrators: Sequence[Calibrator],
    settings: Settings,
) -> GroupPlan:
    """Plan a group from its pointing and integration times.

    Parameters
    ----------
    group : GroupRecord
        The group (``dec_deg`` from the first indexed header).
    header_times_jd : sequence of float, optional
        Integration centres (JD) of any of its files; ``None``: estimated from the
        group's first timestamp and ``instrument.integrations_per_group``.
    calibrators : sequence of Calibrator
        The catalogue.
    settings : Settings
        ``calibration`` selection limits and the ``instrument`` timing.

    Returns
    -------
    GroupPlan
        The plan; ``("standard",)`` when the declination is unknown.
    """
    step = settings.instrument.integration_time_s
    if header_times_jd is not None and len(header_times_jd):
        times = sorted(_jd_to_datetime(float(t)) for t in header_times_jd)
    else:
        first = group.first_timestamp
        times = [
            first + timedelta(seconds=(i + 0.5) * step)
            for i in range(settings.instrument.integrations_per_group)
        ]
    obs_start = times[0] - timedelta(seconds=step / 2)
    if group.dec_deg is None:
        return GroupPlan((STANDARD_WORKFLOW,), obs_start, reason="pointing declination unknown")
    found = calibrator_for_group(
        calibrators,
        group.dec_deg,
        times,
        integration_s=step,
        max_dec_offset_deg=settings.calibration.max_dec_offset_deg,
        min_flux_jy=settings.calibration.min_calibrator_flux_jy,
    )
    if found.transit is None:
        return GroupPlan((STANDARD_WORKFLOW,), obs_start, reason=found.reason)
    return GroupPlan(
        (CALIBRATOR_WORKFLOW, STANDARD_WORKFLOW),
        obs_start,
        calibrator=found.transit.calibrator.name,
        transit_at=found.transit.transit_time,
        reason=found.reason,
    )
