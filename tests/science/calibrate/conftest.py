"""Calibration fixtures: simulated groups (real simulator + converter), solved once per session.

Three consecutive test-scale groups around the transit of 0834+555 (+54.57 deg strip),
corrupted with seeded antenna gains (no drift, so the truth is one gain per antenna and feed),
bandpasses and thermal noise; group 1 holds the transit (calibrator), group 2 is the target.
The target is also simulated without corruptions or noise: its true model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from contimg.config.settings import CalibrationSettings, ConversionSettings
from contimg.science.calibrate import CalSet, ModelSource, solve_calibration
from contimg.science.catalog import get_calibrator
from contimg.science.convert import convert_group
from contimg.science.simulate import Corruptions, simulate_groups

CALIBRATOR = "0834+555"
SEED = 7


@dataclass(frozen=True)
class CalSim:
    root: Path
    calibrator_ms: Path
    before_ms: Path  # the group before the transit (no calibrator transits it)
    target_ms: Path
    target_model_ms: Path
    calibrator_truth: dict
    noise_sigma_jy: float


def _convert(group, out: Path, scratch: Path) -> Path:
    return convert_group(
        group.files, out, scratch, ConversionSettings(), group_id=group.group_id
    ).path


@pytest.fixture(scope="session")
def cal_sim(tmp_path_factory: pytest.TempPathFactory) -> CalSim:
    root = tmp_path_factory.mktemp("calsim")
    corr = Corruptions(
        gains=True, bandpass=True, noise=True, gain_amp_drift=0.0, gain_phase_drift_deg=0.0
    )
    groups = simulate_groups(
        root / "incoming",
        n_groups=3,
        calibrator=CALIBRATOR,
        scale="test",
        seed=SEED,
        corruptions=corr,
    )
    (clean,) = simulate_groups(
        root / "clean",
        start=groups[2].start,
        n_groups=1,
        calibrator=CALIBRATOR,
        scale="test",
        seed=SEED,
        first_group_index=2,
    )
    scratch = root / "scratch"
    ms = [_convert(g, root / "ms", scratch) for g in groups]
    model_ms = _convert(clean, root / "ms_clean", scratch)
    truth = json.loads(groups[1].truth_path.read_text())
    return CalSim(
        root=root,
        calibrator_ms=ms[1],
        before_ms=ms[0],
        target_ms=ms[2],
        target_model_ms=model_ms,
        calibrator_truth=truth,
        noise_sigma_jy=float(truth["noise"]["sigma_jy"]),
    )


def calibrator_model() -> list[ModelSource]:
    cal = get_calibrator(CALIBRATOR)
    return [ModelSource(cal.name, cal.ra_deg, cal.dec_deg, cal.flux_jy, cal.spectral_index)]


@pytest.fixture(scope="session")
def solved_set(cal_sim: CalSim, tmp_path_factory: pytest.TempPathFactory) -> CalSet:
    work = tmp_path_factory.mktemp("solve")
    return solve_calibration(
        cal_sim.calibrator_ms,
        calibrator_model(),
        caltables_dir=work / "caltables",
        settings=CalibrationSettings(),
        log_dir=work / "logs",
        scratch_dir=work / "scratch",
    )


def copy_ms(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    shutil.copytree(src, dst)
    return dst


def true_gains(truth: dict) -> np.ndarray:
    """Truth gain x bandpass per (antenna, channel, feed), in truth antenna order."""
    g = np.array(truth["gains"]["real"]) + 1j * np.array(truth["gains"]["imag"])
    bp = np.array(truth["bandpass"]["real"]) + 1j * np.array(truth["bandpass"]["imag"])
    return g.mean(axis=0)[:, None, :] * bp
