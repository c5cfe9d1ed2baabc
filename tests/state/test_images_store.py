"""Image and image-source store on every backend."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest

from contimg.science.sources import FoundSource
from contimg.state import SqlStateRepository
from contimg.state._images import NewAssessment, NewImage

T0 = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


def _image(name: str, **kw: object) -> NewImage:
    values: dict[str, object] = {
        "name": name,
        "ms_path": f"/w/ms/{name}.ms",
        "image_path": f"/w/images/{name}-image.fits",
        "pbcor_path": f"/w/images/{name}-pbcor.fits",
        "pb_path": f"/w/images/{name}-pb.fits",
        "backend": "wsclean",
        "frequency_hz": 1.405e9,
        "bmaj_arcsec": 56.0,
        "bmin_arcsec": 38.0,
        "bpa_deg": 10.0,
        "cell_arcsec": 7.6,
        "size": 1660,
        "ra_deg": 150.0,
        "dec_deg": 54.6,
        "group_id": name,
        "obs_time": T0,
        "rms_jy": 0.002,
        "peak_jy": 3.0,
        "dynamic_range": 1500.0,
        "verdict": "good",
        "qa": {"rms_jy": 0.002, "reasons": [], "median_flux_ratio": math.nan},
    }
    values.update(kw)
    return NewImage(**values)  # type: ignore[arg-type]


def _src(peak: float) -> FoundSource:
    return FoundSource(
        150.0, 54.6, 0.1, 0.1, peak, 0.01, peak * 1.01, 0.02, 60.0, 40.0, 5.0, 0.002, 0.9
    )


def test_record_list_and_sources(repo: SqlStateRepository) -> None:
    rec = repo.images.record(_image("g1"), [_src(1.0), _src(3.0)])
    assert rec.id > 0
    assert rec.obs_time == T0
    assert rec.qa["median_flux_ratio"] is None  # NaN stored as null
    got = repo.images.get(rec.id)
    assert got is not None
    assert got.name == "g1"
    assert got.verdict == "good"
    cat = repo.images.sources(rec.id)
    assert [s.peak_jy for s in cat] == [3.0, 1.0]
    assert cat[0].flux_jy == 3.0 * 1.01
    repo.images.record(_image("g2", verdict="bad"))
    assert [i.name for i in repo.images.list_images()] == ["g2", "g1"]
    assert [i.name for i in repo.images.list_images(verdict="bad")] == ["g2"]


def test_rerecord_replaces_image_and_catalogue(repo: SqlStateRepository) -> None:
    first = repo.images.record(_image("g1"), [_src(1.0), _src(2.0)])
    second = repo.images.record(_image("g1", rms_jy=0.001), [_src(5.0)])
    assert second.id == first.id
    again = repo.images.get_by_name("g1")
    assert again is not None
    assert again.id == first.id
    assert again.rms_jy == 0.001
    assert [s.peak_jy for s in repo.images.sources(second.id)] == [5.0]
    assert len(repo.images.list_images()) == 1


def _assessment(verdict: str = "good", **kw: object) -> NewAssessment:
    values: dict[str, object] = {
        "verdict": verdict,
        "catalogue_path": "/w/images/g1-sources.csv",
        "rms_jy": 0.0021,
        "peak_jy": 3.1,
        "dynamic_range": 1476.0,
        "n_sources": 2,
        "n_matched": 1,
        "flux_ratio": 0.98,
        "ra_offset_arcsec": 0.4,
        "dec_offset_arcsec": math.nan,
        "qa": {"verdict": verdict, "reasons": [], "median_flux_ratio": 0.98},
    }
    values.update(kw)
    return NewAssessment(**values)  # type: ignore[arg-type]


def test_record_assessment_updates_the_registered_image(repo: SqlStateRepository) -> None:
    pending = repo.images.record(
        _image("g1", verdict="pending", qa={"verdict": "pending"}, catalogue_path=None)
    )
    other = repo.images.record(_image("g2"), [_src(9.0)])
    assert repo.images.sources(pending.id) == []
    assert [i.name for i in repo.images.list_images(verdict="pending")] == ["g1"]
    time.sleep(0.01)  # a created_at set again would differ
    done = repo.images.record_assessment(pending.id, _assessment(), [_src(1.0), _src(3.0)])
    assert done.id == pending.id
    assert done.created_at == pending.created_at
    assert (done.verdict, done.n_sources, done.n_matched) == ("good", 2, 1)
    assert done.catalogue_path == "/w/images/g1-sources.csv"
    assert (done.rms_jy, done.flux_ratio, done.ra_offset_arcsec) == (0.0021, 0.98, 0.4)
    assert done.dec_offset_arcsec is None  # NaN stored as null
    assert done.qa == {"verdict": "good", "reasons": [], "median_flux_ratio": 0.98}
    # what the assessment does not carry is left alone
    assert (done.pbcor_path, done.obs_time, done.bmaj_arcsec) == (
        pending.pbcor_path,
        T0,
        pending.bmaj_arcsec,
    )
    assert repo.images.get(pending.id) == done
    assert [s.peak_jy for s in repo.images.sources(pending.id)] == [3.0, 1.0]
    assert repo.images.list_images(verdict="pending") == []
    assert [s.peak_jy for s in repo.images.sources(other.id)] == [9.0]


def test_record_assessment_again_replaces_not_duplicates(repo: SqlStateRepository) -> None:
    rec = repo.images.record(_image("g1", verdict="pending"))
    first = repo.images.record_assessment(rec.id, _assessment(), [_src(1.0), _src(3.0)])
    again = repo.images.record_assessment(rec.id, _assessment(), [_src(1.0), _src(3.0)])
    assert again == first
    assert [s.peak_jy for s in repo.images.sources(rec.id)] == [3.0, 1.0]
    bad = repo.images.record_assessment(rec.id, _assessment("bad", n_sources=1), [_src(2.0)])
    assert (bad.verdict, bad.n_sources, bad.created_at) == ("bad", 1, rec.created_at)
    assert [s.peak_jy for s in repo.images.sources(rec.id)] == [2.0]
    assert len(repo.images.list_images()) == 1


def test_record_assessment_of_an_unknown_image_changes_nothing(repo: SqlStateRepository) -> None:
    rec = repo.images.record(_image("g1", verdict="pending"))
    with pytest.raises(KeyError, match=str(rec.id + 1)):
        repo.images.record_assessment(rec.id + 1, _assessment(), [_src(1.0)])
    assert repo.images.get(rec.id) == rec
    assert repo.images.sources(rec.id) == repo.images.sources(rec.id + 1) == []
