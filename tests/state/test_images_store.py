"""Image and image-source store on every backend."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from contimg.science.sources import FoundSource
from contimg.state import SqlStateRepository
from contimg.state._images import NewImage

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
