"""Apply the packaged Alembic migrations to a state database.

:func:`upgrade_engine` runs at every CLI start, so the common case (already at
every head) costs one small query and does not even import Alembic: the
revision graph is read from the revision files' literal ``revision`` /
``down_revision`` assignments (``ast``, once per process) and compared with
``alembic_version``. Only when something is missing
does it take a database-wide lock (``BEGIN IMMEDIATE`` on SQLite, a transaction
advisory lock on PostgreSQL) and let Alembic upgrade to ``heads`` inside that
one transaction; both backends have transactional DDL, so a second process
starting at the same moment waits, then finds nothing left to do, and a failed
migration leaves the database as it was.
"""

from __future__ import annotations

import ast
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from contimg.state._engine import BEGIN_MODE_OPTION

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "MIGRATIONS_DIR",
    "SchemaVersionError",
    "alembic_config",
    "current_revisions",
    "head_revisions",
    "script_directory",
    "upgrade_engine",
]

#: The Alembic script directory shipped inside the package.
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Arbitrary constant key of the PostgreSQL advisory lock serialising upgrades
# ("contimg" in ASCII).
_PG_UPGRADE_LOCK = 0x636F6E74696D67


class SchemaVersionError(RuntimeError):
    """The database was migrated by a newer contimg than this one."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Build an Alembic ``Config`` for the packaged migrations (no alembic.ini needed).

    Parameters
    ----------
    connection : sqlalchemy.engine.Connection, optional
        Handed to ``env.py``, which then migrates through it.
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    """Return Alembic's view of the packaged revisions (imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def _revision_graph() -> dict[str, tuple[str, ...]]:
    """Map each packaged revision to its parents, read without importing it.

    Revision files assign ``revision`` and ``down_revision`` literals (the
    Alembic template does); ``tests/state/test_migrations.py`` checks that this
    graph has the same heads and revisions as Alembic's own.
    """
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        if path.name == "__init__.py":
            continue
        found: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                found[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
        revision, parents = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            raise RuntimeError(f"{path}: no literal revision = '...' assignment")
        if parents is None:
            graph[revision] = ()
        elif isinstance(parents, str):
            graph[revision] = (parents,)
        else:
            graph[revision] = tuple(parents)  # type: ignore[arg-type]
    return graph


def head_revisions() -> frozenset[str]:
    """Return the head revision of every branch shipped with this code."""
    graph = _revision_graph()
    parents = {p for ps in graph.values() for p in ps}
    return frozenset(graph) - parents


def _known_revisions() -> frozenset[str]:
    return frozenset(_revision_graph())


def current_revisions(conn: Connection) -> frozenset[str]:
    """Return the revisions in ``alembic_version`` (empty for a fresh database)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return frozenset()
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return frozenset(rows)


def upgrade_engine(engine: Engine, *, attempts: int = 5) -> tuple[str, ...]:
    """Upgrade the database behind ``engine`` to every head; cheap when already there.

    On SQLite, processes opening one fresh file at once race for the WAL switch and
    the first write; SQLite answers some of those races with "database is locked" at
    once, without waiting its busy timeout, so such an attempt is repeated.

    Returns
    -------
    tuple of str
        The revisions the database is at afterwards, sorted.

    Raises
    ------
    SchemaVersionError
        If the database records a revision this code does not know (it was
        migrated by a newer contimg).
    """
    for attempt in range(1, attempts):
        try:
            return _upgrade_once(engine)
        except sa.exc.OperationalError as exc:
            if engine.dialect.name != "sqlite" or "database is locked" not in str(exc):
                raise
            time.sleep(0.1 * attempt)
    return _upgrade_once(engine)


def _upgrade_once(engine: Engine) -> tuple[str, ...]:
    heads = head_revisions()
    with engine.connect() as conn:
        current = current_revisions(conn)
        conn.rollback()
    _check_known(current)
    if current == heads:
        return tuple(sorted(current))

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{BEGIN_MODE_OPTION: "IMMEDIATE"})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_UPGRADE_LOCK})
            from alembic import command

            # Another process may have upgraded while we waited for the lock;
            # Alembic re-reads alembic_version here, inside the lock.
            command.upgrade(alembic_config(conn), "heads")
            after = current_revisions(conn)
    return tuple(sorted(after))


def _check_known(current: frozenset[str]) -> None:
    unknown = current - _known_revisions()
    if unknown:
        raise SchemaVersionError(
            f"database is at revision(s) {', '.join(sorted(unknown))} which this contimg "
            "does not know: it was migrated by a newer version; upgrade contimg"
        )
