"""Conversion fixtures: one simulated test-scale group, converted once by each writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.science.convert._minisim import Source, simulate_group

from contimg.config.settings import ConversionSettings
from contimg.science.convert import ConvertedMS, convert_group

GROUP_START = "2026-01-01T00:00:00"
# LAST at the group is ~342.25 deg: two sources a few arcmin from the meridian at +54.57 dec
SOURCES = (Source(342.45, 54.62, 3.0), Source(342.05, 54.50, 2.0))


@dataclass(frozen=True)
class SimGroup:
    directory: Path
    files: tuple[Path, ...]
    sources: tuple[Source, ...]


@pytest.fixture(scope="session")
def sim_group(tmp_path_factory: pytest.TempPathFactory) -> SimGroup:
    directory = tmp_path_factory.mktemp("incoming")
    files = simulate_group(directory, GROUP_START, sources=SOURCES, seed=7)
    return SimGroup(directory, tuple(files), SOURCES)


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
