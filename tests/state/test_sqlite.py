"""SQLite specifics: pragmas on every connection, several processes on one file."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from tests.state._workers import CLAIM_ITEMS, claim_items, write_runs

from contimg.state import open_repository
from contimg.state._engine import SQLITE_BUSY_TIMEOUT_MS
from contimg.state._migrate import current_revisions, head_revisions


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
