from __future__ import annotations

from pathlib import Path

import pytest
from tests import _postgres


def test_missing_server_binaries_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A machine without PostgreSQL: nothing on PATH, no /usr/lib/postgresql.
    monkeypatch.delenv("PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_postgres.glob, "glob", lambda _pattern: [])
    with pytest.raises(_postgres.PostgresUnavailable, match="apt-get install postgresql"):
        _postgres.find_pg_bindir()
    with pytest.raises(_postgres.PostgresUnavailable), _postgres.postgres_server():
        pass


@pytest.mark.postgres
def test_server_databases_are_isolated(postgres_server: _postgres.PostgresServer) -> None:
    import sqlalchemy as sa

    from contimg.state import open_repository

    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    assert first.startswith("postgresql://")
    with open_repository(first) as repo:
        repo.create_run("w", trigger="t", inputs={})
    with open_repository(second) as repo:
        assert repo.list_runs() == []
        with repo.read() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == "contimg"
