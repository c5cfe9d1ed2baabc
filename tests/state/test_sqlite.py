"""SQLite specifics: pragmas on every connection, several processes on one file, attempt writes."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.state._workers import CLAIM_ITEMS, claim_items, write_runs

from contimg.state import LogRecord, StageStatus, open_repository
from contimg.state._engine import SQLITE_BUSY_TIMEOUT_MS
from contimg.state._migrate import current_revisions, head_revisions
from contimg.state.schema import log_records, stage_executions


def _pragmas(conn: sa.Connection) -> dict[str, object]:
    names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
    return {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names}


def test_every_file_connection_gets_the_pragmas(tmp_path: Path) -> None:
    with open_repository(f"sqlite:///{tmp_path / 'c.sqlite3'}", busy_timeout_ms=1234) as repo:
        # Hold three connections at once so the pool must open distinct ones.
        conns = [repo.engine.connect() for _ in range(3)]
        try:
            seen = [_pragmas(c) for c in conns]
            assert len({id(c.connection.dbapi_connection) for c in conns}) == 3
        finally:
            for c in conns:
                c.close()
    # synchronous: 1 is NORMAL
    assert (
        seen
        == [{"journal_mode": "wal", "synchronous": 1, "busy_timeout": 1234, "foreign_keys": 1}] * 3
    )


def test_memory_database_gets_the_pragmas_it_supports() -> None:
    with open_repository("sqlite:///:memory:") as repo, repo.engine.connect() as conn:
        got = _pragmas(conn)
    assert got == {
        "journal_mode": "memory",  # WAL does not apply to a database with no file
        "synchronous": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "foreign_keys": 1,
    }


def test_memory_database_is_shared_by_threads_and_connections() -> None:
    import threading

    with open_repository("sqlite:///:memory:") as repo:
        ids: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: ids.append(repo.create_run("w", trigger="t", inputs={}).id)
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.id for r in repo.list_runs()) == sorted(ids)
        assert len(ids) == 4


def _spawn_pool(n: int) -> tuple[ProcessPoolExecutor, object]:
    ctx = multiprocessing.get_context("spawn")  # no inherited engine or lock state
    return ProcessPoolExecutor(n, mp_context=ctx), ctx.Manager()


def test_two_processes_migrate_and_write_one_fresh_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'contimg.sqlite3'}"
    n_runs = 60
    pool, manager = _spawn_pool(2)
    with pool, manager:  # type: ignore[attr-defined]
        barrier = manager.Barrier(2)  # type: ignore[attr-defined]
        futures = [pool.submit(write_runs, url, f"p{i}", n_runs, barrier) for i in range(2)]
        # Any "database is locked" in a worker re-raises here.
        assert [f.result(timeout=120) for f in futures] == [n_runs, n_runs]
    with open_repository(url) as repo:
        runs = repo.list_runs(limit=1000)
        assert len(runs) == 2 * n_runs
        assert {r.status.value for r in runs} == {"completed"}
        assert {r.trigger for r in runs} == {"p0", "p1"}
        assert all(len(repo.list_attempts(r.id)) == 1 for r in runs[:10])
        assert len(repo.list_logs(runs[0].id)) == 5
        with repo.read() as conn:
            assert current_revisions(conn) == head_revisions()
            versions = conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()
        assert versions == len(head_revisions())  # migrated once, not twice


def test_claims_across_processes_are_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    with open_repository(url) as repo:
        CLAIM_ITEMS.create(repo.engine)
        with repo.write() as conn:
            conn.execute(sa.insert(CLAIM_ITEMS), [{"state": "ready"}] * 120)
    pool, manager = _spawn_pool(2)
    with pool, manager:  # type: ignore[attr-defined]
        barrier = manager.Barrier(2)  # type: ignore[attr-defined]
        futures = [pool.submit(claim_items, url, f"p{i}", barrier) for i in range(2)]
        got = [f.result(timeout=120) for f in futures]
    assert sorted(got[0] + got[1]) == list(range(1, 121))
    with open_repository(url) as repo, repo.read() as conn:
        owners = dict(conn.execute(sa.select(CLAIM_ITEMS.c.id, CLAIM_ITEMS.c.owner)).all())
    assert all(owners[i] == "p0" for i in got[0])
    assert all(owners[i] == "p1" for i in got[1])


def test_attempt_writes_store_the_same_text_as_the_core_path(tmp_path: Path) -> None:
    """start/finish_attempt bypass SQLAlchemy on SQLite; the stored text must not change."""
    se = stage_executions
    start = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-7)))  # 0 us
    end = datetime(2026, 3, 4, 12, 6, 9, 120, tzinfo=UTC)
    outputs = {"ms": tmp_path / "a.ms", "flux": 1e20, "n": [1, 2.5, None], "s": "é"}
    with open_repository(f"sqlite:///{tmp_path / 'c.sqlite3'}") as repo:
        run = repo.create_run("w", trigger="t", inputs={})
        fast = repo.start_attempt(
            run.id, "image", attempt=2, run_key="k", executor="inline", started_at=start
        )
        repo.finish_attempt(
            fast.id,
            status=StageStatus.COMPLETED,
            ended_at=end,
            duration_s=0.25,
            cpu_s=0.125,
            peak_rss_bytes=2**40,
            input_bytes=3,
            output_bytes=4,
            outputs=outputs,
            error_message="ünïcode",
        )
        with repo.write() as conn:  # the same row through SQLAlchemy Core
            (core_id,) = conn.execute(
                sa.insert(se),
                {
                    "run_id": run.id,
                    "stage": "image",
                    "attempt": 2,
                    "status": "running",
                    "run_key": "k",
                    "executor": "inline",
                    "started_at": start,
                    "outputs": {},
                },
            ).inserted_primary_key
            conn.execute(
                sa.update(se).where(se.c.id == core_id),
                {
                    "status": "completed",
                    "ended_at": end,
                    "duration_s": 0.25,
                    "cpu_s": 0.125,
                    "peak_rss_bytes": 2**40,
                    "input_bytes": 3,
                    "output_bytes": 4,
                    "outputs": outputs,
                    "error_message": "ünïcode",
                },
            )
        with repo.read() as conn:
            rows = conn.exec_driver_sql(
                "SELECT * FROM stage_executions ORDER BY id"  # raw text, no type processing
            ).all()
        records = repo.list_attempts(run.id)
    assert [r[1:] for r in rows[:1]] == [r[1:] for r in rows[1:]]
    assert rows[0].started_at == "2026-03-04 12:06:07.000000"
    assert records[0] == dataclasses.replace(records[1], id=fast.id)
    assert (records[0].started_at, records[0].ended_at) == (start, end)


def test_attempt_writes_are_committed_and_errors_release_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    now = datetime.now(UTC)
    with open_repository(f"sqlite:///{path}") as repo:
        run = repo.create_run("w", trigger="t", inputs={})
        att = repo.start_attempt(
            run.id, "s", attempt=1, run_key=None, executor=None, started_at=now
        )
        other = sqlite3.connect(path)  # another connection sees it at once: committed
        try:
            assert other.execute("SELECT status FROM stage_executions").fetchall() == [("running",)]
            with pytest.raises(sa.exc.IntegrityError):  # unknown run: foreign key
                repo.start_attempt(999, "s", attempt=1, run_key=None, executor=None, started_at=now)
            with pytest.raises(ValueError, match="naive"):
                repo.finish_attempt(
                    att.id, status=StageStatus.COMPLETED, ended_at=now.replace(tzinfo=None)
                )
            # the failed transaction was rolled back: the write lock is free
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            repo.finish_attempt(att.id, status=StageStatus.COMPLETED, ended_at=now)
            assert other.execute("SELECT status FROM stage_executions").fetchall() == [
                ("completed",)
            ]
        finally:
            other.close()


def test_log_batches_store_the_same_text_as_the_core_path(tmp_path: Path) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=2)))
    fields = {"ms": tmp_path / "a.ms", "x": 1.5, "s": "é", "n": None}
    with open_repository(f"sqlite:///{tmp_path / 'c.sqlite3'}") as repo:
        run = repo.create_run("w", trigger="t", inputs={})
        record = LogRecord(time=when, level="info", event="e", run_id=run.id, stage="s")
        repo.append_logs([dataclasses.replace(record, fields=fields)] * 2)
        with repo.write() as conn:
            conn.execute(
                sa.insert(log_records),
                [
                    {
                        "run_id": run.id,
                        "stage": "s",
                        "time": when,
                        "level": "info",
                        "event": "e",
                        "fields": fields,
                    }
                ],
            )
        with repo.read() as conn:
            rows = conn.exec_driver_sql("SELECT * FROM log_records ORDER BY id").all()
    assert len({r[1:] for r in rows}) == 1
    assert rows[0].time == "2026-03-04 03:06:07.000008"
