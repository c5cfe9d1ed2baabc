"""Variability metrics: hand values, incremental == batch, stepped source flagged."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.science.mosaic._mosaic_synth import DEC, GROUP_S, T0, Src, synth_image

from contimg.config.settings import PhotometrySettings
from contimg.science.photometry import forced_photometry
from contimg.science.variability import (
    LightCurvePoint,
    RunningStats,
    eta_metric,
    is_candidate,
    plot_lightcurve,
    v_metric,
    variability_metrics,
)


def test_eta_and_v_hand_computed() -> None:
    # w = 100: mean(wS^2) = 102.667, mean(wS) = 100, mean(w) = 100 -> 3/2 * 2.667 = 4.
    assert eta_metric([1.0, 1.2, 0.8], [0.1, 0.1, 0.1]) == pytest.approx(4.0)
    assert v_metric([1.0, 1.2, 0.8]) == pytest.approx(0.2)
    # w = (1, 1/4): mean(wS^2) = 4, mean(wS) = 1.5, mean(w) = 0.625 -> 2 * (4 - 3.6) = 0.8.
    assert eta_metric([2.0, 4.0], [1.0, 2.0]) == pytest.approx(0.8)
    assert v_metric([2.0, 4.0]) == pytest.approx(math.sqrt(2.0) / 3.0)
    stats = RunningStats.from_measurements([2.0, 4.0], [1.0, 2.0])
    assert stats.eta == pytest.approx(0.8)
    assert stats.v == pytest.approx(math.sqrt(2.0) / 3.0)
    assert stats.wmean == pytest.approx(2.4)
    # One measurement: both metrics 0, as in the VAST pipeline.
    assert eta_metric([5.0], [1.0]) == 0.0
    assert RunningStats().add(5.0, 1.0).v == 0.0


_flux = st.floats(-1.0, 10.0, allow_nan=False)
_err = st.floats(1e-3, 2.0, allow_nan=False)


def _two_pass(fluxes: list[float], errors: list[float]) -> tuple[float, float]:
    """Exact-as-possible batch eta and V: two passes with math.fsum."""
    n = len(fluxes)
    if n < 2:
        return 0.0, 0.0
    w = [1.0 / e**2 for e in errors]
    wmean = math.fsum(wi * f for wi, f in zip(w, fluxes, strict=True)) / math.fsum(w)
    eta = math.fsum(wi * (f - wmean) ** 2 for wi, f in zip(w, fluxes, strict=True)) / (n - 1)
    mean = math.fsum(fluxes) / n
    std = math.sqrt(math.fsum((f - mean) ** 2 for f in fluxes) / (n - 1))
    return eta, (std / mean if mean != 0 else math.nan)


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.tuples(_flux, _err), min_size=1, max_size=40),
    split=st.integers(0, 40),
)
def test_incremental_equals_batch(data: list[tuple[float, float]], split: int) -> None:
    fluxes = [f for f, _ in data]
    errors = [e for _, e in data]
    incremental = RunningStats()
    for f, e in data:
        incremental = incremental.add(f, e)
    k = min(split, len(data))
    merged = RunningStats.from_measurements(fluxes[:k], errors[:k]).merge(
        RunningStats.from_measurements(fluxes[k:], errors[k:])
    )
    eta, v = _two_pass(fluxes, errors)
    # The VAST formula (raw sums) equals it up to cancellation in mean(wS^2) - ...
    sum_wf2 = math.fsum(f * f / (e * e) for f, e in data)
    # eta of near-identical fluxes can be subnormal, where rounding is coarser than rel=1e-9
    tol = max(1e-13 * sum_wf2, 1e-300)
    assert eta_metric(fluxes, errors) == pytest.approx(eta, rel=1e-9, abs=tol)
    for state in (incremental, merged):
        assert state.n == len(data)
        # ... while the running state keeps deviations, not raw sums: much tighter.
        assert state.eta == pytest.approx(eta, rel=1e-9, abs=1e-15 * sum_wf2 + 1e-12)
        assert state.mean == pytest.approx(float(np.mean(fluxes)), rel=1e-9, abs=1e-12)
        if abs(state.mean) > 1e-6:
            assert state.v == pytest.approx(v, rel=1e-7, abs=1e-12)
            assert v_metric(fluxes) == pytest.approx(v, rel=1e-7, abs=1e-12)


def test_candidate_needs_both_thresholds_and_enough_points() -> None:
    kw = {"eta_threshold": 5.0, "v_threshold": 0.1, "min_measurements": 3}
    assert is_candidate(10.0, 0.3, 5, **kw)
    assert not is_candidate(10.0, 0.05, 5, **kw)  # significant but tiny modulation
    assert not is_candidate(1.0, 2.0, 5, **kw)  # large V of a faint, noisy source
    assert not is_candidate(10.0, 0.3, 2, **kw)
    assert not is_candidate(10.0, math.nan, 5, **kw)


def test_stepped_source_flagged_steady_not(tmp_path: Path) -> None:
    ra0 = 120.0
    cosd = math.cos(math.radians(DEC))
    steady = [
        Src("steady_bright", ra0 + 0.2 / cosd, DEC + 0.1, 0.2),
        Src("steady_mid", ra0 - 0.3 / cosd, DEC - 0.2, 0.05),
        Src("steady_faint", ra0 + 0.1 / cosd, DEC - 0.35, 0.003),
    ]
    n_epochs, step_at = 6, 3
    settings_ = PhotometrySettings()
    states: dict[str, RunningStats] = {}
    curves: dict[str, list[LightCurvePoint]] = {}
    for epoch in range(n_epochs):
        stepped = Src("stepped", ra0 - 0.1 / cosd, DEC + 0.3, 0.04 if epoch < step_at else 0.12)
        time = T0 + timedelta(seconds=GROUP_S * epoch)
        pbcor, _ = synth_image(
            tmp_path,
            f"e{epoch}",
            ra0=ra0,
            sources=[*steady, stepped],
            rms_jy=0.002,
            seed=100 + epoch,
            time=time,
            npix=400,
        )
        phot = forced_photometry(pbcor, [*steady, stepped], settings=settings_)
        assert len(phot.measurements) == 4  # every position measured, faint ones too
        for m in phot.measurements:
            states[m.name] = states.get(m.name, RunningStats()).add(m.flux_jy, m.flux_err_jy)
            curves.setdefault(m.name, []).append(
                LightCurvePoint(phot.time, m.flux_jy, m.flux_err_jy, m.upper_limit, m.limit_jy)
            )
    metrics = {
        name: variability_metrics(
            state,
            eta_threshold=settings_.eta_threshold,
            v_threshold=settings_.v_threshold,
            min_measurements=settings_.min_measurements,
        )
        for name, state in states.items()
    }
    assert metrics["stepped"].candidate
    assert metrics["stepped"].eta > 100
    for src in steady:
        assert not metrics[src.name].candidate, (src.name, metrics[src.name])
        assert metrics[src.name].eta < 4.0
    assert all(p.upper_limit for p in curves["steady_faint"])
    assert len(curves["steady_faint"]) == n_epochs
    png = plot_lightcurve(
        curves["stepped"], tmp_path / "lc.png", title="stepped", metrics=metrics["stepped"]
    )
    assert png.read_bytes()[:4] == b"\x89PNG"
    png2 = plot_lightcurve(curves["steady_faint"], tmp_path / "lc2.png", title="faint")
    assert png2.stat().st_size > 1000
