from datetime import UTC, datetime, timedelta

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import TETE, EarthLocation, SkyCoord
from astropy.time import Time

from contimg.science.simulate import start_for_transit, transit_time


@pytest.mark.parametrize(("ra", "dec"), [(128.728767, 55.572519), (80.291192, 16.639459)])
def test_transit_is_apparent_hour_angle_zero(ra: float, dec: float) -> None:
    t = transit_time(ra, "2025-10-17", dec_deg=dec)
    assert datetime(2025, 10, 17, tzinfo=UTC) <= t < datetime(2025, 10, 18, tzinfo=UTC)
    loc = EarthLocation.from_geodetic(-118.2817 * u.deg, 37.2314 * u.deg, 1222 * u.m)
    when = Time(t)
    app = SkyCoord(ra * u.deg, dec * u.deg).transform_to(TETE(obstime=when, location=loc))
    ha = (when.sidereal_time("apparent", loc.lon) - app.ra).wrap_at(180 * u.deg)
    assert abs(ha.to_value(u.arcsec)) < 15  # < 1 s of time
    # the J2000 RA would be off by the precession since 2000 (more than a minute)
    lst_j2000 = when.sidereal_time("apparent", loc.lon).deg
    assert abs((lst_j2000 - ra + 180) % 360 - 180) > 0.25


def test_start_for_transit_centres_the_transit_in_the_chosen_group() -> None:
    t = transit_time(128.728767, "2025-10-17", dec_deg=55.572519)
    start = start_for_transit(128.728767, "2025-10-17", 5, dec_deg=55.572519, scale="full")
    span = 24 * 12.884902
    mid_of_group_2 = start + timedelta(seconds=2 * span + span / 2)
    assert abs((mid_of_group_2 - t).total_seconds()) < 1e-3
    assert np.isclose((t - start).total_seconds(), 2.5 * span)
