"""The telescope written into every Measurement Set: identity and station positions.

The MS ANTENNA table lists every station of the instrument model in order; row ``i`` is the
``i``-th station (DSA-001 is row 0). Files are matched to it by antenna *name*, so a file's own
numbering never leaks into the MS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.coordinates import EarthLocation

from contimg.science.convert.errors import ConversionError

if TYPE_CHECKING:
    from contimg.instrument.model import Instrument

__all__ = ["DSA110_TELESCOPE_NAME", "MsTelescope", "dsa110_telescope"]

#: Telescope name written to converted MSs (the files carry ``OVRO_MMA``, which casacore knows
#: as a position a few hundred metres away; the MS says what the array is).
DSA110_TELESCOPE_NAME = "DSA_110"


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


def dsa110_telescope(instrument: Instrument | None = None) -> MsTelescope:
    """Return the MS identity of the instrument model (default: DSA-110 from the settings).

    Parameters
    ----------
    instrument : Instrument, optional
        Stations, site and dish (default: ``Instrument.from_settings()``).
    """
    from contimg.instrument.model import Instrument

    inst = instrument or Instrument.from_settings()
    return MsTelescope(
        telescope_name=DSA110_TELESCOPE_NAME,
        location=inst.site.earth_location(),
        names=tuple(inst.layout.names),
        positions=inst.layout.relative_itrf(inst.site.itrf_m),
        diameter_m=inst.dish_diameter_m,
    )
