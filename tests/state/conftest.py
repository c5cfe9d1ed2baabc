"""State-store fixtures: one parametrized ``repo`` over every backend, and PostgreSQL.

Fixtures other test folders can copy (the server code is in ``tests/_postgres.py``):

- ``postgres_server`` (session): a throwaway PostgreSQL server; fails, never
  skips, when the binaries are missing.
- ``postgres_url`` : a fresh, empty database on it (``postgresql://...`` URL).
- ``state_url`` : parametrized ``sqlite_file`` / ``sqlite_memory`` / ``postgres``; the
  PostgreSQL one is a session-wide database (creating one costs ~0.3-1 s), so use
  it through ``repo``, which empties it first.
- ``fresh_state_url`` : the same three backends, each a brand-new empty database.
- ``repo`` : an open, migrated, empty :class:`~contimg.state.SqlStateRepository`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests._postgres import PostgresServer
from tests._postgres import postgres_server as _postgres_server

from contimg.state import SqlStateRepository, open_repository
from contimg.state.schema import metadata

BACKENDS = [
    "sqlite_file",
    "sqlite_memory",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with _postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def _postgres_shared_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("contimg_shared")


def _sqlite_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite_file":
        return f"sqlite:///{tmp_path / 'state' / 'contimg.sqlite3'}"
    return "sqlite:///:memory:"


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("_postgres_shared_url")
    return _sqlite_url(request.param, tmp_path)


@pytest.fixture(params=BACKENDS)
def fresh_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return _sqlite_url(request.param, tmp_path)


@pytest.fixture
def repo(state_url: str) -> Iterator[SqlStateRepository]:
    with open_repository(state_url) as repository:
        if repository.engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            with repository.write() as conn:
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        yield repository
