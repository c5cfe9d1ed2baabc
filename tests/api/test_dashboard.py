"""Dashboard pages rendered over the real runs' database (HTML checked with the test client)."""

from __future__ import annotations

import re

from tests.api.conftest import Filled


def test_overview_shows_counts_timeline_and_recent_runs(client, filled: Filled) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.text
    assert "<h1>Overview</h1>" in html
    assert 'data-live="/fragments/overview"' in html
    assert f'href="/runs/{filled.ok_run}"' in html
    assert f'href="/runs/{filled.failed_run}"' in html
    assert re.search(r'badge st-failed">failed</span> <b>[1-9]', html)
    assert 'aria-label="throughput and latency"' in html  # runs finished: the chart is drawn
    assert "reachable" in html
    fragment = client.get("/fragments/overview").text
    assert "<html" not in fragment
    assert "Runs by status" in fragment


def test_run_page_has_gantt_errors_and_log_tail(client, filled: Filled) -> None:
    html = client.get(f"/runs/{filled.failed_run}").text
    assert f"Run #{filled.failed_run}" in html
    gantt = html[html.index('<svg class="chart gantt"') :]
    gantt = gantt[: gantt.index("</svg>")]
    # one bar per attempt or skip: samples, summary (failed), histogram, report (skipped)
    assert gantt.count('class="bar st-') == 4
    assert 'class="bar st-failed"' in gantt
    assert "summary attempt 1: failed" in gantt
    assert "ZeroDivisionError" in html
    assert 'class="traceback"' in html
    assert f'data-live="/runs/{filled.failed_run}/fragments/logs"' in html
    logs = client.get(f"/runs/{filled.failed_run}/fragments/logs").text
    assert "run.failed" in logs
    assert "data-final" in logs  # the run ended: the page stops polling
    errors_only = client.get(
        f"/runs/{filled.failed_run}/fragments/logs", params={"level": "error"}
    ).text
    assert "stage.started" not in errors_only
    assert "run.failed" in errors_only
    assert client.get("/runs/999999").status_code == 404


def test_other_pages_render(client) -> None:
    for url, text in (
        ("/runs", "<h1>Runs</h1>"),
        ("/runs?status=failed", "failed"),
        ("/runs?status=&workflow=", "engine-demo"),
        ("/runs?status=completed&workflow=engine-demo&offset=0", "engine-demo"),
        ("/images", "<h1>Images</h1>"),
        ("/calibration", "<h1>Calibration</h1>"),
        ("/sources", "<h1>Sources</h1>"),
        ("/static/live.js", "data-live"),
        ("/static/style.css", "--accent"),
        ("/api", 'href="/api/v1/health"'),
    ):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert text in resp.text, url
