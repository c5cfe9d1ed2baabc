"""Meridian transit of a J2000 position in apparent coordinates (as the simulator sees it).

The simulated beam centre is the meridian (apparent hour angle 0) at the pointing
declination, and source positions are precessed to the date (pyuvdata calc_app_coords),
so a transit is when the apparent RA equals the apparent LST. Comparing the J2000 RA
with the LST instead is off by the precession since 2000 (~80 s of time in 2025).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np

from contimg.instrument.site import Site

__all__ = ["SIDEREAL_RATE", "transit_time"]

#: Sidereal days per solar (UT1) day.
SIDEREAL_RATE = 1.002737909350795


def _apparent_hour_angle(ra_deg: float, dec_deg: float, jd: float, site: Site) -> float:
    # pyuvdata's apparent coordinates and LST: the same ones the simulator and phase() use
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


def transit_time(
    ra_deg: float, on: date | datetime | str, *, dec_deg: float = 0.0, site: Site | None = None
) -> datetime:
    """First meridian transit (apparent hour angle 0) at or after the start of a UTC day.

    Parameters
    ----------
    ra_deg : float
        J2000 right ascension, degrees.
    on : date, datetime or str
        The UTC day (``YYYY-MM-DD``); a datetime searches from that instant instead.
    dec_deg : float
        J2000 declination (precession moves the apparent RA slightly with it).
    site : Site, optional
        Default: the configured array site (DSA-110).

    Returns
    -------
    datetime.datetime
        Timezone-aware UTC time of the transit (accurate to well under a second).
    """
    site = site or Site.from_settings()
    if isinstance(on, str):
        on = datetime.fromisoformat(on) if "T" in on else date.fromisoformat(on)
    if isinstance(on, datetime):
        t0 = on if on.tzinfo else on.replace(tzinfo=UTC)
    else:
        t0 = datetime.combine(on, time(0), tzinfo=UTC)
    jd0 = 2440587.5 + t0.timestamp() / 86400.0
    ha = _apparent_hour_angle(ra_deg, dec_deg, jd0, site)
    # time until the hour angle next reaches 0 (mod one sidereal day), then refine
    jd = jd0 + ((-ha) % (2 * np.pi)) / (2 * np.pi * SIDEREAL_RATE)
    for _ in range(2):
        jd -= _apparent_hour_angle(ra_deg, dec_deg, jd, site) / (2 * np.pi * SIDEREAL_RATE)
    return datetime.fromtimestamp((jd - 2440587.5) * 86400.0, tz=UTC)
