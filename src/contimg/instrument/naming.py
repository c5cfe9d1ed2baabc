"""Correlator file names: ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`` (UTC, NN = subband)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "TIMESTAMP_FORMAT",
    "FileNameError",
    "SubbandFileName",
    "format_subband_filename",
    "format_timestamp",
    "parse_subband_filename",
    "parse_timestamp",
]

#: strftime format of the timestamp part of a file name (and of a group id).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})_sb(\d{2})\.hdf5$")


class FileNameError(ValueError):
    """A file name does not follow ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``."""


@dataclass(frozen=True, order=True)
class SubbandFileName:
    """The parts of a correlator file name.

    Attributes
    ----------
    timestamp : datetime.datetime
        UTC time in the name (timezone-aware, whole seconds).
    subband : int
        Subband number, 0 = highest frequencies.
    """

    timestamp: datetime
    subband: int

    @property
    def name(self) -> str:
        """The file name."""
        return format_subband_filename(self.timestamp, self.subband)

    @property
    def timestamp_str(self) -> str:
        """The timestamp as written in the name (a group id when subband is 0)."""
        return format_timestamp(self.timestamp)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def format_timestamp(timestamp: datetime) -> str:
    """Format a time as in file names and group ids (naive times are taken as UTC).

    Fractions of a second are dropped (floor), as the correlator does.
    """
    return _utc(timestamp).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SS`` into a timezone-aware UTC datetime.

    Raises
    ------
    FileNameError
        If the text is not in that form.
    """
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise FileNameError(f"not a YYYY-MM-DDTHH:MM:SS timestamp: {text!r}") from None


def format_subband_filename(timestamp: datetime, subband: int) -> str:
    """Return the file name for a subband file written at ``timestamp``.

    Parameters
    ----------
    timestamp : datetime.datetime
        UTC time (naive times are taken as UTC; fractions of a second are dropped).
    subband : int
        Subband number 0..99.
    """
    if not 0 <= subband <= 99:
        raise FileNameError(f"subband must be 0..99, got {subband}")
    return f"{format_timestamp(timestamp)}_sb{subband:02d}.hdf5"


def parse_subband_filename(name: str | Path) -> SubbandFileName:
    """Parse a correlator file name (a path's directory part is ignored).

    Raises
    ------
    FileNameError
        If the name is not ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``; the message names it.
    """
    base = Path(name).name
    match = _NAME.match(base)
    if match is None:
        raise FileNameError(f"not a subband file name (YYYY-MM-DDTHH:MM:SS_sbNN.hdf5): {base!r}")
    return SubbandFileName(parse_timestamp(match.group(1)), int(match.group(2)))
