"""``contimg watch`` as real processes: SIGKILL and restart, two processes on one database."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.service._checks import assert_exactly_once
from tests.service.conftest import Night, start_watch, wait_all

from contimg.state import open_repository


def _running_conversions(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM stage_executions WHERE stage = 'convert' "
                "AND status = 'running'"
            ).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    return int(n)


def _wait_for_conversion(proc: subprocess.Popen[bytes], db: Path, log: Path) -> None:
    deadline = time.monotonic() + 60
    while _running_conversions(db) == 0:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no conversion started"
        time.sleep(0.02)


def test_sigterm_drains_sigkill_resumes_each_group_completed_once(
    tmp_path: Path, night: Night
) -> None:
    workdir = tmp_path / "w"
    night.copy_to(workdir / "incoming")
    db = workdir / "state" / "contimg.sqlite3"
    log = tmp_path / "watch.log"
    # the reference writer converts a test-scale group in ~1 s (the fast one in ~0.2 s):
    # a window wide enough for the signals to land during a conversion
    slow = {"conversion.writer": "pyuvdata"}

    # 1. SIGTERM during a conversion: the run finishes, the process exits 0
    proc = start_watch(workdir, log, sets=slow)
    _wait_for_conversion(proc, db, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert _running_conversions(db) == 0
    with open_repository(f"sqlite:///{db}") as repo:
        first = repo.list_runs(limit=10)
        assert [r.status.value for r in first] == ["completed"]
        assert repo.service.last_heartbeat() is None

    # 2. SIGKILL during a conversion: the attempt stays "running", the lease is held
    proc = start_watch(workdir, log, "--until-idle", "--timeout", "120", sets=slow)
    _wait_for_conversion(proc, db, log)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert _running_conversions(db) == 1

    # 3. restart: the dead process's group is resumed, everything else done, once each
    restart = start_watch(workdir, log, "--until-idle", "--timeout", "120", sets=slow)
    assert wait_all([restart], timeout=150) == [0], log.read_text()[-3000:]
    with open_repository(f"sqlite:///{db}") as repo:
        assert_exactly_once(repo, night.group_ids, workdir / "ms")
        runs = repo.list_runs(limit=100)
        crashed = [r for r in runs if r.status.value == "crashed"]
        assert len(crashed) == 1
        resumed = [r for r in runs if r.resumed_from == crashed[0].id]
        assert [r.status.value for r in resumed] == ["completed"]
        assert resumed[0].trigger == "resume"
        attempts = repo.list_attempts(crashed[0].id)
        assert [a.status.value for a in attempts if a.stage == "convert"] == ["crashed"]
        # the resumed run reused what the dead run had completed (the file look-up)
        reasons = {a.stage: a.skip_reason for a in repo.list_attempts(resumed[0].id)}
        assert reasons["group_files"] == f"resumed: run {crashed[0].id}"
        assert reasons["convert"] is None  # the interrupted conversion ran again, once
        # the calibrator group, stopped by SIGTERM after its calibrator run, was released
        # and went on with "standard" elsewhere; the killed group was taken over
        assert sum(c.takeovers for c in repo.service.list_claims()) == 2
        assert {w.state for w in repo.service.workers()} == {"stopped", "dead"}
    assert not [p for p in (workdir / "scratch").iterdir() if p.name.startswith("run-")]


def test_a_second_signal_gives_up_at_once_and_another_process_resumes(
    tmp_path: Path, night: Night
) -> None:
    workdir = tmp_path / "w"
    night.copy_to(workdir / "incoming")
    db = workdir / "state" / "contimg.sqlite3"
    log = tmp_path / "watch.log"
    slow = {"conversion.writer": "pyuvdata", "executor.lease_s": "600"}
    proc = start_watch(workdir, log, sets=slow)
    _wait_for_conversion(proc, db, log)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130, log.read_text()[-3000:]
    with open_repository(f"sqlite:///{db}") as repo:
        (worker,) = repo.service.workers()
        assert worker.state == "stopped"
        # its claim lapsed at once although the lease was 10 minutes long
        (held,) = repo.service.list_claims(states=["claimed", "running"])
        assert held.expires_at <= datetime.now(UTC)
    restart = start_watch(workdir, log, "--until-idle", "--timeout", "120", sets=slow)
    assert wait_all([restart], timeout=150) == [0], log.read_text()[-3000:]
    with open_repository(f"sqlite:///{db}") as repo:
        assert_exactly_once(repo, night.group_ids, workdir / "ms")
        assert [r.status.value for r in repo.list_runs(limit=100)].count("crashed") == 1


def _two_watchers(workdir: Path, tmp_path: Path, sets: dict[str, str] | None = None) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        start_watch(workdir, log, "--until-idle", "--timeout", "120", sets=sets) for log in logs
    ]
    codes = wait_all(procs, timeout=150)
    assert codes == [0, 0], "\n".join(log.read_text()[-2000:] for log in logs)


def test_two_watch_processes_on_one_sqlite_file_process_each_group_once(
    tmp_path: Path, night: Night
) -> None:
    workdir = tmp_path / "w"
    night.copy_to(workdir / "incoming")
    _two_watchers(workdir, tmp_path)
    with open_repository(f"sqlite:///{workdir / 'state' / 'contimg.sqlite3'}") as repo:
        assert_exactly_once(repo, night.group_ids, workdir / "ms")
        assert len(repo.groups.list_groups()) == 4
        assert len(repo.service.workers()) == 2


@pytest.mark.postgres
def test_two_watch_processes_on_one_postgresql_database(
    tmp_path: Path, night: Night, postgres_url: str
) -> None:
    workdir = tmp_path / "w"
    night.copy_to(workdir / "incoming")
    _two_watchers(workdir, tmp_path, {"database.url": postgres_url})
    with open_repository(postgres_url) as repo:
        assert_exactly_once(repo, night.group_ids, workdir / "ms")
        assert len(repo.service.workers()) == 2
