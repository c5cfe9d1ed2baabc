"""Session fixtures: small simulated groups shared by the simulator tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from contimg.instrument import Instrument
from contimg.science.simulate import (
    Corruptions,
    SimulatedGroup,
    simulate_groups,
    start_for_transit,
)
from contimg.science.skymodel import SkyModel, Source

DEC = 54.57
# a bright source crossing the beam centre at transit and a fainter one ~1 deg off
SKY = SkyModel(
    (
        Source("ON_AXIS", 128.70, DEC, 2.0, -0.7),
        Source("OFF_AXIS", 129.60, DEC + 0.8, 0.5, 0.3),
    )
)


@dataclass(frozen=True)
class Run:
    """One simulate_groups call and its inputs."""

    outdir: Path
    start: datetime
    groups: list[SimulatedGroup]
    corruptions: Corruptions


@pytest.fixture(scope="session")
def instrument() -> Instrument:
    return Instrument.from_settings()


@pytest.fixture(scope="session")
def start(instrument: Instrument) -> datetime:
    """Start of a 2-group run whose group 1 has ON_AXIS transiting mid-group."""
    return start_for_transit(128.70, "2025-10-17", 2, dec_deg=DEC, instrument=instrument)


def _run(tmp: Path, start: datetime, instrument: Instrument, corr: Corruptions, **kw) -> Run:
    groups = simulate_groups(
        tmp, start, 2, DEC, SKY, None, "test", 7, corr, instrument=instrument, **kw
    )
    return Run(tmp, start, groups, corr)


@pytest.fixture(scope="session")
def clean(tmp_path_factory, start, instrument) -> Run:
    return _run(tmp_path_factory.mktemp("clean"), start, instrument, Corruptions())


@pytest.fixture(scope="session")
def gained(tmp_path_factory, start, instrument) -> Run:
    corr = Corruptions(gains=True, bandpass=True)
    return _run(tmp_path_factory.mktemp("gained"), start, instrument, corr)


@pytest.fixture(scope="session")
def messy(tmp_path_factory, start, instrument) -> Run:
    corr = Corruptions(
        noise=True,
        rfi=True,
        missing_subbands=((1, 7),),
        truncated_files=((1, 3),),
    )
    return _run(
        tmp_path_factory.mktemp("messy"),
        start,
        instrument,
        corr,
        flux_by_group={"OFF_AXIS": [0.5, 1.5]},
    )
