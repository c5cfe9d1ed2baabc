"""Set choice, reference antenna chain and QA gate: pure logic, no CASA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from contimg.science.calibrate import (
    ApplyAction,
    CalSet,
    CalSetStatus,
    CalTable,
    CalTableKind,
    QAThresholds,
    RefantError,
    TableQA,
    choose_refant,
)
from contimg.science.calibrate.apply import RejectedSetError, apply_calibration, choose_cal_set
from contimg.science.calibrate.qa import gate

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _set(set_id: str, transit: datetime, status: str = "valid", hours: float = 12) -> CalSet:
    window = timedelta(hours=hours)
    return CalSet(
        set_id=set_id,
        calibrator="0834+555",
        refant="DSA-103",
        transit_time=transit,
        valid_from=transit - window,
        valid_to=transit + window,
        tables=(CalTable(CalTableKind.BANDPASS, Path(f"/x/{set_id}.B"), "nearest"),),
        status=CalSetStatus(status),
        reasons=() if status == "valid" else ("bad",),
    )


def test_nearest_valid_set_either_side() -> None:
    sets = [_set("before", T0 - timedelta(hours=3)), _set("after", T0 + timedelta(hours=1))]
    with capture_logs() as logs:
        decision = choose_cal_set(T0, sets)
    (overlap,) = [e for e in logs if e["event"] == "calibration.sets_overlap"]
    assert overlap["chosen"] == "after"
    assert overlap["also_covering"] == ["before"]
    assert decision.action is ApplyAction.APPLY
    assert decision.cal_set is not None
    assert decision.cal_set.set_id == "after"
    assert decision.overlapping == ("before",)


def test_tie_goes_to_the_newer_set() -> None:
    sets = [_set("older", T0 - timedelta(hours=2)), _set("newer", T0 + timedelta(hours=2))]
    decision = choose_cal_set(T0, sets)
    assert decision.cal_set is not None
    assert decision.cal_set.set_id == "newer"


def test_rejected_sets_are_never_chosen() -> None:
    sets = [_set("bad", T0, status="rejected"), _set("ok", T0 - timedelta(hours=5))]
    decision = choose_cal_set(T0, sets)
    assert decision.cal_set is not None
    assert decision.cal_set.set_id == "ok"
    only_bad = choose_cal_set(T0, [_set("bad", T0, status="rejected")], when_missing="fail")
    assert only_bad.action is ApplyAction.FAIL
    assert "rejected" in only_bad.reason


@pytest.mark.parametrize("when_missing", ["fail", "wait", "uncalibrated"])
def test_no_set_in_window_follows_when_missing(when_missing: str) -> None:
    sets = [_set("old", T0 - timedelta(hours=13))]
    decision = choose_cal_set(T0, sets, when_missing=when_missing)  # type: ignore[arg-type]
    assert decision.action is ApplyAction(when_missing)
    assert decision.cal_set is None
    assert "no valid calibration set covers" in decision.reason


def test_rejected_set_is_refused_at_apply(tmp_path: Path) -> None:
    with pytest.raises(RejectedSetError, match="never applied"):
        apply_calibration(tmp_path / "x.ms", _set("bad", T0, status="rejected"))


def test_refant_chain_skips_flagged_and_missing_antennas() -> None:
    stations = {1: "DSA-001", 104: "DSA-104", 105: "DSA-105", 117: "DSA-117"}
    flags = {1: 0.0, 104: 0.9, 105: 0.1, 117: 0.0}
    name, note = choose_refant(stations, flags, preferred=(103, *range(104, 117), 117))
    assert name == "DSA-105"
    assert "105" in note
    name, note = choose_refant({1: "DSA-001", 2: "DSA-002"}, {1: 0.3, 2: 0.2})
    assert name == "DSA-002"
    assert "least-flagged" in note
    with pytest.raises(RefantError):
        choose_refant({1: "DSA-001"}, {1: 1.0})


def test_gate_names_failed_metrics() -> None:
    good = TableQA(0.0, 50.0, 0.01, 1.0)
    bad = TableQA(0.5, 2.0, 0.5, 40.0)
    tables = [
        CalTable(CalTableKind.BANDPASS, Path("/b"), "nearest", good),
        CalTable(CalTableKind.GAIN, Path("/g"), "linear", bad),
    ]
    reasons = gate(tables, QAThresholds())
    assert len(reasons) == 4
    assert all(r.startswith("G:") for r in reasons)
    assert gate(tables[:1], QAThresholds()) == ()
    assert gate([], QAThresholds()) == ("no calibration tables were produced",)


def test_field_sources_join_the_calibrator_model(tmp_path: Path) -> None:
    """Sources of calibration.field_sources near the calibrator follow it into the model."""
    from contimg.config.settings import CalibrationSettings
    from contimg.science.skymodel import SkyModel, Source, write_sky_model
    from contimg.state import open_repository
    from contimg.workflows.calibration_steps import resolve_model

    field = write_sky_model(
        SkyModel(
            (
                Source("near", 129.9, 55.1, 0.8, -0.7),
                Source("far", 140.0, 55.0, 1.0),
                Source("listed-again", 128.7290, 55.5726, 8.8, -0.4),  # the calibrator itself
            )
        ),
        tmp_path / "field.csv",
    )
    ms = tmp_path / "unused.ms"  # a named calibrator needs no transit search
    with open_repository("sqlite:///:memory:") as repo:
        name, alone, _ = resolve_model(
            repo.calibration, ms, CalibrationSettings(), calibrator="0834+555"
        )
        assert (name, [s.name for s in alone]) == ("0834+555", ["0834+555"])
        _, model, _ = resolve_model(
            repo.calibration,
            ms,
            CalibrationSettings(field_sources=field, field_radius_deg=3.0),
            calibrator="0834+555",
        )
    assert [s.name for s in model] == ["0834+555", "near"]
    assert (model[1].flux_jy, model[1].spectral_index) == (0.8, -0.7)
