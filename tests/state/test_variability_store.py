"""Mosaic, source and photometry stores on every backend."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from contimg.science.variability import LightCurveAccumulator, eta_metric, v_metric
from contimg.state import SqlStateRepository
from contimg.state._variability import MosaicInputRecord, NewSource, PhotometryRow

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
ACC = LightCurveAccumulator(eta_threshold=5.0, v_threshold=0.1, min_measurements=3)


def _row(name: str, flux: float, err: float, limit_sigma: float = 5.0) -> PhotometryRow:
    return PhotometryRow(
        name, flux, err, err, flux / err, flux / err < limit_sigma, limit_sigma * err
    )


def test_sources_added_once(repo: SqlStateRepository) -> None:
    first = repo.sources.add_sources(
        [NewSource("A", 10.0, 54.6, catalog_flux_jy=0.2), NewSource("B", -1.0, 54.0)]
    )
    again = repo.sources.add_sources(
        [NewSource("A", 99.0, 0.0), NewSource("C", 1.0, 2.0, "detected")]
    )
    assert [s.name for s in again] == ["A", "C"]
    assert again[0].id == first[0].id
    assert again[0].ra_deg == 10.0  # kept as first monitored
    assert first[1].ra_deg == pytest.approx(359.0)
    assert again[1].origin == "detected"
    assert len(repo.sources.list()) == 3


def test_incremental_metrics_match_batch_and_are_idempotent(repo: SqlStateRepository) -> None:
    repo.sources.add_sources([NewSource("steady", 1.0, 2.0), NewSource("step", 3.0, 4.0)])
    steady = [0.100, 0.103, 0.098, 0.101, 0.099, 0.102]
    step = [0.040, 0.041, 0.039, 0.120, 0.121, 0.119]
    err = 0.002
    for k, (a, b) in enumerate(zip(steady, step, strict=True)):
        added = repo.sources.add_photometry(
            image_path=f"/img/{k}-pbcor.fits",
            time=T0 + timedelta(minutes=5 * k),
            rows=[_row("steady", a, err), _row("step", b, err)],
            accumulate=ACC,
            image_id=k + 1,
        )
        assert added == 2
    # A retried stage re-adds an image: nothing changes.
    assert (
        repo.sources.add_photometry(
            image_path="/img/2-pbcor.fits", time=T0, rows=[_row("step", 9.0, err)], accumulate=ACC
        )
        == 0
    )
    s_steady, s_step = repo.sources.by_name("steady"), repo.sources.by_name("step")
    assert s_steady is not None
    assert s_step is not None
    assert s_step.n == 6
    assert s_step.eta == pytest.approx(eta_metric(step, [err] * 6), rel=1e-9)
    assert s_step.v == pytest.approx(v_metric(step), rel=1e-9)
    assert s_steady.eta == pytest.approx(eta_metric(steady, [err] * 6), rel=1e-9)
    assert s_step.candidate
    assert not s_steady.candidate
    assert s_step.last_time == T0 + timedelta(minutes=25)
    assert [s.name for s in repo.sources.list(candidates_only=True)] == ["step"]
    assert repo.sources.list()[0].name == "step"
    curve = repo.sources.lightcurve(s_step.id)
    assert [p.flux_jy for p in curve] == step
    assert [p.image_id for p in curve] == [1, 2, 3, 4, 5, 6]
    assert len(repo.sources.measured_images()) == 6


def test_upper_limits_are_stored_and_counted(repo: SqlStateRepository) -> None:
    (src,) = repo.sources.add_sources([NewSource("faint", 1.0, 2.0)])
    for k, flux in enumerate([0.001, -0.002, 0.008]):
        repo.sources.add_photometry(
            image_path=f"/i{k}.fits",
            time=T0 + timedelta(minutes=k),
            rows=[_row("faint", flux, 0.002)],
            accumulate=ACC,
        )
    curve = repo.sources.lightcurve(src.id)
    assert [p.upper_limit for p in curve] == [True, True, True]
    assert curve[1].flux_jy == -0.002
    assert curve[0].limit_jy == pytest.approx(0.01)
    stored = repo.sources.get(src.id)
    assert stored is not None
    assert stored.n == 3
    assert stored.n_upper_limits == 3


def test_unknown_source_writes_nothing(repo: SqlStateRepository) -> None:
    repo.sources.add_sources([NewSource("known", 1.0, 2.0)])
    with pytest.raises(KeyError, match="ghost"):
        repo.sources.add_photometry(
            image_path="/x.fits",
            time=T0,
            rows=[_row("known", 1.0, 0.1), _row("ghost", 1.0, 0.1)],
            accumulate=ACC,
        )
    known = repo.sources.by_name("known")
    assert known is not None
    assert known.n == 0
    assert repo.sources.lightcurve(known.id) == []


def test_undefined_v_stored_as_null(repo: SqlStateRepository) -> None:
    (src,) = repo.sources.add_sources([NewSource("zero", 1.0, 2.0)])
    for k, flux in enumerate([0.001, -0.001]):
        repo.sources.add_photometry(
            image_path=f"/z{k}.fits", time=T0, rows=[_row("zero", flux, 0.002)], accumulate=ACC
        )
    stored = repo.sources.get(src.id)
    assert stored is not None
    assert stored.v is None
    assert math.isfinite(stored.eta)


def test_mosaics_round_trip_replace_and_filter(repo: SqlStateRepository) -> None:
    inputs = [
        MosaicInputRecord(f"/img/{k}-pbcor.fits", f"/img/{k}-pb.fits", 0.002, k) for k in range(3)
    ]
    kwargs = {
        "path": "/m/night.fits",
        "weight_path": "/m/night-weight.fits",
        "noise_path": "/m/night-noise.fits",
        "png_path": "/m/night.png",
        "ra_deg": 151.9,
        "dec_deg": 54.6,
        "qa_passed": True,
    }
    first = repo.mosaics.add(
        name="night",
        start_time=T0,
        end_time=T0 + timedelta(minutes=10),
        qa={"noise_ratio": 1.02, "flux_ratio": math.nan},
        inputs=inputs,
        **kwargs,
    )
    assert first.n_inputs == 3
    assert first.inputs == tuple(inputs)
    assert first.qa == {"noise_ratio": 1.02, "flux_ratio": None}
    second = repo.mosaics.add(
        name="night",
        start_time=T0,
        end_time=T0 + timedelta(minutes=5),
        qa={},
        inputs=inputs[:2],
        **kwargs,
    )
    assert second.id == first.id  # rebuilt in place: links to it stay valid
    other = repo.mosaics.add(
        name="later",
        start_time=T0 + timedelta(days=1),
        end_time=T0 + timedelta(days=1, minutes=5),
        qa={},
        inputs=[],
        **kwargs,
    )
    listed = repo.mosaics.list()
    assert [m.name for m in listed] == ["later", "night"]
    assert listed[1].id == second.id
    assert len(listed[1].inputs) == 2
    assert [m.id for m in repo.mosaics.list(since=T0 + timedelta(hours=1))] == [other.id]
    assert [m.id for m in repo.mosaics.list(until=T0 + timedelta(hours=1))] == [second.id]


def test_science_results_stored_as_they_are(repo: SqlStateRepository) -> None:
    from pathlib import Path

    from contimg.science.mosaic import MosaicInput
    from contimg.science.photometry import ForcedMeasurement, SkyPosition

    (src, det) = repo.sources.add_sources(
        [SkyPosition("S", 1.0, 2.0, 0.3), SkyPosition("J0001", 3.0, 4.0, origin="detected")]
    )
    assert (src.origin, src.catalog_flux_jy) == ("catalog", 0.3)
    assert (det.origin, det.catalog_flux_jy) == ("detected", None)
    m = ForcedMeasurement("S", 1.0, 2.0, 0.1, 0.002, 0.002, 50.0, False, 0.01, 1.1)
    assert (
        repo.sources.add_photometry(image_path=Path("/a.fits"), time=T0, rows=[m], accumulate=ACC)
        == 1
    )
    mosaic = repo.mosaics.add(
        name="m",
        path="/m.fits",
        weight_path="/w.fits",
        noise_path="/n.fits",
        png_path=None,
        start_time=None,
        end_time=None,
        ra_deg=None,
        dec_deg=None,
        qa={},
        qa_passed=False,
        inputs=[MosaicInput(Path("/a.fits"), Path("/a-pb.fits"), 0.002)],
    )
    assert mosaic.inputs == (MosaicInputRecord("/a.fits", "/a-pb.fits", 0.002, None),)


def test_concurrent_images_lose_no_update(repo: SqlStateRepository) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = ["A", "B", "C"]
    repo.sources.add_sources([NewSource(n, 1.0, 2.0) for n in names])
    fluxes = {k: [0.1 + 0.01 * k + 0.001 * j for j in range(3)] for k in range(12)}

    def measure(k: int) -> int:
        rows = [_row(n, fluxes[k][j], 0.002) for j, n in enumerate(names)]
        return repo.sources.add_photometry(
            image_path=f"/c{k}.fits", time=T0 + timedelta(minutes=k), rows=rows, accumulate=ACC
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(measure, range(12))) == 36
    for j, n in enumerate(names):
        src = repo.sources.by_name(n)
        assert src is not None
        assert src.n == 12
        series = [fluxes[k][j] for k in range(12)]
        assert src.eta == pytest.approx(eta_metric(series, [0.002] * 12), rel=1e-9)
