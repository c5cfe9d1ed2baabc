"""Small, fast reads of Measurement Set metadata with python-casacore (no CASA tasks).

casacore is not thread-safe: call these from one thread per process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from contimg.science._columns import read_column

__all__ = [
    "MSSummary",
    "antenna_flag_fractions",
    "cross_flags",
    "flag_fraction",
    "mjd_seconds_to_datetime",
    "read_ms_summary",
    "station_number",
]

_MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
_TRAILING_DIGITS = re.compile(r"(\d+)$")


def mjd_seconds_to_datetime(seconds: float) -> datetime:
    """Convert a casacore MJD-seconds epoch (``TIME`` column) to an aware UTC datetime."""
    return _MJD_EPOCH + timedelta(seconds=float(seconds))


def station_number(name: str) -> int | None:
    """Return the station number of an antenna name (``DSA-103`` -> 103), else ``None``."""
    match = _TRAILING_DIGITS.search(name.strip())
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class MSSummary:
    """What calibration needs to know about an MS.

    Attributes
    ----------
    path : Path
        The MS.
    field_ra_deg, field_dec_deg : numpy.ndarray
        Phase centre of each FIELD row, degrees (J2000).
    field_times : numpy.ndarray
        Mean ``TIME`` (MJD seconds) of each field's rows (``nan`` for unused fields).
    antenna_names : tuple of str
        ANTENNA table names, by row (empty names for unused rows).
    used_antennas : tuple of int
        ANTENNA rows that appear in the main table.
    dish_diameter_m : float
        Median dish diameter of the used antennas.
    freqs_hz : numpy.ndarray
        Channel frequencies of all spectral windows, concatenated.
    time_range : tuple of float
        First and last ``TIME`` (MJD seconds).
    """

    path: Path
    field_ra_deg: np.ndarray
    field_dec_deg: np.ndarray
    field_times: np.ndarray
    antenna_names: tuple[str, ...]
    used_antennas: tuple[int, ...]
    dish_diameter_m: float
    freqs_hz: np.ndarray
    time_range: tuple[float, float]

    @property
    def mid_time(self) -> datetime:
        """Midpoint of the observation, UTC."""
        return mjd_seconds_to_datetime(0.5 * (self.time_range[0] + self.time_range[1]))

    def antenna_by_station(self) -> dict[int, str]:
        """Map station number to antenna name, for the antennas that carry data."""
        out: dict[int, str] = {}
        for row in self.used_antennas:
            number = station_number(self.antenna_names[row])
            if number is not None:
                out[number] = self.antenna_names[row]
        return out


def read_ms_summary(ms: Path) -> MSSummary:
    """Read fields, antennas, frequencies and times of an MS.

    Parameters
    ----------
    ms : Path
        Measurement Set.

    Returns
    -------
    MSSummary
        The summary.
    """
    from casacore.tables import table

    path = Path(ms)
    with table(str(path / "FIELD"), ack=False) as tf:
        phase_dir = np.asarray(tf.getcol("PHASE_DIR"))[:, 0, :]
    with table(str(path / "ANTENNA"), ack=False) as ta:
        names = tuple(str(n) for n in ta.getcol("NAME"))
        diam = np.asarray(ta.getcol("DISH_DIAMETER"), float)
    with table(str(path / "SPECTRAL_WINDOW"), ack=False) as ts:
        freqs = np.concatenate([np.ravel(ts.getcell("CHAN_FREQ", i)) for i in range(ts.nrows())])
    with table(str(path), ack=False) as tm:
        times = tm.getcol("TIME")
        fields = tm.getcol("FIELD_ID")
        used = np.union1d(np.unique(tm.getcol("ANTENNA1")), np.unique(tm.getcol("ANTENNA2")))
    field_times = np.full(len(phase_dir), np.nan)
    for fid in np.unique(fields):
        field_times[fid] = float(np.mean(times[fields == fid]))
    dish = float(np.median(diam[used])) if len(used) else float("nan")
    return MSSummary(
        path=path.absolute(),
        field_ra_deg=np.rad2deg(phase_dir[:, 0]) % 360.0,
        field_dec_deg=np.rad2deg(phase_dir[:, 1]),
        field_times=field_times,
        antenna_names=names,
        used_antennas=tuple(int(a) for a in used),
        dish_diameter_m=dish,
        freqs_hz=np.asarray(freqs, float),
        time_range=(float(times.min()), float(times.max())),
    )


def cross_flags(ms: Path, column: str = "FLAG") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ANTENNA1, ANTENNA2 and the flags of every row (FLAG_ROW folded in)."""
    from casacore.tables import table

    with table(str(ms), ack=False) as tm:
        a1 = tm.getcol("ANTENNA1")
        a2 = tm.getcol("ANTENNA2")
        flags = read_column(tm, column)
        flags |= tm.getcol("FLAG_ROW")[:, None, None]
    return a1, a2, flags


def flag_fraction(ms: Path, *, cross_only: bool = True) -> float:
    """Fraction of flagged visibilities (cross-correlations only by default).

    Parameters
    ----------
    ms : Path
        Measurement Set.
    cross_only : bool
        Ignore autocorrelations (flagged anyway before imaging).

    Returns
    -------
    float
        Flagged fraction in [0, 1] (1.0 for an MS without rows).
    """
    a1, a2, flags = cross_flags(ms)
    sel = a1 != a2 if cross_only else np.ones(len(a1), bool)
    if not np.any(sel):
        return 1.0
    return float(np.mean(flags[sel]))


def antenna_flag_fractions(ms: Path) -> dict[int, float]:
    """Return the flagged fraction of each antenna's cross-correlations, by ANTENNA row.

    Parameters
    ----------
    ms : Path
        Measurement Set.

    Returns
    -------
    dict of int to float
        Antennas absent from the cross-correlations are not in the result.
    """
    a1, a2, flags = cross_flags(ms)
    cross = a1 != a2
    per_row = flags[cross].reshape(int(np.sum(cross)), -1).mean(axis=1)
    out: dict[int, float] = {}
    for ant in np.union1d(a1[cross], a2[cross]):
        rows = (a1[cross] == ant) | (a2[cross] == ant)
        out[int(ant)] = float(per_row[rows].mean())
    return out
