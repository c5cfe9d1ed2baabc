"""Service-test fixtures: simulated nights (test scale, written once per session) and helpers.

- ``night``: four consecutive groups around a transit of 0834+555 at +54.57 deg (the
  middle group, index 2, is a calibrator group);
- ``damaged``: three groups; group 1 has a truncated sb03, group 2 lacks sb05.

Each test copies the files it needs into its own work directory's ``incoming/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from contimg.config.settings import Settings
from contimg.observability import configure_logging, reset_logging
from contimg.science.simulate import Corruptions, SimulatedGroup, simulate_groups

ROOT = Path(__file__).resolve().parents[2]
WATCH_MAIN = Path(__file__).with_name("_watch_main.py")

#: Settings that make a test-scale night fast: no stability wait, short polls and leases.
FAST = {
    "ingest.stable_wait_s": "0",
    "ingest.poll_interval_s": "0.2",
    "ingest.group_timeout_s": "3",
    "executor.lease_s": "4",
    "executor.heartbeat_s": "0.5",
    "conversion.n_workers": "1",
}


@dataclass(frozen=True)
class Night:
    """Simulated groups and where their files are."""

    directory: Path
    groups: tuple[SimulatedGroup, ...]

    @property
    def group_ids(self) -> list[str]:
        return [g.group_id for g in self.groups]

    def copy_to(self, incoming: Path) -> None:
        incoming.mkdir(parents=True, exist_ok=True)
        for g in self.groups:
            for path in g.files:
                shutil.copy2(path, incoming / path.name)


@pytest.fixture(scope="session")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    out = tmp_path_factory.mktemp("night")
    groups = simulate_groups(out, n_groups=4, calibrator="0834+555", scale="test", seed=1)
    return Night(out, tuple(groups))


@pytest.fixture(scope="session")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Night:
    out = tmp_path_factory.mktemp("damaged")
    groups = simulate_groups(
        out,
        n_groups=3,
        scale="test",
        seed=2,
        corruptions=Corruptions(truncated_files=((1, 3),), missing_subbands=((2, 5),)),
    )
    return Night(out, tuple(groups))


def make_settings(workdir: Path, **overrides: str) -> Settings:
    """Settings for an in-process service on ``workdir`` (FAST plus ``overrides``)."""
    values: dict[str, dict[str, object]] = {"paths": {"workdir": str(workdir)}}
    for key, value in {**FAST, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        section, name = key.split(".")
        values.setdefault(section, {})[name] = value
    return Settings.model_validate(values)


@pytest.fixture
def logging_to(tmp_path: Path) -> Iterator[None]:
    """Configure logging (runner events reach the service's progress hook only then)."""
    configure_logging(make_settings(tmp_path / "logs-only"), console=False)
    yield
    reset_logging()


def watch_command(workdir: Path, *args: str, sets: dict[str, str] | None = None) -> list[str]:
    """The ``contimg watch`` command line (test workflows) for ``workdir``."""
    cmd = [sys.executable, str(WATCH_MAIN), "watch", "--workdir", str(workdir), "--no-display"]
    for key, value in {**FAST, **(sets or {})}.items():
        cmd += ["--set", f"{key}={value}"]
    return [*cmd, *args]


def start_watch(
    workdir: Path, log: Path, *args: str, sets: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``contimg watch`` in a subprocess, its output going to ``log``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.upper().startswith("CONTIMG_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            watch_command(workdir, *args, sets=sets),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir.parent,
        )


def wait_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    """Wait for every process; kill them all and fail if one overruns."""
    codes = []
    try:
        for proc in procs:
            codes.append(proc.wait(timeout=timeout))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        raise
    return codes


@pytest.fixture(scope="session")
def postgres_server():  # -> PostgresServer
    from tests._postgres import postgres_server as _server

    with _server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    return postgres_server.create_database()
