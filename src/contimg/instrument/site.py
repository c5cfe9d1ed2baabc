"""The array reference position (telescope site)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from contimg.instrument.stations import geodetic_to_itrf

if TYPE_CHECKING:
    from astropy.coordinates import EarthLocation

    from contimg.config.settings import InstrumentSettings

__all__ = ["Site"]


@dataclass(frozen=True)
class Site:
    """Reference position of an array and the telescope name written to data files.

    Attributes
    ----------
    telescope_name : str
        Name written to files (DSA-110 files use ``OVRO_MMA``, which casacore knows).
    latitude_deg, longitude_deg : float
        Geodetic (WGS84) latitude and east longitude, degrees.
    altitude_m : float
        Height above the WGS84 ellipsoid, metres.
    """

    telescope_name: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float

    @classmethod
    def from_settings(cls, settings: InstrumentSettings | None = None) -> Site:
        """Build the site from the ``instrument`` settings section (default: DSA-110)."""
        if settings is None:
            from contimg.config.settings import InstrumentSettings

            settings = InstrumentSettings()
        return cls(
            telescope_name=settings.telescope_name,
            latitude_deg=settings.site_latitude_deg,
            longitude_deg=settings.site_longitude_deg,
            altitude_m=settings.site_altitude_m,
        )

    @cached_property
    def itrf_m(self) -> np.ndarray:
        """Geocentric (ITRF/ECEF) position, shape (3,), metres."""
        return geodetic_to_itrf(self.latitude_deg, self.longitude_deg, self.altitude_m)

    def earth_location(self) -> EarthLocation:
        """Return the site as an astropy ``EarthLocation`` (WGS84)."""
        import astropy.units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(
            lon=self.longitude_deg * u.deg,
            lat=self.latitude_deg * u.deg,
            height=self.altitude_m * u.m,
            ellipsoid="WGS84",
        )
