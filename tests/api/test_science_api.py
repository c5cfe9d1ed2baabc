"""Products of real `calibrator` and `standard` runs: groups, MSs, images, files, QA."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image
from tests.api.conftest import Filled, Science

pytestmark = [pytest.mark.casa, pytest.mark.wsclean, pytest.mark.slow]


def test_image_metadata_and_qa(client, filled: Filled, science: Science) -> None:
    items = client.get("/api/v1/images").json()["items"]
    assert science.image_id in [i["id"] for i in items]
    img = client.get(f"/api/v1/images/{science.image_id}").json()
    assert img["group_id"] == filled.group_ids[0]
    assert img["run_id"] in (None, science.standard_run)  # the stage may not record it
    assert img["verdict"] in ("good", "bad")  # judged, no longer "pending"
    assert img["qa"]["verdict"] == img["verdict"]
    assert img["rms_jy"] > 0
    assert img["bmaj_arcsec"] >= img["bmin_arcsec"] > 0
    assert img["calibration_set"] == science.set_id
    assert img["fits_url"] == f"/api/v1/images/{science.image_id}/fits"
    by_group = client.get("/api/v1/images", params={"group_id": filled.group_ids[0]}).json()
    assert [i["id"] for i in by_group["items"]] == [science.image_id]
    srcs = client.get(f"/api/v1/images/{science.image_id}/sources").json()
    assert isinstance(srcs, list)


def test_files_are_served_by_id(client, science: Science) -> None:
    resp = client.get(f"/api/v1/images/{science.image_id}/fits")
    assert resp.status_code == 200
    with fits.open(io.BytesIO(resp.content)) as hdul:
        data = np.asarray(hdul[0].data)
    img = client.get(f"/api/v1/images/{science.image_id}").json()
    assert data.shape[-1] == img["size"]
    assert np.nanstd(data) > 0
    pbcor = client.get(f"/api/v1/images/{science.image_id}/pbcor.fits")
    assert pbcor.status_code == 200
    assert pbcor.content[:6] == b"SIMPLE"
    png = client.get(f"/api/v1/images/{science.image_id}/png")
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size[0] > 100


def test_metrics_and_overview_see_the_image(client, science: Science) -> None:
    text = client.get("/metrics").text
    age = float(
        next(
            line.split()[-1]
            for line in text.splitlines()
            if line.startswith("contimg_last_image_age_seconds ")
        )
    )
    assert 0 <= age < 3600
    assert 'contimg_recorded_stage_duration_seconds_count{stage="image",status="completed"' in text
    html = client.get("/").text
    assert f'href="/images/{science.image_id}"' in html
    assert f"/api/v1/images/{science.image_id}/png" in html
    assert f'href="/runs/{science.standard_run}"' in html


def test_image_pages(client, science: Science) -> None:
    grid = client.get("/images").text
    assert f"/api/v1/images/{science.image_id}/png" in grid
    page = client.get(f"/images/{science.image_id}").text
    assert "Cross-match" in page
    assert f'href="/runs/{science.standard_run}"' in page  # the group's runs are listed
    run = client.get(f"/runs/{science.standard_run}").text
    for stage in (
        "convert",
        "flag",
        "apply_calibration",
        "image",
        "register_image",
        "assess_image",
        "record_assessment",
        "photometry",
    ):
        assert f"{stage} attempt 1: completed" in run, stage


def test_groups_converted_and_ms_registered(client, filled: Filled, science: Science) -> None:
    groups = client.get("/api/v1/groups").json()["items"]
    assert [g["group_id"] for g in groups] == list(filled.group_ids)
    assert all(g["state"] == "converted" for g in groups)
    converted = client.get("/api/v1/groups", params={"state": "converted", "limit": 1}).json()
    assert converted["has_more"] is True
    assert client.get("/api/v1/groups", params={"state": "failed"}).json()["items"] == []
    ms = client.get("/api/v1/ms").json()["items"]
    assert sorted(m["group_id"] for m in ms) == sorted(filled.group_ids)
    for m in ms:
        assert m["path"].endswith(f"{m['group_id']}.ms")
        assert m["start_mjd"] < m["mid_mjd"] < m["end_mjd"]
        assert abs(m["dec_deg"] - 54.57) < 0.5
    by_group = client.get("/api/v1/ms", params={"group_id": filled.group_ids[1]}).json()
    assert [m["group_id"] for m in by_group["items"]] == [filled.group_ids[1]]


def test_sources_and_light_curves_from_forced_photometry(client, science: Science) -> None:
    sources = client.get("/api/v1/sources").json()["items"]
    names = {s["name"]: s for s in sources}
    assert {"SRC_A", "SRC_B", "VAR_C"} <= set(names)
    src = names["SRC_A"]
    assert src["n"] >= 1
    curve = client.get(f"/api/v1/sources/{src['id']}/lightcurve").json()
    assert len(curve) == src["n"]
    assert curve[0]["image_id"] == science.image_id
    assert curve[0]["flux_err_jy"] > 0
    png = client.get(f"/api/v1/sources/{src['id']}/lightcurve.png")
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size[0] > 300
    table = client.get("/sources").text
    assert f'href="/sources/{src["id"]}"' in table
    page = client.get(f"/sources/{src['id']}").text
    assert f"/api/v1/sources/{src['id']}/lightcurve.png" in page
    assert f'href="/images/{science.image_id}"' in page


def test_cross_match_reached_the_image_record(client, science: Science) -> None:
    img = client.get(f"/api/v1/images/{science.image_id}").json()
    assert img["n_sources"] >= 1
    assert img["n_matched"] >= 1
    assert img["flux_ratio"] > 0
