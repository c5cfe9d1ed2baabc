"""The telescope written into every Measurement Set: identity and station positions.

The MS ANTENNA table lists every station of the instrument model in order; row ``i`` is the
``i``-th station (DSA-001 is row 0). Files are matched to it by antenna *name*, so a file's own
numbering never leaks into the MS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.coordinates import EarthLocation

from contimg.science.convert.errors import ConversionError

__all__ = ["DSA110_TELESCOPE_NAME", "MsTelescope", "dsa110_telescope"]

#: Telescope name written to converted MSs (the files carry ``OVRO_MMA``).
DSA110_TELESCOPE_NAME = "DSA_110"
_DSA110_SITE = (37.2314, -118.2817, 1222.0)  # lat, lon (deg), alt (m): DSA110.md
_DSA110_DISH_M = 4.65


@dataclass(frozen=True, eq=False)
class MsTelescope:
    """Telescope identity and antenna table of a converted MS.

    Attributes
    ----------
    telescope_name : str
        Name written to OBSERVATION.
    location : astropy.coordinates.EarthLocation
        Array reference position (the site).
    names : tuple of str
        Station names; the MS antenna id is the index in this tuple.
    positions : numpy.ndarray
        ECEF positions relative to ``location``, metres, shape (n_ant, 3).
    diameter_m : float
        Dish diameter.
    mount : str
        Mount type.
    """

    telescope_name: str
    location: EarthLocation
    names: tuple[str, ...]
    positions: np.ndarray
    diameter_m: float
    mount: str = "alt-az"

    @property
    def n_ant(self) -> int:
        """Number of stations (ANTENNA rows)."""
        return len(self.names)

    @property
    def numbers(self) -> np.ndarray:
        """MS antenna ids (0-based rows)."""
        return np.arange(self.n_ant)

    @property
    def location_xyz(self) -> np.ndarray:
        """Site ECEF (ITRF) position, metres."""
        return np.array(
            [
                self.location.x.to_value("m"),
                self.location.y.to_value("m"),
                self.location.z.to_value("m"),
            ]
        )

    def ids_for(self, file_numbers: np.ndarray, file_names: tuple[str, ...]) -> np.ndarray:
        """Map a file's antenna numbers to MS ids through the antenna names.

        Parameters
        ----------
        file_numbers : numpy.ndarray
            The file's antenna numbers.
        file_names : tuple of str
            The file's antenna names, same order.

        Returns
        -------
        numpy.ndarray
            Lookup table ``lut`` with ``lut[file_number] = ms_id`` (``-1`` where unknown).

        Raises
        ------
        ConversionError
            A file antenna name is not a station of the telescope.
        """
        index = {name: i for i, name in enumerate(self.names)}
        lut = np.full(int(np.max(file_numbers)) + 1, -1, dtype=np.int64)
        for num, name in zip(file_numbers, file_names, strict=True):
            if name not in index:
                raise ConversionError(
                    f"antenna {name!r} in the data is not a station of {self.telescope_name}"
                )
            lut[int(num)] = index[name]
        return lut


def dsa110_telescope(station_file: Path | str | None = None) -> MsTelescope:
    """Return DSA-110's MS identity from the instrument model (stations, site, dish).

    Parameters
    ----------
    station_file : path, optional
        Station CSV (default: the DSA-110 file shipped with contimg).
    """
    from contimg.instrument.site import Site
    from contimg.instrument.stations import load_layout

    stations = load_layout(station_file)
    site = Site(DSA110_TELESCOPE_NAME, *_DSA110_SITE)
    return MsTelescope(
        telescope_name=DSA110_TELESCOPE_NAME,
        location=site.earth_location(),
        names=tuple(stations.names),
        positions=stations.relative_itrf(site.itrf_m),
        diameter_m=_DSA110_DISH_M,
    )
