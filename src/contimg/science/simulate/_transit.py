"""Meridian transit of a J2000 position in apparent coordinates (as the simulator sees it).

The simulated beam centre is the meridian (apparent hour angle 0) at the pointing
declination, and source positions are precessed to the date (pyuvdata calc_app_coords),
so a transit is when the apparent RA equals the apparent LST. Comparing the J2000 RA
with the LST instead is off by the precession since 2000 (~80 s of time in 2025).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from contimg.instrument.site import Site
from contimg.science.catalog.transit import next_transit

__all__ = ["transit_time"]


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
    if isinstance(on, str):
        on = datetime.fromisoformat(on) if "T" in on else date.fromisoformat(on)
    if isinstance(on, datetime):
        t0 = on if on.tzinfo else on.replace(tzinfo=UTC)
    else:
        t0 = datetime.combine(on, time(0), tzinfo=UTC)
    return next_transit(ra_deg, t0, dec_deg=dec_deg, site=site)
