"""What imaging needs to know about a Measurement Set, read cheaply with python-casacore."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contimg.science._columns import ChunkReader
from contimg.science.image.products import ImagingError
from contimg.science.image.rephase import FieldCentres, field_centres

__all__ = ["MsSummary", "choose_data_column", "summarize_ms", "unflagged_fraction"]

_CHUNK_ROWS = 20_000
_DEFAULT_DISH_M = 4.65


@dataclass(frozen=True)
class MsSummary:
    """Facts about an MS used to plan an image.

    Attributes
    ----------
    path : Path
        The Measurement Set.
    nrows : int
        Number of main-table rows.
    chan_freq_hz : numpy.ndarray
        Channel centre frequencies of all spectral windows, ascending.
    time_range_mjd_s : tuple of float
        First and last row TIME (MJD seconds).
    fields : FieldCentres
        Per-field phase centres, times and row counts.
    dish_diameter_m : float
        Median dish diameter from the ANTENNA table (4.65 m when absent).
    telescope : str
        OBSERVATION TELESCOPE_NAME.
    columns : tuple of str
        Main-table column names.
    """

    path: Path
    nrows: int
    chan_freq_hz: np.ndarray
    time_range_mjd_s: tuple[float, float]
    fields: FieldCentres
    dish_diameter_m: float
    telescope: str
    columns: tuple[str, ...]

    @property
    def centre_frequency_hz(self) -> float:
        """Band centre: the middle of the covered frequency range."""
        return float(0.5 * (self.chan_freq_hz.min() + self.chan_freq_hz.max()))

    @property
    def n_fields_used(self) -> int:
        """Number of fields that have rows."""
        return int(self.fields.used.size)


def summarize_ms(ms: Path) -> MsSummary:
    """Read the facts imaging needs from ``ms``.

    Parameters
    ----------
    ms : Path
        Measurement Set.

    Returns
    -------
    MsSummary
        Summary; raises :class:`ImagingError` when the path is not a readable MS.
    """
    from casacore.tables import table

    ms = Path(ms)
    if not (ms / "table.dat").exists():
        raise ImagingError(ms, "not a Measurement Set (no table.dat)")
    with table(str(ms), ack=False) as t:
        nrows = t.nrows()
        columns = tuple(t.colnames())
        times = t.getcol("TIME") if nrows else np.zeros(1)
    if nrows == 0:
        raise ImagingError(ms, "the MS has no rows")
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as spw:
        freqs = np.sort(np.concatenate([np.ravel(c) for c in spw.getcol("CHAN_FREQ")]))
    with table(str(ms / "ANTENNA"), ack=False) as ant:
        dish = np.asarray(ant.getcol("DISH_DIAMETER"), dtype=float)
    dish = dish[dish > 0]
    telescope = ""
    if (ms / "OBSERVATION").exists():
        with table(str(ms / "OBSERVATION"), ack=False) as obs:
            if obs.nrows():
                telescope = str(obs.getcell("TELESCOPE_NAME", 0))
    return MsSummary(
        path=ms.resolve(),
        nrows=nrows,
        chan_freq_hz=freqs,
        time_range_mjd_s=(float(np.min(times)), float(np.max(times))),
        fields=field_centres(ms),
        dish_diameter_m=float(np.median(dish)) if dish.size else _DEFAULT_DISH_M,
        telescope=telescope,
        columns=columns,
    )


def unflagged_fraction(ms: Path, *, stop_at: float | None = None) -> float:
    """Fraction of cross-correlation visibilities not flagged.

    Parameters
    ----------
    ms : Path
        Measurement Set.
    stop_at : float, optional
        Return early (with a lower bound) once this fraction of unflagged data is seen; a
        cheap "is anything left?" check on a large MS.

    Returns
    -------
    float
        Unflagged fraction in [0, 1] (autocorrelations and FLAG_ROW rows count as flagged).
    """
    from casacore.tables import table

    good = 0
    total = 0
    with table(str(ms), ack=False) as t:
        nrow = t.nrows()
        reader = ChunkReader(t)
        for start in range(0, nrow, _CHUNK_ROWS):
            n = min(_CHUNK_ROWS, nrow - start)
            flag = reader.read("FLAG", start, n)
            cross = reader.read("ANTENNA1", start, n) != reader.read("ANTENNA2", start, n)
            row_ok = cross & ~reader.read("FLAG_ROW", start, n)
            good += int(np.count_nonzero(~flag[row_ok]))
            total += flag.size
            if stop_at is not None and good >= stop_at * nrow * flag[0].size:
                return good / (nrow * flag[0].size)
    return good / total if total else 0.0


def choose_data_column(ms: Path, requested: str = "auto") -> str:
    """Pick the visibility column to image.

    Parameters
    ----------
    ms : Path
        Measurement Set.
    requested : str
        ``auto`` (CORRECTED_DATA when it exists and holds calibrated data, i.e. is not all
        zero in a sample of rows; else DATA), ``DATA`` or ``CORRECTED_DATA``.

    Returns
    -------
    str
        The column name; :class:`ImagingError` when a requested column is missing.
    """
    from casacore.tables import table

    with table(str(ms), ack=False) as t:
        names = set(t.colnames())
        if requested != "auto":
            if requested not in names:
                raise ImagingError(ms, f"data column {requested} not present")
            return requested
        if "CORRECTED_DATA" not in names:
            return "DATA"
        n = min(t.nrows(), 2000)
        sample = t.getcol("CORRECTED_DATA", 0, n)
        return "CORRECTED_DATA" if np.any(sample != 0) else "DATA"
