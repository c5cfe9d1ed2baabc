"""Conversion fixtures: one simulated test-scale group, converted once by each writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from contimg.config.settings import ConversionSettings
from contimg.science.convert import ConvertedMS, convert_group
from contimg.science.simulate import simulate_groups
from contimg.science.skymodel import SkyModel, Source

GROUP_START = "2025-10-17T14:30:00"
DEC_DEG = 54.57


def meridian_sources(start: str = GROUP_START, dec_deg: float = DEC_DEG) -> SkyModel:
    """Two sources a few arcmin from where the meridian points 26 s into the group."""
    site = EarthLocation.from_geodetic(-118.2817 * u.deg, 37.2314 * u.deg, 1222 * u.m)
    t = Time(start) + 26 * u.s
    lst = t.sidereal_time("apparent", longitude=site.lon).deg
    centre = SkyCoord(lst * u.deg, dec_deg * u.deg, frame="fk5", equinox=t).icrs
    ra, dec = centre.ra.deg, centre.dec.deg
    return SkyModel(
        (
            Source("A", ra + 0.20, dec + 0.05, 3.0, -0.7),
            Source("B", ra - 0.20, dec - 0.07, 2.0, 0.0),
        )
    )


@dataclass(frozen=True)
class SimGroup:
    directory: Path
    files: tuple[Path, ...]
    sources: SkyModel


@pytest.fixture(scope="session")
def sim_group(tmp_path_factory: pytest.TempPathFactory) -> SimGroup:
    directory = tmp_path_factory.mktemp("incoming")
    sky = meridian_sources()
    (group,) = simulate_groups(
        directory, GROUP_START, dec_deg=DEC_DEG, sky=sky, scale="test", seed=7
    )
    return SimGroup(directory, tuple(group.files), sky)


@pytest.fixture(scope="session")
def convert_with(
    sim_group: SimGroup, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], ConvertedMS]:
    cache: dict[str, ConvertedMS] = {}

    def _convert(writer: str) -> ConvertedMS:
        if writer not in cache:
            work = tmp_path_factory.mktemp(f"work-{writer}")
            cache[writer] = convert_group(
                sim_group.files,
                work / "ms",
                work / "scratch",
                ConversionSettings(writer=writer, n_workers=2),
            )
        return cache[writer]

    return _convert


@pytest.fixture(scope="session")
def fast_ms(convert_with: Callable[[str], ConvertedMS]) -> ConvertedMS:
    return convert_with("fast")


@pytest.fixture(scope="session")
def reference_ms(convert_with: Callable[[str], ConvertedMS]) -> ConvertedMS:
    return convert_with("pyuvdata")
