"""The calibration store on every backend: calibrators, sets with tables, windows, applications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contimg.state import SqlStateRepository
from contimg.state._calibration import CalibratorRecord, CalSetRecord, CalTableRecord

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _set(set_id: str, transit: datetime, status: str = "valid") -> CalSetRecord:
    return CalSetRecord(
        set_id=set_id,
        calibrator="0834+555",
        refant="DSA-103",
        status=status,
        transit_time=transit,
        valid_from=transit - timedelta(hours=12),
        valid_to=transit + timedelta(hours=12),
        tables=(
            CalTableRecord("B", f"/cal/{set_id}/x.B", "nearest", {"snr_median": 40.0}),
            CalTableRecord("G", f"/cal/{set_id}/x.G", "linear", {"snr_median": None}),
        ),
        reasons=() if status == "valid" else ("B: 100.0% of solutions flagged",),
        source_ms="/ms/cal.ms",
        group_id="2026-03-01T06:00:00",
        provenance={"casa_version": "6.7.0-31", "parameters": {"refant_preferred": "103"}},
    )


def test_set_round_trip_keeps_tables_in_order(repo: SqlStateRepository) -> None:
    stored = repo.calibration.add_set(_set("s1", T0))
    assert stored.set_id == "s1"
    assert [t.kind for t in stored.tables] == ["B", "G"]
    assert stored.tables[0].qa == {"snr_median": 40.0}
    assert stored.provenance["casa_version"] == "6.7.0-31"
    assert stored.transit_time == T0
    assert stored.created_at is not None
    assert repo.calibration.get_set("nope") is None


def test_covering_and_status_filters(repo: SqlStateRepository) -> None:
    repo.calibration.add_set(_set("early", T0))
    repo.calibration.add_set(_set("late", T0 + timedelta(hours=20)))
    repo.calibration.add_set(_set("bad", T0 + timedelta(hours=1), status="rejected"))
    covering = repo.calibration.list_sets(covering=T0 + timedelta(hours=10))
    assert [s.set_id for s in covering] == ["late", "bad", "early"]  # newest transit first
    valid = repo.calibration.list_sets(status="valid", covering=T0 + timedelta(hours=10))
    assert {s.set_id for s in valid} == {"early", "late"}
    assert repo.calibration.list_sets(covering=T0 + timedelta(hours=40)) == []
    assert repo.calibration.list_sets(status="rejected")[0].reasons == (
        "B: 100.0% of solutions flagged",
    )


def test_applications_are_recorded(repo: SqlStateRepository) -> None:
    repo.calibration.add_set(_set("s1", T0))
    repo.calibration.record_application("s1", "/ms/target.ms", details={"flagged_after": 0.1})
    (app,) = repo.calibration.list_applications(ms_path="/ms/target.ms")
    assert app.set_id == "s1"
    assert app.details == {"flagged_after": 0.1}
    with pytest.raises(KeyError, match="unknown calibration set"):
        repo.calibration.record_application("missing", "/ms/target.ms")


def test_calibrators_upsert_and_alias_lookup(repo: SqlStateRepository) -> None:
    rec = CalibratorRecord(
        "0834+555",
        "J0834+5534",
        128.73,
        55.57,
        8.8,
        -0.4,
        "built-in list",
        "builtin",
        ("4C+55.16",),
    )
    repo.calibration.upsert_calibrators([rec])
    repo.calibration.upsert_calibrators([rec.__class__(**{**rec.__dict__, "flux_jy": 8.3})])
    (only,) = repo.calibration.list_calibrators()
    assert only.flux_jy == 8.3
    found = repo.calibration.get_calibrator("4c +55.16")
    assert found is not None
    assert found.name == "0834+555"
    assert repo.calibration.get_calibrator("3C286") is None
