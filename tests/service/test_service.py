"""The streaming service in-process: a night, calibration ordering, damaged and short groups."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.service._checks import assert_exactly_once
from tests.service._workflows import TEST_WORKFLOWS
from tests.service.conftest import Night, make_settings

from contimg.config import Settings
from contimg.config.settings import CalibrationSettings
from contimg.service import Service, ServiceEvent
from contimg.service._mosaics import MosaicScheduler
from contimg.service._scheduler import PendingCalibrator, order_candidates
from contimg.state import open_repository
from contimg.state._ingest import GroupRecord, GroupState
from contimg.state._service import ClaimState, ServiceGroupRecord


def _drop(night: Night, incoming: Path, done: threading.Event) -> None:
    """Write the files as a correlator would: hidden while written, renamed when whole."""
    for group in night.groups:
        for path in group.files:
            partial = incoming / f".{path.name}.partial"
            shutil.copy2(path, partial)
            partial.rename(incoming / path.name)
        time.sleep(0.3)
    done.set()


def _service_run(workdir: Path, night: Night, *, arriving: bool = False, **overrides: str):
    """Run a service over ``night``: files in place first, or ``arriving`` while it runs.

    Arriving files are found through filesystem events only (the periodic rescan is
    pushed beyond the test), by inotify or, with ``ingest__use_polling``, by polling.
    """
    if arriving:
        overrides.setdefault("ingest__rescan_interval_s", "600")
    settings = make_settings(workdir, **overrides)
    incoming = settings.paths.incoming_dir
    dropped = threading.Event()
    if not arriving:
        night.copy_to(incoming)
        dropped.set()
    events: list[ServiceEvent] = []
    repo = open_repository(settings.database_url)
    with Service(settings, repo, workflows=TEST_WORKFLOWS, progress=events.append) as service:
        if arriving:
            threading.Thread(target=_drop, args=(night, incoming, dropped), daemon=True).start()
        summary = service.run_until(lambda s: dropped.is_set() and s.idle(), timeout_s=120)
        snapshot = service.snapshot()
    return repo, settings, summary, snapshot, events


@pytest.mark.usefixtures("logging_to")
def test_a_night_completes_with_the_calibrator_group_first(tmp_path: Path, night: Night) -> None:
    # the groups arrive in time order: the targets before the transit are complete
    # before the calibrator group has begun, and wait for its predicted transit
    repo, settings, summary, snapshot, events = _service_run(
        tmp_path / "w", night, arriving=True, executor__workers="2"
    )
    try:
        assert not summary.timed_out
        assert not summary.failed
        assert len(summary.finished) == 4
        claims = {c.group_id: c for c in repo.service.list_claims()}
        cal_id = night.groups[2].group_id
        assert claims[cal_id].plan == ("calibrator", "standard")
        assert claims[cal_id].calibrator == "0834+555"
        assert all(claims[g].plan == ("standard",) for g in night.group_ids if g != cal_id)
        assert_exactly_once(repo, night.group_ids, settings.paths.ms_dir)
        # targets waited for the calibrator run: none started before it ended
        cal_run = repo.get_run(claims[cal_id].run_ids[0])
        assert cal_run.workflow == "calibrator"
        for gid in night.group_ids:
            if gid != cal_id:
                run = repo.get_run(claims[gid].run_ids[0])
                assert run.created_at >= cal_run.ended_at, gid
        kinds = {e.kind for e in events}
        assert {"group.planned", "group.waiting", "stage.started", "group.done"} <= kinds
        # the progress hook saw every stage of every run
        started = {(e.group_id, e.run_id, e.stage) for e in events if e.kind == "stage.started"}
        assert len({(g, s) for g, _r, s in started}) == 4 * 3
        assert snapshot.queue.done == 4
        assert snapshot.queue.depth == 0
        assert repo.service.queue_depth() == 0
        assert repo.service.last_heartbeat() is None  # stopped: no live service left
        assert [w.state for w in repo.service.workers()] == ["stopped"]
    finally:
        repo.close()


def test_a_truncated_file_fails_only_its_group(tmp_path: Path, damaged: Night) -> None:
    repo, settings, summary, _snapshot, events = _service_run(
        tmp_path / "w", damaged, arriving=True
    )
    try:
        good, truncated, short = damaged.group_ids
        bad_file = next(p for p in damaged.groups[1].files if p.name.endswith("_sb03.hdf5"))
        group = repo.groups.get_group(truncated)
        assert group.state is GroupState.FAILED
        assert str(settings.paths.incoming_dir / bad_file.name) in group.error
        assert "sb03" in group.error
        assert repo.groups.get_group(good).state is GroupState.CONVERTED
        assert [e.message for e in events if e.kind == "file.rejected"] == [
            str(settings.paths.incoming_dir / bad_file.name)
        ]
        # the group short of sb05 ("fail", the default): failed, naming the subband
        short_group = repo.groups.get_group(short)
        assert short_group.state is GroupState.FAILED
        assert "missing subband(s) sb05" in short_group.error
        assert sorted(g.group_id for g in summary.failed) == sorted([truncated, short])
        assert repo.service.get(group.id).state is ClaimState.FAILED
        assert repo.ms.list_ms(limit=10)[0].group_id == good
    finally:
        repo.close()


def test_an_incomplete_group_is_converted_with_the_gap_flagged(
    tmp_path: Path, damaged: Night
) -> None:
    repo, _settings, summary, _snapshot, _events = _service_run(
        tmp_path / "w",
        damaged,
        arriving=True,
        conversion__missing_subbands="flag",
        ingest__use_polling="true",
    )
    try:
        _good, truncated, short = damaged.group_ids
        assert repo.groups.get_group(short).state is GroupState.CONVERTED
        run = repo.get_run(repo.service.list_claims()[2].run_ids[-1])
        assert run.status.value == "completed"
        assert run.outputs["converted"]["missing_subbands"] == [5]
        # the truncated file's subband is flagged too: its group converts from 15 files
        assert repo.groups.get_group(truncated).state is GroupState.CONVERTED
        assert not summary.failed
    finally:
        repo.close()


def _claim(
    pk: int, *, plan: tuple[str, ...], start: datetime, ready: datetime
) -> ServiceGroupRecord:
    return ServiceGroupRecord(
        id=pk, group_pk=pk, group_id=f"g{pk}", plan=plan,
        calibrator="0834+555" if "calibrator" in plan else None,
        transit_at=start + timedelta(minutes=2) if "calibrator" in plan else None,
        obs_start=start, state=ClaimState.WAITING, step=0, run_id=None, run_ids=(),
        owner=None, claimed_at=None, expires_at=None, takeovers=0, ready_at=ready,
        wait_reason=None, error=None, created_at=start, updated_at=start,
    )  # fmt: skip


def _group(pk: int, start: datetime) -> GroupRecord:
    return GroupRecord(
        pk, f"g{pk}", GroupState.COMPLETE, 16, 16, True, start, start, 54.6, None, start, start
    )


def test_targets_wait_for_a_pending_calibrator_within_the_window_and_the_timeout() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    cal = _claim(1, plan=("calibrator", "standard"), start=now, ready=now)
    near = _claim(2, plan=("standard",), start=now + timedelta(hours=1), ready=now)
    far = _claim(3, plan=("standard",), start=now + timedelta(hours=20), ready=now)
    overdue = _claim(4, plan=("standard",), start=now, ready=now - timedelta(hours=1))
    settings = CalibrationSettings(validity_hours=12, wait_timeout_s=1800)
    cands = [(c, _group(c.group_pk, c.obs_start)) for c in (cal, near, far, overdue)]
    pending = [PendingCalibrator.from_claim(cal)]
    decisions = order_candidates(cands, pending, settings, now + timedelta(seconds=60))
    held = {d.claim.group_id: d.wait_reason for d in decisions}
    assert (held["g1"], held["g3"], held["g4"]) == (None, None, None)
    assert held["g2"] is not None
    assert "calibrator group g1 (0834+555)" in held["g2"]
    # without a pending calibrator nothing waits
    assert all(d.wait_reason is None for d in order_candidates(cands, [], settings, now))
    # a predicted transit holds targets only when no valid set covers them yet
    predicted = [PendingCalibrator("0834+555", now + timedelta(minutes=20))]
    decisions = order_candidates(cands[1:2], predicted, settings, now)
    assert "not observed yet" in decisions[0].wait_reason
    decisions = order_candidates(cands[1:2], predicted, settings, now, covered=lambda _t: True)
    assert decisions[0].wait_reason is None


class _ListedWindows(MosaicScheduler):
    """The scheduler's waiting alone: due windows come from a list, a mosaic is a record."""

    def __init__(self, settings: Settings, windows: list[tuple[datetime, datetime]]) -> None:
        super().__init__(settings, None, None)  # type: ignore[arg-type]
        self.windows = windows
        self.made: list[tuple[datetime, datetime]] = []

    def due(self) -> tuple[datetime, datetime] | None:
        return self.windows.pop(0) if self.windows else None

    def _make(self, start: datetime, end: datetime) -> int:
        self.made.append((start, end))
        return len(self.made)


def test_a_due_mosaic_waits_for_the_groups_in_flight_at_most_its_limit(tmp_path: Path) -> None:
    hour = (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 13, tzinfo=UTC))
    in_flight = [True]
    scheduler = _ListedWindows(make_settings(tmp_path), [hour])
    assert scheduler.poll(lambda: in_flight[0]) is None
    assert scheduler.poll(lambda: in_flight[0]) is None
    assert scheduler.waiting
    assert not scheduler.busy
    assert not scheduler.made
    in_flight[0] = False  # the groups are done: the window that was due is mosaicked
    assert scheduler.poll(lambda: in_flight[0]).result(timeout=10) == 1
    assert scheduler.made == [hour]
    assert not scheduler.waiting
    assert scheduler.poll(lambda: in_flight[0]) is None  # nothing else is due
    scheduler.close()

    bounded = _ListedWindows(make_settings(tmp_path, mosaic__defer_max_s="0.2"), [hour])
    assert bounded.poll(lambda: True) is None
    time.sleep(0.3)  # past the limit: made although groups are still in flight
    assert bounded.poll(lambda: True).result(timeout=10) == 1
    bounded.close()

    never = _ListedWindows(make_settings(tmp_path, mosaic__defer_max_s="0"), [hour])
    assert never.poll(lambda: True).result(timeout=10) == 1
    never.close()


def test_a_file_renamed_into_place_is_indexed_without_the_stable_wait(
    tmp_path: Path, night: Night
) -> None:
    """A rename within incoming/ marks the file whole; a file written in place still waits."""
    from contimg.service._watcher import IncomingWatcher

    settings = make_settings(tmp_path, ingest__stable_wait_s="30", ingest__rescan_interval_s="600")
    incoming = settings.paths.incoming_dir
    renamed, written = night.groups[0].files[:2]
    with open_repository(settings.database_url) as repo:
        watcher = IncomingWatcher(settings, repo)
        watcher.start()
        try:
            hidden = incoming / f".{renamed.name}.partial"
            shutil.copy2(renamed, hidden)
            hidden.rename(incoming / renamed.name)
            shutil.copy2(written, incoming / written.name)
            deadline = time.monotonic() + 10
            while watcher.pending < 2 and time.monotonic() < deadline:
                time.sleep(0.05)  # inotify delivers the events from its own thread
            result = watcher.scan()
            due = watcher.next_due_s()
        finally:
            watcher.stop()
    assert result.indexed == (str(incoming / renamed.name),)
    assert result.pending == 1
    assert due is not None
    assert 25 < due <= 30
