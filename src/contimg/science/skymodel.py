"""Point-source sky models and the sky-model CSV format.

The CSV has a header row, then one source per row with the columns
``name,ra_deg,dec_deg,flux_jy,spectral_index`` (extra columns are ignored).
``flux_jy`` is Stokes I at 1.4 GHz and ``S(nu) = flux_jy * (nu / 1.4 GHz) ** spectral_index``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "REFERENCE_FREQUENCY_HZ",
    "SKY_MODEL_COLUMNS",
    "SkyModel",
    "SkyModelError",
    "Source",
    "random_sky",
    "read_sky_model",
    "write_sky_model",
]

#: Frequency at which ``flux_jy`` is given.
REFERENCE_FREQUENCY_HZ = 1.4e9
#: Required columns of the sky-model CSV, in the order they are written.
SKY_MODEL_COLUMNS = ("name", "ra_deg", "dec_deg", "flux_jy", "spectral_index")


class SkyModelError(ValueError):
    """A sky model that cannot be used; the message names the file, row and column."""


@dataclass(frozen=True)
class Source:
    """A point source with a power-law spectrum.

    Attributes
    ----------
    name : str
        Source name.
    ra_deg, dec_deg : float
        J2000 (ICRS) position, degrees.
    flux_jy : float
        Stokes I flux density at 1.4 GHz, Jy.
    spectral_index : float
        Power-law index alpha, ``S ~ nu ** alpha``.
    """

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0

    def __post_init__(self) -> None:
        problems = _check_source(self)
        if problems:
            raise SkyModelError(f"source {self.name!r}: {problems[0]}")

    def flux_at(self, freq_hz: np.ndarray | float) -> np.ndarray:
        """Flux density at ``freq_hz``, Jy."""
        ratio = np.asarray(freq_hz, dtype=float) / REFERENCE_FREQUENCY_HZ
        return self.flux_jy * ratio**self.spectral_index


def _check_source(s: Source) -> list[str]:
    problems = []
    if not str(s.name).strip():
        problems.append("column 'name': empty name")
    for key in ("ra_deg", "dec_deg", "flux_jy", "spectral_index"):
        if not math.isfinite(getattr(s, key)):
            problems.append(f"column {key!r}: not finite: {getattr(s, key)!r}")
    if not -90.0 <= s.dec_deg <= 90.0:
        problems.append(f"column 'dec_deg': outside -90..90: {s.dec_deg!r}")
    if s.flux_jy < 0:
        problems.append(f"column 'flux_jy': negative: {s.flux_jy!r}")
    return problems


@dataclass(frozen=True)
class SkyModel:
    """An ordered, immutable collection of point sources."""

    sources: tuple[Source, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)

    def __add__(self, other: SkyModel) -> SkyModel:
        return SkyModel(self.sources + other.sources)

    @property
    def names(self) -> tuple[str, ...]:
        """Source names."""
        return tuple(s.name for s in self.sources)

    @property
    def ra_deg(self) -> np.ndarray:
        """Right ascensions, degrees."""
        return np.array([s.ra_deg for s in self.sources], dtype=float)

    @property
    def dec_deg(self) -> np.ndarray:
        """Declinations, degrees."""
        return np.array([s.dec_deg for s in self.sources], dtype=float)

    @property
    def flux_jy(self) -> np.ndarray:
        """Flux densities at 1.4 GHz, Jy."""
        return np.array([s.flux_jy for s in self.sources], dtype=float)

    @property
    def spectral_index(self) -> np.ndarray:
        """Spectral indices."""
        return np.array([s.spectral_index for s in self.sources], dtype=float)

    def fluxes_at(self, freq_hz: np.ndarray) -> np.ndarray:
        """Flux densities, shape (n_sources, n_freqs), Jy."""
        ratio = np.asarray(freq_hz, dtype=float)[None, :] / REFERENCE_FREQUENCY_HZ
        return self.flux_jy[:, None] * ratio ** self.spectral_index[:, None]

    def get(self, name: str) -> Source:
        """Return the source called ``name``.

        Raises
        ------
        KeyError
            If there is none.
        """
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r} in the sky model")


def read_sky_model(path: Path | str) -> SkyModel:
    """Read a sky-model CSV.

    Parameters
    ----------
    path : path
        CSV file with a header row containing ``name, ra_deg, dec_deg, flux_jy,
        spectral_index`` (any order; extra columns ignored). Blank rows and rows whose
        first cell starts with ``#`` (also before the header) are skipped.

    Returns
    -------
    SkyModel

    Raises
    ------
    SkyModelError
        If the file is unreadable, a column is missing, or a value is invalid; the
        message names the file, row number and column.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise SkyModelError(f"{path}: cannot read sky model ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SkyModelError(f"{path}: not a UTF-8 text file") from None
    content = [
        (rowno, [c.strip() for c in row])
        for rowno, row in enumerate(rows, start=1)
        if any(c.strip() for c in row) and not row[0].strip().startswith("#")
    ]
    if not content:
        raise SkyModelError(f"{path}: empty file (expected a header row)")
    header_rowno, header = content[0][0], [c.lower() for c in content[0][1]]
    missing = [c for c in SKY_MODEL_COLUMNS if c not in header]
    if missing:
        raise SkyModelError(
            f"{path} row {header_rowno}: missing column(s) {', '.join(missing)} "
            f"(header must include {','.join(SKY_MODEL_COLUMNS)})"
        )
    col = {c: header.index(c) for c in SKY_MODEL_COLUMNS}
    sources: list[Source] = []
    seen: set[str] = set()
    for rowno, cells in content[1:]:
        values: dict[str, float] = {}
        for key in SKY_MODEL_COLUMNS[1:]:
            if col[key] >= len(cells) or cells[col[key]] == "":
                raise SkyModelError(f"{path} row {rowno} column {key!r}: empty value")
            try:
                values[key] = float(cells[col[key]])
            except ValueError:
                raise SkyModelError(
                    f"{path} row {rowno} column {key!r}: not a number: {cells[col[key]]!r}"
                ) from None
        name = cells[col["name"]] if col["name"] < len(cells) else ""
        try:
            source = Source(name=name, **values)
        except SkyModelError as exc:
            raise SkyModelError(f"{path} row {rowno}: {exc.args[0]}") from None
        if name in seen:
            raise SkyModelError(f"{path} row {rowno} column 'name': duplicate name {name!r}")
        seen.add(name)
        sources.append(source)
    return SkyModel(tuple(sources))


def write_sky_model(sky: SkyModel | Iterable[Source], path: Path | str) -> Path:
    """Write a sky-model CSV (header then one row per source) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SKY_MODEL_COLUMNS)
        for s in sky:
            writer.writerow(
                [
                    s.name,
                    f"{s.ra_deg:.7f}",
                    f"{s.dec_deg:.7f}",
                    repr(s.flux_jy),
                    repr(s.spectral_index),
                ]
            )
    return path


def _jname(ra_deg: float, dec_deg: float) -> str:
    # IAU style: truncated (never rounded) sexagesimal, so no field can reach 60
    ra_s = int((ra_deg % 360.0) / 15.0 * 3600.0)
    dec_m = int(abs(dec_deg) * 60.0)
    sign = "+" if dec_deg >= 0 else "-"
    return (
        f"J{ra_s // 3600:02d}{ra_s // 60 % 60:02d}{ra_s % 60:02d}"
        f"{sign}{dec_m // 60:02d}{dec_m % 60:02d}"
    )


def random_sky(
    n: int,
    ra_range_deg: tuple[float, float],
    dec_range_deg: tuple[float, float],
    *,
    min_flux_jy: float = 0.02,
    max_flux_jy: float = 2.0,
    spectral_index_mean: float = -0.7,
    spectral_index_sigma: float = 0.2,
    prefix: str = "SIM",
    seed: int = 0,
) -> SkyModel:
    """Draw a random field of point sources (seeded, reproducible).

    Positions are uniform on the sphere inside the RA/Dec box (RA may wrap through
    0: ``(350, 10)``); flux densities follow Euclidean counts ``N(>S) ~ S**-1.5``
    between the limits; spectral indices are normal.

    Parameters
    ----------
    n : int
        Number of sources.
    ra_range_deg, dec_range_deg : tuple of float
        Box edges, degrees.
    min_flux_jy, max_flux_jy : float
        Flux-density limits at 1.4 GHz.
    spectral_index_mean, spectral_index_sigma : float
        Normal distribution of spectral indices.
    prefix : str
        Names are ``<prefix>_J<hhmmss><+ddmm>`` (made unique with a suffix).
    seed : int
        Random seed.

    Returns
    -------
    SkyModel
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 < min_flux_jy <= max_flux_jy:
        raise ValueError(f"need 0 < min_flux_jy <= max_flux_jy, got {min_flux_jy}, {max_flux_jy}")
    rng = np.random.default_rng(seed)
    ra0, ra1 = ra_range_deg
    width = (ra1 - ra0) % 360.0 or (360.0 if ra1 != ra0 else 0.0)
    ra = (ra0 + rng.uniform(0.0, width, n)) % 360.0
    s0, s1 = np.sin(np.deg2rad(np.clip(dec_range_deg, -90, 90)))
    dec = np.rad2deg(np.arcsin(rng.uniform(min(s0, s1), max(s0, s1), n)))
    # inverse CDF of N(>S) ~ S^-1.5 truncated to [min, max]
    a, b = min_flux_jy**-1.5, max_flux_jy**-1.5
    flux = (a - rng.uniform(0.0, 1.0, n) * (a - b)) ** (-1.0 / 1.5)
    alpha = rng.normal(spectral_index_mean, spectral_index_sigma, n)
    sources = []
    used: set[str] = set()
    for i in range(n):
        name = f"{prefix}_{_jname(ra[i], dec[i])}"
        base, k = name, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        sources.append(Source(name, float(ra[i]), float(dec[i]), float(flux[i]), float(alpha[i])))
    return SkyModel(tuple(sources))
