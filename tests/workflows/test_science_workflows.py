"""Closed loop through the declared workflows on a simulated test-scale night.

Three groups at dec +54.57 with 0834+555 transiting the middle one, corrupted by
antenna gains, bandpasses and noise: the ``calibrator`` workflow solves on the
middle group, ``standard`` applies that set to the others and images them, the
sources come back where and as bright as the sky model says, ``mosaic`` combines
the images and ``reprocessing`` calibrates an existing MS from a sky-model CSV.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from casacore.tables import table

from contimg.config import Settings, load_settings
from contimg.pipeline import Runner
from contimg.science.ingest import probe_file, read_header
from contimg.science.simulate import Corruptions, SimulatedGroup, simulate_groups
from contimg.science.skymodel import SkyModel, Source, write_sky_model
from contimg.state import SqlStateRepository, open_repository
from contimg.state._ingest import GroupState
from contimg.workflows import WORKFLOWS, get_workflow, run_workflow

pytestmark = [pytest.mark.slow, pytest.mark.casa, pytest.mark.wsclean]

#: Bright field sources near the strip (J2000), well inside the beam of at least one group.
SKY = SkyModel(
    (
        Source("FIELD-A", 127.6, 54.9, 2.0, -0.7),
        Source("FIELD-B", 130.2, 54.2, 1.5, -0.5),
    )
)
SEED = 7


@dataclass(frozen=True)
class Night:
    settings: Settings
    groups: list[SimulatedGroup]
    sky_csv: Path


def _index(repo: SqlStateRepository, settings: Settings, groups: list[SimulatedGroup]) -> None:
    for group in groups:
        for path in group.files:
            found = probe_file(path)
            assert found is not None
            repo.groups.index_file(
                path,
                subband=found.subband,
                timestamp=found.timestamp,
                size=path.stat().st_size,
                dec_deg=read_header(path).dec_deg,
                tolerance_s=settings.ingest.group_tolerance_s,
            )


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    root = tmp_path_factory.mktemp("night")
    sky_csv = write_sky_model(SKY, root / "sky.csv")
    settings = load_settings(
        overrides={
            "paths.workdir": str(root / "work"),
            "imaging.robust": 1.0,
            "imaging.cell_arcsec": 8.0,
            "imaging.fov_deg": 2.5,
            "imaging.qa_max_rms_jy": 0.1,
            "imaging.reference_catalog": str(sky_csv),
            "photometry.monitored_sources": str(sky_csv),
            "mosaic.reference_catalog": str(sky_csv),
            "calibration.when_missing": "uncalibrated",
        },
        environ={},
    ).settings
    settings.paths.ensure()
    groups = simulate_groups(
        settings.paths.incoming_dir,
        n_groups=3,
        dec_deg=54.57,
        sky=SKY,
        calibrator="0834+555",
        seed=SEED,
        corruptions=Corruptions(gains=True, bandpass=True, noise=True, noise_sigma_jy=0.5),
    )
    return Night(settings, groups, sky_csv)


@pytest.fixture(scope="module")
def repo(night: Night) -> Iterator[SqlStateRepository]:
    repository = open_repository(night.settings.database_url)
    _index(repository, night.settings, night.groups)
    yield repository
    repository.close()


@pytest.fixture(scope="module")
def runs(night: Night, repo: SqlStateRepository) -> dict[str, object]:
    """Run calibrator on the transit group, then standard on the two others."""
    out: dict[str, object] = {}
    with Runner(repo, night.settings, workflows=WORKFLOWS) as runner:
        cal_group, *targets = night.groups[1], night.groups[0], night.groups[2]
        out["calibrator"] = run_workflow(
            runner,
            get_workflow("calibrator", night.settings),
            {"group_id": cal_group.group_id},
            trigger="test",
        )
        out["standard"] = [
            run_workflow(
                runner,
                get_workflow("standard", night.settings),
                {"group_id": g.group_id},
                trigger="test",
            )
            for g in targets
        ]
    return out


def test_calibrator_workflow_registers_a_valid_set(runs: dict, repo: SqlStateRepository) -> None:
    result = runs["calibrator"]
    assert result.ok, result.stages
    (cal_set,) = repo.calibration.list_sets()
    assert cal_set.status == "valid"
    assert cal_set.calibrator == "0834+555"
    assert result.outputs["cal_set_id"] == cal_set.set_id


def test_standard_applies_the_set_and_records_it(
    runs: dict, repo: SqlStateRepository, night: Night
) -> None:
    (cal_set,) = repo.calibration.list_sets()
    for result, group in zip(runs["standard"], (night.groups[0], night.groups[2]), strict=True):
        assert result.ok, {k: v.error for k, v in result.stages.items() if v.error}
        assert result.outputs["calibration_set"] == cal_set.set_id
        assert repo.groups.get_group(group.group_id).state is GroupState.CONVERTED
        (image,) = repo.images.list_images(group_id=group.group_id)
        assert image.calibration_set == cal_set.set_id
        assert image.run_id == result.run_id
        assert image.verdict == "good", image.qa
        assert image.qa["verdict"] == "good"
        assert (image.n_sources or 0) >= 1
        assert (image.n_matched or 0) >= 1
        assert image.catalogue_path == str(
            Path(image.image_path).with_name(f"{group.group_id}-sources.csv")
        )
        assert Path(image.catalogue_path).is_file()
        assert repo.images.sources(image.id)
        assert Path(image.png_path).is_file()
        assert result.outputs["verdict"] == "good"
    applied = repo.calibration.list_applications()
    assert {a.set_id for a in applied} == {cal_set.set_id}
    assert len(applied) == 2
    # applied in the imaging pass (calibration.apply_to = "imaging"): the MS keeps raw DATA
    assert {a.details["applied_in"] for a in applied} == {"imaging"}
    for a in applied:
        with table(a.ms_path, ack=False) as ms:
            assert "CORRECTED_DATA" not in ms.colnames()


def test_the_image_is_registered_before_its_sources_are_found(
    runs: dict, repo: SqlStateRepository, night: Night
) -> None:
    """register_image ends before assess_image starts; the assessment keeps created_at."""
    for result, group in zip(runs["standard"], (night.groups[0], night.groups[2]), strict=True):
        attempts = {a.stage: a for a in repo.list_attempts(result.run_id)}
        order = ("image", "register_image", "assess_image", "record_assessment", "photometry")
        assert all(attempts[s].status.value == "completed" for s in order), attempts
        for before, after in itertools.pairwise(order):
            assert attempts[before].ended_at <= attempts[after].started_at, (before, after)
        (image,) = repo.images.list_images(group_id=group.group_id)
        register, assess = attempts["register_image"], attempts["assess_image"]
        assert register.started_at <= image.created_at <= register.ended_at
        assert image.created_at < assess.started_at


def test_images_recover_the_sky(runs: dict, repo: SqlStateRepository, night: Night) -> None:
    """Each sky-model source in an image is within 1/5 beam and 10 % of its flux."""
    checked = 0
    for group in (night.groups[0], night.groups[2]):
        (image,) = repo.images.list_images(group_id=group.group_id)
        found = repo.images.sources(image.id)
        cat = SkyCoord([s.ra_deg for s in found], [s.dec_deg for s in found], unit="deg")
        for src in SKY.sources:
            sep = SkyCoord(src.ra_deg, src.dec_deg, unit="deg").separation(cat).arcsec
            k = int(np.argmin(sep))
            if sep[k] > 60:  # outside this image or below the beam cut
                continue
            true = src.flux_jy * (image.frequency_hz / 1.4e9) ** src.spectral_index
            assert sep[k] < image.bmin_arcsec / 5, (src.name, sep[k])
            assert found[k].flux_jy == pytest.approx(true, rel=0.10), src.name
            checked += 1
    assert checked >= 2


def test_light_curves_are_measured(runs: dict, repo: SqlStateRepository) -> None:
    sources = {s.name: s for s in repo.sources.list()}
    assert set(sources) == {"FIELD-A", "FIELD-B"}
    # each field source lies in the primary-beam-cut image of one of the two target groups
    assert all(s.n >= 1 for s in sources.values()), {k: s.n for k, s in sources.items()}
    assert not any(s.candidate for s in sources.values())


def test_the_service_mosaics_a_window_once_the_data_stream_has_passed_it(
    runs: dict, repo: SqlStateRepository, night: Night
) -> None:
    from contimg.service._mosaics import MosaicScheduler, window_of

    # windows aligned to UTC midnight, one of them ending where the last group starts
    last = night.groups[-1].start
    midnight = last.replace(hour=0, minute=0, second=0, microsecond=0)
    k = (last - midnight) // timedelta(minutes=15)
    hours = (last - midnight).total_seconds() / k / 3600
    start, end = window_of(last + timedelta(seconds=1), hours)
    assert end - start == timedelta(hours=hours)
    assert abs((start - last).total_seconds()) < 1e-3  # the last group opens a new window
    settings = night.settings.model_copy(
        update={
            "mosaic": night.settings.mosaic.model_copy(
                update={"window_hours": hours, "min_images": 1}
            )
        }
    )
    with Runner(repo, settings, workflows=WORKFLOWS) as runner:
        scheduler = MosaicScheduler(settings, repo, runner)
        started = scheduler.poll()
        assert started is not None
        assert scheduler.busy or started.done()
        run_id = started.result(timeout=600)
        assert not scheduler.busy
        assert scheduler.poll() is None  # tried once per window
        assert MosaicScheduler(settings, repo, runner).due() is None  # it has its mosaic now
        scheduler.close()
    (mosaic,) = repo.mosaics.list(since=start - timedelta(hours=hours), until=start)
    assert mosaic.run_id == run_id
    assert [Path(i.image_path).name for i in mosaic.inputs] == [
        f"{night.groups[0].group_id}-pbcor.fits"
    ]


def test_mosaic_of_the_night(runs: dict, repo: SqlStateRepository, night: Night) -> None:
    start = night.groups[0].start - timedelta(minutes=1)
    end = night.groups[-1].start + timedelta(minutes=10)
    with Runner(repo, night.settings, workflows=WORKFLOWS) as runner:
        result = runner.run(get_workflow("mosaic", night.settings), {"start": start, "end": end})
    assert result.ok, {k: v.error for k, v in result.stages.items() if v.error}
    mosaic = repo.mosaics.get(result.outputs["mosaic_id"])
    assert mosaic is not None
    assert mosaic.n_inputs == 2
    assert Path(mosaic.path).is_file()


def test_reprocessing_calibrates_an_existing_ms_from_a_sky_model(
    runs: dict, repo: SqlStateRepository, night: Night, tmp_path: Path
) -> None:
    model = write_sky_model(
        SkyModel((Source("0834+555", 128.7287, 55.5725, 8.8, -0.4),)), tmp_path / "model.csv"
    )
    ms = repo.ms.for_group(night.groups[1].group_id).path
    settings = load_settings(
        overrides={
            **{k: v for k, v in _flat(night.settings).items()},
            "calibration.model": str(model),
        },
        environ={},
    ).settings
    with Runner(repo, settings, workflows=WORKFLOWS) as runner:
        result = runner.run(get_workflow("reprocessing", settings), {"ms": ms})
    assert result.ok, {k: v.error for k, v in result.stages.items() if v.error}
    new_set = repo.calibration.get_set(result.outputs["cal_set_id"])
    assert new_set.calibrator == "model:model.csv"
    assert result.outputs["calibration_set"] == new_set.set_id


def _flat(settings: Settings) -> dict[str, object]:
    from contimg.config import effective_values

    return {k: v for k, v in effective_values(settings).items() if v is not None}
