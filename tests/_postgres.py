"""A throwaway PostgreSQL server for tests (no pytest here: reuse it from any conftest).

``postgres_server()`` runs ``initdb`` into a fresh temporary directory, starts
``postgres`` listening only on a Unix socket inside that directory (no TCP port,
so parallel sessions never collide), and stops it and deletes everything on exit.
``fsync`` is off: the data is disposable and the suite must stay fast.

PostgreSQL refuses to run as root; when the tests run as root the server runs
as the ``postgres`` system user (the Debian/Ubuntu packages create it), which
then owns the temporary directory. Missing binaries raise
:class:`PostgresUnavailable` with the command that installs them: CI installs
PostgreSQL, so a missing server is an error, never a silent skip.

Example (a session fixture in some conftest.py)::

    from tests._postgres import postgres_server

    @pytest.fixture(scope="session")
    def pg():
        with postgres_server() as server:
            yield server

    def test_x(pg):
        url = pg.create_database("x")   # postgresql://contimg@/x?host=<socket dir>
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailable", "find_pg_bindir", "postgres_server"]

_SUPERUSER = "contimg"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server binaries (initdb, pg_ctl) are not installed."""


def find_pg_bindir() -> Path:
    """Locate the directory holding ``initdb`` and ``pg_ctl``.

    Looks at ``$PG_BINDIR``, then ``PATH``, then ``/usr/lib/postgresql/<newest>/bin``.

    Raises
    ------
    PostgresUnavailable
        When no directory has both programs.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, in $PG_BINDIR or in "
        "/usr/lib/postgresql/*/bin; install them (apt-get install postgresql) - the "
        "PostgreSQL contract tests need a real server and are never skipped"
    )


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server reachable through the Unix socket in ``socket_dir``."""

    bindir: Path
    socket_dir: Path
    port: int
    run_as: int | None

    def url(self, database: str) -> str:
        """Return the ``postgresql://`` URL of ``database`` on this server."""
        return f"postgresql://{_SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name unless given) and return its URL."""
        import psycopg  # the driver the application uses; no createdb binary needed

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=_SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(args: list[str], user: int | None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        user=user,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd="/",  # the caller's cwd may be unreadable for the server user
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def _server_user() -> tuple[int | None, int | None]:
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root, and PostgreSQL refuses root: create a 'postgres' system user "
            "(the postgresql package does) or run the tests as a normal user"
        ) from None
    return entry.pw_uid, entry.pw_gid


@contextmanager
def postgres_server(port: int = 5432) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server; stop it and delete its files on exit.

    Parameters
    ----------
    port : int, optional
        Only names the socket file (``.s.PGSQL.<port>``); no TCP port is opened.

    Yields
    ------
    PostgresServer
        Use :meth:`PostgresServer.create_database` for each isolated database.
    """
    bindir = find_pg_bindir()
    uid, gid = _server_user()
    # Not under pytest's tmp_path: that is mode 0700 below /tmp/pytest-of-root,
    # which the postgres user could not enter.
    root = Path(tempfile.mkdtemp(prefix="contimg-pg-"))
    data, log = root / "data", root / "server.log"
    if uid is not None:
        os.chown(root, uid, gid if gid is not None else -1)
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                _SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            uid,
        )
        options = (
            f"-k {root} -p {port} -c listen_addresses='' -F -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=60 -c shared_buffers=32MB"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            uid,
        )
        started = True
        yield PostgresServer(bindir=bindir, socket_dir=root, port=port, run_as=uid)
    except RuntimeError as exc:
        if log.exists() and not started:
            raise RuntimeError(f"{exc}\nserver log:\n{log.read_text()}") from exc
        raise
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], uid)
        shutil.rmtree(root, ignore_errors=True)
