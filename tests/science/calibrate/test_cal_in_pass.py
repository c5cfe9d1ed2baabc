"""Calibration applied in the imaging pass agrees with CASA applycal, flags included."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from casacore.tables import table
from tests.science.calibrate.conftest import CalSim, calibrator_model, copy_ms

from contimg.config.settings import CalibrationSettings
from contimg.science.calibrate import CalSet, CalSetStatus, solve_calibration
from contimg.science.calibrate.apply import apply_calibration
from contimg.science.calibrate.gains import NotInPassError, in_pass_blocker, load_gains
from contimg.science.image.average import average_channels

pytestmark = [pytest.mark.casa, pytest.mark.slow]


def _with_flagged_solutions(cal_set: CalSet, tmp_path: Path) -> tuple[CalSet, dict[str, int]]:
    """Copies of the set's tables with some solutions flagged, as a noisy solve leaves them.

    Three bandpass channels of one antenna's X feed, every channel of a second antenna, and
    the Y-feed gain of a third.
    """
    tables = []
    for t in cal_set.tables:
        copy = tmp_path / "tables" / t.path.name
        shutil.copytree(t.path, copy)
        tables.append(dataclasses.replace(t, path=copy))
    bandpass, gain = (t.path for t in tables)
    with table(str(bandpass), readonly=False, ack=False) as tb:
        flags = tb.getcol("FLAG")
        good = np.flatnonzero(~flags.all(axis=(1, 2)))
        rows = {"channels": int(good[1]), "all": int(good[2]), "feed_y": int(good[3])}
        flags[rows["channels"], 10:13, 0] = True
        flags[rows["all"]] = True
        tb.putcol("FLAG", flags)
    with table(str(gain), readonly=False, ack=False) as tb:
        flags = tb.getcol("FLAG")
        flags[rows["feed_y"], :, 1] = True
        tb.putcol("FLAG", flags)
    return dataclasses.replace(cal_set, tables=tuple(tables)), rows


def test_in_pass_calibration_matches_applycal(
    cal_sim: CalSim, solved_set: CalSet, tmp_path: Path
) -> None:
    cal_set, rows = _with_flagged_solutions(solved_set, tmp_path)
    paths = [t.path for t in cal_set.tables]
    assert in_pass_blocker(paths, cal_sim.target_ms) is None

    by_casa = copy_ms(cal_sim.target_ms, tmp_path / "casa")
    apply_calibration(by_casa, cal_set, scratch_dir=tmp_path / "scratch")
    in_pass = average_channels(
        cal_sim.target_ms,
        tmp_path / "in_pass.ms",
        1,
        data_column="DATA",
        gains=load_gains(paths, cal_sim.target_ms),
        threads=2,  # blocks of rows computed in two threads give the same result
    )
    with table(str(by_casa), ack=False) as tb:
        expected, expected_flags = tb.getcol("CORRECTED_DATA"), tb.getcol("FLAG")
        ant1, ant2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    with table(str(in_pass), ack=False) as tb:
        assert "CORRECTED_DATA" not in tb.colnames()
        got, got_flags = tb.getcol("DATA"), tb.getcol("FLAG")

    np.testing.assert_array_equal(got_flags, expected_flags)
    good = ~got_flags
    scale = np.abs(expected[good])
    assert np.max(np.abs(got[good] - expected[good]) / scale) < 1e-5
    # as in CASA: an antenna without any good bandpass channel, or a flagged gain, flags its
    # visibilities; a few flagged bandpass channels are interpolated over, not flagged
    on = {name: (ant1 == r) | (ant2 == r) for name, r in rows.items()}
    assert got_flags[on["all"]].all()
    assert got_flags[on["feed_y"]][:, :, 1].all()
    assert not got_flags[on["channels"] & ~on["all"] & ~on["feed_y"]][:, 10:13, 0].any()
    # the fractions apply_calibration reports count the flags applycal leaves
    with table(str(cal_sim.target_ms), ack=False) as tb:
        flags_before = tb.getcol("FLAG") | tb.getcol("FLAG_ROW")[:, None, None]
    cross = ant1 != ant2
    before, after = load_gains(paths, cal_sim.target_ms).flagged_fractions(cal_sim.target_ms)
    assert before == pytest.approx(flags_before[cross].mean(), abs=1e-12)
    assert after == pytest.approx(expected_flags[cross].mean(), abs=1e-12)
    assert after > before + 0.01


def test_delay_and_short_interval_sets_are_left_to_casa(cal_sim: CalSim, tmp_path: Path) -> None:
    cal_set = solve_calibration(
        cal_sim.calibrator_ms,
        calibrator_model(),
        caltables_dir=tmp_path / "caltables",
        settings=CalibrationSettings(solve_delay=True),
        scratch_dir=tmp_path / "scratch",
    )
    assert cal_set.status is CalSetStatus.VALID, cal_set.reasons
    paths = [t.path for t in cal_set.tables]
    reason = in_pass_blocker(paths, cal_sim.target_ms)
    assert reason is not None
    assert "K Jones" in reason
    assert paths[0].name in reason
    with pytest.raises(NotInPassError, match="K Jones"):
        load_gains(paths, cal_sim.target_ms)
    # asked to apply it in the imaging pass, apply_calibration hands it to applycal instead
    target = copy_ms(cal_sim.target_ms, tmp_path / "target")
    result = apply_calibration(
        target, cal_set, scratch_dir=tmp_path / "scratch", apply_to="imaging"
    )
    assert result.applied_in == "CORRECTED_DATA"
    with table(str(target), ack=False) as tb:
        assert np.any(tb.getcol("CORRECTED_DATA") != tb.getcol("DATA"))
