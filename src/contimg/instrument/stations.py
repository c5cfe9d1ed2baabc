"""Station layout: read a station coordinate CSV and convert geodetic positions to ITRF.

The DSA-110 file (shipped as package data) has a few title lines, a leading empty
column, and one station (DSA-117) without an elevation. The reader finds the header
row by its column names, so another array's file with the same four columns (name,
latitude, longitude, elevation) can be configured with ``instrument.station_file``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import erfa
import numpy as np
import structlog

__all__ = [
    "DEFAULT_STATION_FILE",
    "ArrayLayout",
    "StationFileError",
    "geodetic_to_itrf",
    "load_layout",
]

log = structlog.get_logger(__name__)

#: Name of the DSA-110 station file inside ``contimg.instrument/data``.
DEFAULT_STATION_FILE = "DSA110_Station_Coordinates.csv"

_COLUMNS = {
    "name": ("station", "name", "antenna"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon"),
    "elev": ("elevation", "height", "altitude", "elev"),
}


class StationFileError(ValueError):
    """A station file cannot be read; the message names the file, row and column."""


@dataclass(frozen=True, eq=False)
class ArrayLayout:
    """Station positions of an array (immutable; arrays are read-only views).

    Attributes
    ----------
    numbers : numpy.ndarray
        Station numbers (int), e.g. 1..117 for DSA-001..DSA-117.
    names : tuple of str
        Station names as in the file.
    latitude_deg, longitude_deg, elevation_m : numpy.ndarray
        Geodetic (WGS84) coordinates.
    itrf_m : numpy.ndarray
        Geocentric (ITRF/ECEF) positions, shape (N, 3), metres.
    source : str
        Where the layout was read from (for messages and provenance).
    """

    numbers: np.ndarray
    names: tuple[str, ...]
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    elevation_m: np.ndarray
    itrf_m: np.ndarray
    source: str

    def __post_init__(self) -> None:
        for field in ("numbers", "latitude_deg", "longitude_deg", "elevation_m", "itrf_m"):
            arr = np.array(getattr(self, field))
            arr.flags.writeable = False
            object.__setattr__(self, field, arr)

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, numbers: np.ndarray | list[int] | tuple[int, ...]) -> np.ndarray:
        """Return row indices of the given station numbers.

        Raises
        ------
        KeyError
            If a number is not in the layout.
        """
        lookup = {int(n): i for i, n in enumerate(self.numbers)}
        try:
            return np.array([lookup[int(n)] for n in numbers], dtype=int)
        except KeyError as exc:
            raise KeyError(f"station {exc.args[0]} is not in the layout {self.source}") from None

    def select(self, numbers: np.ndarray | list[int] | tuple[int, ...]) -> ArrayLayout:
        """Return the layout restricted to the given station numbers (in that order)."""
        idx = self.index_of(numbers)
        return ArrayLayout(
            numbers=self.numbers[idx],
            names=tuple(self.names[i] for i in idx),
            latitude_deg=self.latitude_deg[idx],
            longitude_deg=self.longitude_deg[idx],
            elevation_m=self.elevation_m[idx],
            itrf_m=self.itrf_m[idx],
            source=self.source,
        )

    def relative_itrf(self, reference_itrf_m: np.ndarray) -> np.ndarray:
        """Return positions relative to a reference point (ECEF axes), shape (N, 3)."""
        return self.itrf_m - np.asarray(reference_itrf_m, dtype=float)[None, :]


def geodetic_to_itrf(
    latitude_deg: np.ndarray, longitude_deg: np.ndarray, height_m: np.ndarray
) -> np.ndarray:
    """Convert WGS84 geodetic coordinates to geocentric ITRF (ECEF) metres.

    Parameters
    ----------
    latitude_deg, longitude_deg : array_like
        Geodetic latitude and east longitude, degrees.
    height_m : array_like
        Height above the ellipsoid, metres.

    Returns
    -------
    numpy.ndarray
        Positions, shape (..., 3).
    """
    return erfa.gd2gc(
        erfa.WGS84,
        np.deg2rad(np.asarray(longitude_deg, dtype=float)),
        np.deg2rad(np.asarray(latitude_deg, dtype=float)),
        np.asarray(height_m, dtype=float),
    )


def _find_columns(header: list[str]) -> dict[str, int] | None:
    lowered = [cell.strip().lower() for cell in header]
    found: dict[str, int] = {}
    for key, words in _COLUMNS.items():
        for i, cell in enumerate(lowered):
            if any(cell.startswith(w) for w in words):
                found.setdefault(key, i)
                break
    return found if len(found) == len(_COLUMNS) else None


def _station_number(name: str, row_index: int) -> int:
    match = re.search(r"(\d+)\s*$", name)
    return int(match.group(1)) if match else row_index + 1


def _parse(text: str, source: str) -> ArrayLayout:
    rows = list(csv.reader(io.StringIO(text)))
    header_at = next((i for i, row in enumerate(rows) if _find_columns(row) is not None), None)
    if header_at is None:
        raise StationFileError(
            f"{source}: no header row with station name, latitude, longitude and elevation"
        )
    cols = _find_columns(rows[header_at])
    assert cols is not None
    names: list[str] = []
    values: list[tuple[float, float, float]] = []
    for lineno, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) <= max(cols["name"], cols["lat"], cols["lon"]):
            raise StationFileError(f"{source} row {lineno}: too few columns")
        name = cells[cols["name"]]
        parsed = []
        for key in ("lat", "lon", "elev"):
            cell = cells[cols[key]] if cols[key] < len(cells) else ""
            if cell == "" and key == "elev":
                parsed.append(float("nan"))
                continue
            try:
                parsed.append(float(cell))
            except ValueError:
                raise StationFileError(
                    f"{source} row {lineno} column {rows[header_at][cols[key]].strip()!r}: "
                    f"not a number: {cell!r}"
                ) from None
        names.append(name)
        values.append((parsed[0], parsed[1], parsed[2]))
    if not names:
        raise StationFileError(f"{source}: no stations after the header row")
    arr = np.array(values, dtype=float)
    lat, lon, elev = arr[:, 0], arr[:, 1], arr[:, 2]
    missing = np.isnan(elev)
    if missing.all():
        raise StationFileError(f"{source}: no station has an elevation")
    if missing.any():
        median = float(np.median(elev[~missing]))
        elev = np.where(missing, median, elev)
        log.warning(
            "stations.elevation_filled",
            stations=[names[i] for i in np.flatnonzero(missing)],
            elevation_m=median,
            source=source,
        )
    numbers = np.array([_station_number(n, i) for i, n in enumerate(names)], dtype=int)
    if len(set(numbers.tolist())) != len(numbers):
        raise StationFileError(f"{source}: station numbers derived from names are not unique")
    return ArrayLayout(
        numbers=numbers,
        names=tuple(names),
        latitude_deg=lat,
        longitude_deg=lon,
        elevation_m=elev,
        itrf_m=geodetic_to_itrf(lat, lon, elev),
        source=source,
    )


@cache
def _packaged_layout() -> ArrayLayout:
    # parsed (and its hole warned about) once per process: the result is immutable
    resource = resources.files("contimg.instrument") / "data" / DEFAULT_STATION_FILE
    return _parse(resource.read_text(encoding="utf-8"), f"contimg:{DEFAULT_STATION_FILE}")


def load_layout(station_file: Path | str | None = None) -> ArrayLayout:
    """Read a station coordinate CSV.

    Parameters
    ----------
    station_file : path, optional
        CSV with a header row naming station, latitude, longitude and elevation columns
        (title lines before it and empty columns are skipped). Default: the DSA-110 file
        shipped with contimg (parsed once per process). A missing elevation is filled
        with the array median and a ``stations.elevation_filled`` warning is logged.

    Returns
    -------
    ArrayLayout

    Raises
    ------
    StationFileError
        If the file is unreadable or malformed (the message names file, row and column).
    """
    if station_file is None:
        return _packaged_layout()
    path = Path(station_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationFileError(f"{path}: cannot read station file ({exc.strerror})") from None
    return _parse(text, str(path))
