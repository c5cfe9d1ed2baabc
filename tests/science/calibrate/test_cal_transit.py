"""Calibrator transits: agree with the simulator, label groups with and without a calibrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from tests.science.calibrate.conftest import CalSim

from contimg.science.calibrate.msinfo import mjd_seconds_to_datetime, read_ms_summary
from contimg.science.catalog import get_calibrator, load_calibrators
from contimg.science.catalog.transit import calibrator_for_group, next_transit, upcoming_transits
from contimg.science.simulate import transit_time


def test_transit_agrees_with_the_simulator() -> None:
    cal = get_calibrator("0834+555")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ours = next_transit(cal.ra_deg, start, dec_deg=cal.dec_deg)
    sims = transit_time(cal.ra_deg, start, dec_deg=cal.dec_deg)
    assert abs((ours - sims).total_seconds()) < 1.0
    # one sidereal day later
    again = next_transit(cal.ra_deg, ours + timedelta(minutes=1), dec_deg=cal.dec_deg)
    assert abs((again - ours).total_seconds() - 86164.09) < 2.0


def test_upcoming_transits_respect_dec_and_flux_limits() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    found = upcoming_transits(load_calibrators(), 54.57, start, hours=24.0)
    assert [t.calibrator.name for t in found] == ["0834+555"]
    assert found[0].transit_time >= start
    assert upcoming_transits(load_calibrators(), 54.57, start, min_flux_jy=100.0) == []


def _times(ms) -> tuple[list[datetime], float]:
    s = read_ms_summary(ms)
    used = np.isfinite(s.field_times)
    return [mjd_seconds_to_datetime(t) for t in s.field_times[used]], float(
        np.median(s.field_dec_deg[used])
    )


def test_calibrator_group_is_found_with_its_peak_field(cal_sim: CalSim) -> None:
    times, dec = _times(cal_sim.calibrator_ms)
    found = calibrator_for_group(load_calibrators(), dec, times)
    assert found.has_calibrator
    assert found.transit is not None
    assert found.transit.calibrator.name == "0834+555"
    assert (
        times[0] - timedelta(seconds=7)
        <= found.transit.transit_time
        <= times[-1] + timedelta(seconds=7)
    )
    # the field closest to the transit is where the beam-weighted flux peaks
    closest = int(np.argmin([abs((t - found.transit.transit_time).total_seconds()) for t in times]))
    assert found.field_index == closest
    assert 0.5 * 8.8 < found.peak_flux_jy < 8.8


def test_group_without_calibrator_is_labelled(cal_sim: CalSim) -> None:
    times, dec = _times(cal_sim.before_ms)
    found = calibrator_for_group(load_calibrators(), dec, times)
    assert not found.has_calibrator
    assert found.field_index is None
    assert "no calibrator transits this group" in found.reason
    assert "next: 0834+555" in found.reason
    far = calibrator_for_group(load_calibrators(), -30.0, times)
    assert "no calibrator >= 1 Jy within 1.5 deg" in far.reason
