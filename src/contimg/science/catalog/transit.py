"""Calibrator transits for a drift-scan pointing: when, and in which field of a group.

A source transits when its apparent hour angle is zero: apparent RA (precessed to the date,
pyuvdata ``calc_app_coords``, as the simulator and ``UVData.phase`` use) equals the apparent
LST. Comparing the J2000 RA with the LST instead is off by the precession since 2000 (~80 s of
time in 2026). A
calibrator *serves* a group when it lies within ``max_dec_offset_deg`` of the pointing
declination, is at least ``min_flux_jy`` at 1.4 GHz and transits within the group's time span
(widened by half an integration). Its field is the integration where its primary-beam-weighted
flux peaks (the beam centre of each integration is the meridian at the pointing declination).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from contimg.instrument.beam import airy_beam
from contimg.instrument.site import Site
from contimg.science.catalog.calibrators import Calibrator

__all__ = [
    "CalibratorTransit",
    "GroupCalibrator",
    "calibrator_for_group",
    "next_transit",
    "upcoming_transits",
]

_SIDEREAL_DAY_S = 86164.0905
_DISH_M = 4.65


_SIDEREAL_RATE = 1.002737909350795  # sidereal days per solar (UT1) day


def _apparent_hour_angle(ra_deg: float, dec_deg: float, jd: float, site: Site) -> float:
    from pyuvdata.utils.phasing import calc_app_coords
    from pyuvdata.utils.times import get_lst_for_time

    location = site.earth_location()
    jd_arr = np.array([jd])
    lst = get_lst_for_time(jd_arr, telescope_loc=location)
    app_ra, _ = calc_app_coords(
        lon_coord=np.deg2rad(ra_deg),
        lat_coord=np.deg2rad(dec_deg),
        coord_frame="icrs",
        coord_epoch=2000.0,
        time_array=jd_arr,
        lst_array=lst,
        telescope_loc=location,
        all_times_unique=True,
    )
    return float(np.angle(np.exp(1j * (lst[0] - app_ra[0]))))  # wrapped to (-pi, pi]


def next_transit(
    ra_deg: float, after: datetime, *, dec_deg: float = 0.0, site: Site | None = None
) -> datetime:
    """First meridian transit (apparent hour angle 0) at or after ``after``.

    Parameters
    ----------
    ra_deg, dec_deg : float
        J2000 position, degrees (precession moves the apparent RA with the declination).
    after : datetime
        Aware start time.
    site : Site, optional
        Default: the configured array site (DSA-110).

    Returns
    -------
    datetime
        Transit time (UTC), accurate to well under a second.
    """
    site = site or Site.from_settings()
    jd0 = 2440587.5 + after.timestamp() / 86400.0
    ha = _apparent_hour_angle(ra_deg, dec_deg, jd0, site)
    jd = jd0 + ((-ha) % (2 * np.pi)) / (2 * np.pi * _SIDEREAL_RATE)
    for _ in range(2):
        jd -= _apparent_hour_angle(ra_deg, dec_deg, jd, site) / (2 * np.pi * _SIDEREAL_RATE)
    return datetime.fromtimestamp((jd - 2440587.5) * 86400.0, tz=UTC)


@dataclass(frozen=True)
class CalibratorTransit:
    """One transit of a calibrator through the beam at a pointing declination.

    Attributes
    ----------
    calibrator : Calibrator
        The source.
    transit_time : datetime
        UTC time of the meridian crossing (apparent hour angle 0).
    dec_offset_deg : float
        ``calibrator.dec - pointing_dec``.
    peak_beam_response : float
        Primary-beam response at transit (1.4 GHz).
    """

    calibrator: Calibrator
    transit_time: datetime
    dec_offset_deg: float
    peak_beam_response: float


@dataclass(frozen=True)
class GroupCalibrator:
    """Which calibrator (if any) transits a group.

    Attributes
    ----------
    transit : CalibratorTransit or None
        The transit, or ``None`` for a group without a calibrator.
    field_index : int or None
        Integration where the primary-beam-weighted flux peaks.
    peak_flux_jy : float
        That primary-beam-weighted flux at 1.4 GHz.
    reason : str
        Why this calibrator, or why none (labels the group, never a silent failure).
    """

    transit: CalibratorTransit | None
    field_index: int | None
    peak_flux_jy: float
    reason: str

    @property
    def has_calibrator(self) -> bool:
        """Whether a calibrator transits the group."""
        return self.transit is not None


def _candidates(
    calibrators: Sequence[Calibrator], pointing_dec_deg: float, max_dec: float, min_flux: float
) -> list[Calibrator]:
    return [
        c
        for c in calibrators
        if abs(c.dec_deg - pointing_dec_deg) <= max_dec and c.flux_jy >= min_flux
    ]


def _beam_response(offset_deg: np.ndarray) -> np.ndarray:
    return np.asarray(airy_beam(np.deg2rad(offset_deg), 1.4e9, _DISH_M))


def _separation_deg(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> np.ndarray:
    r1, d1, r2, d2 = map(np.deg2rad, (ra1, dec1, np.asarray(ra2), np.asarray(dec2)))
    cos = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def upcoming_transits(
    calibrators: Sequence[Calibrator],
    pointing_dec_deg: float,
    start: datetime,
    *,
    hours: float = 24.0,
    max_dec_offset_deg: float = 1.5,
    min_flux_jy: float = 1.0,
) -> list[CalibratorTransit]:
    """Predict the transits of qualifying calibrators in ``[start, start + hours)``.

    Parameters
    ----------
    calibrators : sequence of Calibrator
        Catalogue to search.
    pointing_dec_deg : float
        Pointing declination, degrees.
    start : datetime
        Aware start time.
    hours : float
        Length of the search window.
    max_dec_offset_deg : float
        Largest ``|dec - pointing|``.
    min_flux_jy : float
        Smallest 1.4 GHz flux.

    Returns
    -------
    list of CalibratorTransit
        Transits in time order.
    """
    out: list[CalibratorTransit] = []
    end = start + timedelta(hours=hours)
    for cal in _candidates(calibrators, pointing_dec_deg, max_dec_offset_deg, min_flux_jy):
        t = next_transit(cal.ra_deg, start, dec_deg=cal.dec_deg)
        while t < end:
            offset = cal.dec_deg - pointing_dec_deg
            response = float(_beam_response(np.array([abs(offset)]))[0])
            out.append(CalibratorTransit(cal, t, offset, response))
            t = t + timedelta(seconds=_SIDEREAL_DAY_S)
    return sorted(out, key=lambda x: x.transit_time)


def calibrator_for_group(
    calibrators: Sequence[Calibrator],
    pointing_dec_deg: float,
    field_times: Sequence[datetime],
    *,
    integration_s: float = 12.884902,
    max_dec_offset_deg: float = 1.5,
    min_flux_jy: float = 1.0,
) -> GroupCalibrator:
    """Find the calibrator that transits a group and the field where it peaks.

    Parameters
    ----------
    calibrators : sequence of Calibrator
        Catalogue to search.
    pointing_dec_deg : float
        Pointing declination of the group, degrees.
    field_times : sequence of datetime
        Centre time of each integration (field), aware.
    integration_s : float
        Integration length; the group spans first - half to last + half.
    max_dec_offset_deg, min_flux_jy : float
        Selection limits (``calibration.max_dec_offset_deg``, ``min_calibrator_flux_jy``).

    Returns
    -------
    GroupCalibrator
        The brightest (beam-weighted) transiting calibrator, or none with the reason.
    """
    times = sorted(t.astimezone(UTC) for t in field_times)
    if not times:
        return GroupCalibrator(None, None, 0.0, "group has no integrations")
    half = timedelta(seconds=integration_s / 2.0)
    t0, t1 = times[0] - half, times[-1] + half
    cands = _candidates(calibrators, pointing_dec_deg, max_dec_offset_deg, min_flux_jy)
    if not cands:
        return GroupCalibrator(
            None,
            None,
            0.0,
            f"no calibrator >= {min_flux_jy:g} Jy within {max_dec_offset_deg:g} deg of "
            f"dec {pointing_dec_deg:+.2f}",
        )
    best: GroupCalibrator | None = None
    for cal in cands:
        transit = next_transit(cal.ra_deg, t0, dec_deg=cal.dec_deg)
        if transit > t1:
            continue
        # hour angle of the calibrator at each field; the beam centre is at hour angle 0
        ha_deg = np.array([(t - transit).total_seconds() for t in times]) / _SIDEREAL_DAY_S * 360
        sep = _separation_deg(-ha_deg, cal.dec_deg, 0.0, pointing_dec_deg)
        weighted = cal.flux_jy * _beam_response(sep)
        k = int(np.argmax(weighted))
        offset = cal.dec_deg - pointing_dec_deg
        response = float(_beam_response(np.array([abs(offset)]))[0])
        cand = GroupCalibrator(
            CalibratorTransit(cal, transit, offset, response),
            k,
            float(weighted[k]),
            f"{cal.name} transits at {transit:%Y-%m-%dT%H:%M:%S} UTC, "
            f"{offset:+.2f} deg from the pointing; peak in field {k}",
        )
        if best is None or cand.peak_flux_jy > best.peak_flux_jy:
            best = cand
    if best is None:
        nxt = upcoming_transits(
            cands,
            pointing_dec_deg,
            t1,
            hours=24.0,
            max_dec_offset_deg=max_dec_offset_deg,
            min_flux_jy=min_flux_jy,
        )
        after = (
            f"; next: {nxt[0].calibrator.name} at {nxt[0].transit_time:%Y-%m-%dT%H:%M:%S} UTC"
            if nxt
            else ""
        )
        return GroupCalibrator(None, None, 0.0, "no calibrator transits this group" + after)
    return best
