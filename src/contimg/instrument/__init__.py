"""The instrument: station layout, site, band, file naming and primary beam.

Everything here is a DSA-110 default taken from the ``instrument`` settings section,
so another array's station file and band can be configured.
"""

from contimg.instrument.band import Band
from contimg.instrument.beam import airy_beam, airy_fwhm_rad
from contimg.instrument.model import (
    POLARIZATION_NUMBERS,
    Instrument,
    polarization_numbers,
    spread_selection,
)
from contimg.instrument.naming import (
    TIMESTAMP_FORMAT,
    FileNameError,
    SubbandFileName,
    format_subband_filename,
    format_timestamp,
    parse_subband_filename,
    parse_timestamp,
)
from contimg.instrument.site import Site
from contimg.instrument.stations import (
    DEFAULT_STATION_FILE,
    ArrayLayout,
    StationFileError,
    geodetic_to_itrf,
    load_layout,
)

__all__ = [
    "DEFAULT_STATION_FILE",
    "POLARIZATION_NUMBERS",
    "TIMESTAMP_FORMAT",
    "ArrayLayout",
    "Band",
    "FileNameError",
    "Instrument",
    "Site",
    "StationFileError",
    "SubbandFileName",
    "airy_beam",
    "airy_fwhm_rad",
    "format_subband_filename",
    "format_timestamp",
    "geodetic_to_itrf",
    "load_layout",
    "parse_subband_filename",
    "parse_timestamp",
    "polarization_numbers",
    "spread_selection",
]
