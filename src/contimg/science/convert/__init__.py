"""UVH5 subband groups to Measurement Sets: meridian phasing, writers registry.

Public API: :func:`convert_group` returning :class:`ConvertedMS`; :data:`WRITERS`
(``fast``, ``pyuvdata``); the science-level errors.
"""

from contimg.science.convert.core import WRITERS, ConvertedMS, Writer, convert_group
from contimg.science.convert.errors import (
    ConversionError,
    CorruptFileError,
    InconsistentGroupError,
    MissingSubbandsError,
)
from contimg.science.convert.layout import DSA110_TELESCOPE_NAME, MsTelescope, dsa110_telescope

__all__ = [
    "DSA110_TELESCOPE_NAME",
    "WRITERS",
    "ConversionError",
    "ConvertedMS",
    "CorruptFileError",
    "InconsistentGroupError",
    "MissingSubbandsError",
    "MsTelescope",
    "Writer",
    "convert_group",
    "dsa110_telescope",
]
