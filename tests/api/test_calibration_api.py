"""Calibration endpoints and page over a set solved for real by the ``calibrator`` workflow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.api.conftest import Filled, Science

pytestmark = [pytest.mark.casa, pytest.mark.slow]


def test_sets_with_tables_and_validity(client, filled: Filled, science: Science) -> None:
    calibrated = science.set_id
    sets = client.get("/api/v1/caltables").json()
    assert [s["set_id"] for s in sets] == [calibrated]
    cal = client.get(f"/api/v1/caltables/{calibrated}").json()
    assert cal["calibrator"] == "0834+555"
    assert cal["status"] in ("valid", "rejected")
    assert cal["valid_from"] < cal["transit_time"] < cal["valid_to"]
    kinds = [t["kind"] for t in cal["tables"]]
    assert "B" in kinds
    assert [t["index"] for t in cal["tables"]] == list(range(len(kinds)))
    assert cal["source_ms"].endswith(".ms")
    assert client.get("/api/v1/caltables", params={"status": "nope"}).json() == []


def test_table_plots_are_pngs_of_the_solutions(client, science: Science) -> None:
    calibrated = science.set_id
    cal = client.get(f"/api/v1/caltables/{calibrated}").json()
    for t in cal["tables"]:
        resp = client.get(f"/api/v1/caltables/{calibrated}/tables/{t['index']}/plot.png")
        assert resp.status_code == 200, (t, resp.text[:200])
        assert resp.headers["content-type"] == "image/png"
        img = np.asarray(Image.open(io.BytesIO(resp.content)).convert("L"))
        assert img.shape[0] > 300
        assert img.std() > 5  # something was drawn, not a blank canvas
    n = len(cal["tables"])
    assert client.get(f"/api/v1/caltables/{calibrated}/tables/{n}/plot.png").status_code == 404


def test_calibration_page_shows_windows_and_plots(client, science: Science) -> None:
    calibrated = science.set_id
    html = client.get("/calibration").text
    assert calibrated in html
    assert 'class="chart gantt"' in html  # validity windows on a time axis
    assert f"/api/v1/caltables/{calibrated.replace('+', '%2B')}/tables/0/plot.png" in html
