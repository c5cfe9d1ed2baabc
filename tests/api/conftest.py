"""API fixtures: a work directory whose database was filled by real commands and runs.

``filled`` (session) simulates two test-scale groups around the transit of
0834+555 into ``incoming/`` (``contimg simulate``) and indexes them into groups
with the ingest functions and the group store, as the watcher does; it runs the
``engine-demo`` workflow twice through the Runner (one completes; one fails for real:
``count=0`` makes the summary stage divide by zero, so the attempt carries a
genuine traceback) with logging to the database on. ``client`` is a FastAPI
TestClient on an app over that database with an API key configured.
``science`` (session; needs CASA and WSClean) runs the ``calibrator`` workflow
on the transit group and ``standard`` on the other: two converted MSs, a
registered calibration set, and a calibrated, checked and registered image.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contimg.api import create_app, hash_key
from contimg.cli.main import app as cli_app
from contimg.config.settings import (
    ApiSettings,
    ImagingSettings,
    PathsSettings,
    PhotometrySettings,
    Settings,
)
from contimg.observability import configure_logging, reset_logging
from contimg.pipeline import Runner
from contimg.science.ingest import cluster_files, read_header, scan_directory
from contimg.state import RunRecord, SqlStateRepository, open_repository
from contimg.workflows import WORKFLOWS, get_workflow

with warnings.catch_warnings():
    # starlette asks for httpx2; its TestClient on httpx works unchanged.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

API_KEY = "test-key-7f3a"

#: Sources in the field of the first (target) group; VAR_C brightens between the groups.
SKY_CSV = """name,ra_deg,dec_deg,flux_jy,spectral_index,flux_by_group
SRC_A,127.30,54.45,1.0,-0.7,
SRC_B,127.62,54.80,0.6,-0.5,
VAR_C,127.45,54.62,0.4,0.0,0.4;1.2
"""


@dataclass(frozen=True)
class Filled:
    """A work directory and what the real runs left in its database."""

    settings: Settings
    ok_run: int
    failed_run: int
    group_ids: tuple[str, ...]


def settings_for(workdir: Path, *, key: str | None = API_KEY, **api: object) -> Settings:
    return Settings(
        paths=PathsSettings(workdir=workdir),
        api=ApiSettings(api_key_sha256=hash_key(key) if key else None, **api),
    )


def index_incoming(repo: SqlStateRepository, settings: Settings) -> None:
    """Index the whole subband files of ``incoming/`` into groups, as the watcher does."""
    found, _ignored = scan_directory(settings.paths.incoming_dir)
    for group in cluster_files(found, tolerance_s=settings.ingest.group_tolerance_s):
        for f in group.files:
            repo.groups.index_file(
                f.path,
                subband=f.subband,
                timestamp=f.timestamp,
                size=f.path.stat().st_size,
                dec_deg=read_header(f.path).dec_deg,
                tolerance_s=settings.ingest.group_tolerance_s,
                n_expected=group.n_subbands,
            )


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    settings = settings_for(tmp_path_factory.mktemp("api") / "work")
    settings.paths.ensure()
    incoming = settings.paths.incoming_dir
    sky = settings.paths.workdir / "sky.csv"
    sky.write_text(SKY_CSV)
    result = CliRunner().invoke(
        cli_app,
        [
            "simulate",
            str(incoming),
            "--groups",
            "2",
            "--scale",
            "test",
            "--seed",
            "5",
            "--calibrator",
            "0834+555",
            "--sources",
            str(sky),
            "--workdir",
            str(settings.paths.workdir),
        ],
    )
    reset_logging()
    assert result.exit_code == 0, result.output
    configure_logging(settings, console=False)
    try:
        with open_repository(settings.database_url) as repo, Runner(repo, settings) as runner:
            wf = get_workflow("engine-demo", settings)
            ok = runner.run(wf, {"seed": 7, "count": 400}, trigger="test")
            bad = runner.run(wf, {"seed": 8, "count": 0}, trigger="test")
            index_incoming(repo, settings)
            groups = tuple(g.group_id for g in repo.groups.list_groups())
    finally:
        reset_logging()
    assert ok.ok
    assert not bad.ok
    assert len(groups) == 2
    return Filled(settings=settings, ok_run=ok.run_id, failed_run=bad.run_id, group_ids=groups)


@pytest.fixture(scope="session")
def client(filled: Filled) -> Iterator[TestClient]:
    with TestClient(create_app(filled.settings)) as c:
        yield c


@pytest.fixture
def repo(filled: Filled) -> Iterator[SqlStateRepository]:
    with open_repository(filled.settings.database_url) as r:
        yield r


def wait_finished(repo: SqlStateRepository, run_id: int, timeout_s: float = 30.0) -> RunRecord:
    """Poll until the run has ended (the API worker runs it in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = repo.get_run(run_id)
        assert run is not None
        if run.status.finished:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status} after {timeout_s} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Science:
    """Runs of the science workflows on the simulated groups."""

    calibrator_run: int
    standard_run: int
    set_id: str
    image_id: int


@pytest.fixture(scope="session")
def science(filled: Filled) -> Science:
    """Run ``calibrator`` on the transit group, then ``standard`` on the other (needs CASA).

    Imaging is shrunk (1 deg field, 8 arcsec cells, 200 clean iterations) to keep
    the fixture near a minute on two cores; the simulated sky is both the
    cross-match reference and the list of monitored sources.
    """
    sky = filled.settings.paths.workdir / "sky.csv"
    settings = filled.settings.model_copy(
        update={
            "imaging": ImagingSettings(
                fov_deg=1.0, cell_arcsec=8.0, niter=200, reference_catalog=sky
            ),
            "photometry": PhotometrySettings(monitored_sources=sky),
        }
    )
    transit, target = filled.group_ids[-1], filled.group_ids[0]
    configure_logging(settings, console=False)
    try:
        with (
            open_repository(settings.database_url) as repo,
            Runner(repo, settings, workflows=WORKFLOWS) as runner,
        ):
            cal = runner.run(
                get_workflow("calibrator", settings), {"group_id": transit}, trigger="test"
            )
            std = runner.run(
                get_workflow("standard", settings), {"group_id": target}, trigger="test"
            )
            images = repo.images.list_images(group_id=target)
    finally:
        reset_logging()
    assert cal.ok, {k: str(v.error) for k, v in cal.stages.items() if v.error}
    assert std.ok, {k: str(v.error) for k, v in std.stages.items() if v.error}
    return Science(
        calibrator_run=cal.run_id,
        standard_run=std.run_id,
        set_id=str(cal.outputs["cal_set_id"]),
        image_id=images[0].id,
    )
