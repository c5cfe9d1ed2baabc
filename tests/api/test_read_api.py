"""Read endpoints over a database filled by real runs of the engine-demo workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import Filled


def test_runs_list_filters_and_pages(client, filled: Filled) -> None:
    body = client.get("/api/v1/runs").json()
    ids = [r["id"] for r in body["items"]]
    assert filled.ok_run in ids
    assert filled.failed_run in ids
    statuses = {r["id"]: r["status"] for r in body["items"]}
    assert statuses[filled.ok_run] == "completed"
    assert statuses[filled.failed_run] == "failed"

    failed = client.get("/api/v1/runs", params={"status": "failed"}).json()["items"]
    assert filled.failed_run in [r["id"] for r in failed]
    assert all(r["status"] == "failed" for r in failed)
    assert client.get("/api/v1/runs", params={"workflow": "nope"}).json()["items"] == []

    first = client.get("/api/v1/runs", params={"limit": 1}).json()
    assert len(first["items"]) == 1
    assert first["has_more"] is True
    second = client.get("/api/v1/runs", params={"limit": 1, "offset": 1}).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/api/v1/runs", params={"since": future}).json()["items"] == []
    assert len(client.get("/api/v1/runs", params={"until": future}).json()["items"]) >= 2
    assert client.get("/api/v1/runs", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/v1/runs", params={"since": "2026-01-01T00:00:00"}).status_code == 422


def test_run_detail_has_attempts_and_timings(client, filled: Filled) -> None:
    body = client.get(f"/api/v1/runs/{filled.ok_run}").json()
    assert body["run"]["status"] == "completed"
    assert body["run"]["inputs"] == {"seed": 7, "count": 400}
    assert body["run"]["duration_s"] > 0
    assert body["stages"][0]["stage"] == "samples"
    assert {s["stage"] for s in body["stages"]} == {"samples", "summary", "histogram", "report"}
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in body["stages"])
    for a in body["attempts"]:
        assert a["duration_s"] is not None
        assert a["duration_s"] >= 0
        assert a["started_at"] <= a["ended_at"]
    assert body["run"]["outputs"]["summary"]["n"] == 400


def test_failed_run_carries_the_traceback(client, filled: Filled) -> None:
    body = client.get(f"/api/v1/runs/{filled.failed_run}").json()
    assert body["run"]["status"] == "failed"
    summary = next(a for a in body["attempts"] if a["stage"] == "summary")
    assert summary["status"] == "failed"
    assert summary["error_type"].endswith("ZeroDivisionError")
    assert "ZeroDivisionError" in summary["traceback"]
    assert "engine_demo.py" in summary["traceback"]
    report = next(s for s in body["stages"] if s["stage"] == "report")
    assert report["status"] == "skipped"
    assert client.get("/api/v1/runs/999999").status_code == 404


def test_logs_filter_by_level_and_stage_and_page(client, filled: Filled) -> None:
    url = f"/api/v1/runs/{filled.failed_run}/logs"
    every = client.get(url, params={"limit": 1000}).json()["items"]
    events = [r["event"] for r in every]
    assert "run.started" in events
    assert "run.failed" in events
    errors = client.get(url, params={"level": "error"}).json()["items"]
    assert errors
    assert all(r["level"] == "error" for r in errors)
    assert "run.failed" in [r["event"] for r in errors]
    assert client.get(url, params={"level": "ERROR"}).json()["items"] == errors
    summary = client.get(url, params={"stage": "summary"}).json()["items"]
    assert summary
    assert all(r["stage"] == "summary" for r in summary)
    page = client.get(url, params={"limit": 2, "offset": 1}).json()
    assert [r["id"] for r in page["items"]] == [r["id"] for r in every[1:3]]
    assert page["has_more"] is True
    assert client.get("/api/v1/runs/999999/logs").status_code == 404


def test_product_lists_answer_with_pages(client) -> None:
    for url in ("/api/v1/groups", "/api/v1/ms", "/api/v1/images", "/api/v1/sources"):
        body = client.get(url).json()
        assert set(body) == {"items", "limit", "offset", "has_more"}, url
    assert isinstance(client.get("/api/v1/caltables").json(), list)
    assert isinstance(client.get("/api/v1/mosaics").json(), list)
    for url in (
        "/api/v1/images/424242",
        "/api/v1/images/424242/fits",
        "/api/v1/images/424242/png",
        "/api/v1/sources/424242/lightcurve",
        "/api/v1/caltables/none",
        "/api/v1/groups/2001-01-01T00:00:00",
        "/api/v1/mosaics/424242/png",
    ):
        assert client.get(url).status_code == 404, url


def test_health(client, filled: Filled) -> None:
    body = client.get("/api/v1/health").json()
    assert body["database_ok"] is True
    assert body["workdir"] == str(filled.settings.paths.workdir.absolute())
    assert body["disk_free_bytes"] > 0
    assert body["queue_depth"] >= 0
    assert body["write_enabled"] is True
    assert body["watcher_heartbeat"] is None


def test_metrics_expose_engine_and_database_figures(client, filled: Filled) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    # Engine registry (this process ran the fixture's runs).
    assert 'contimg_runs_total{status="completed",workflow="engine-demo"}' in text
    assert "contimg_stage_duration_seconds_bucket" in text
    # Database collector.
    runs = {
        line.split("}")[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("contimg_runs{")
    }
    assert runs['contimg_runs{status="completed"'] >= 1
    assert runs['contimg_runs{status="failed"'] >= 1
    assert "contimg_groups_waiting " in text
    assert "contimg_last_image_age_seconds " in text
    count_line = next(
        line
        for line in text.splitlines()
        if line.startswith(
            'contimg_recorded_stage_duration_seconds_count{stage="samples",status="completed"'
        )
    )
    assert float(count_line.split()[-1]) >= 1


def test_openapi_lists_every_endpoint_with_response_models(client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/logs",
        "/api/v1/runs/{run_id}/retry",
        "/api/v1/groups",
        "/api/v1/ms",
        "/api/v1/caltables",
        "/api/v1/images",
        "/api/v1/images/{image_id}/fits",
        "/api/v1/sources",
        "/api/v1/sources/{source_id}/lightcurve",
        "/api/v1/health",
        "/metrics",
    ):
        assert path in paths, path
    for path, ops in paths.items():
        for method, op in ops.items():
            if (
                method == "get"
                and path.startswith("/api/v1")
                and not path.endswith(("/fits", "/png", ".png", ".fits"))
            ):
                ok = op["responses"]["200"]["content"]["application/json"]["schema"]
                assert ok, (path, method)
    assert "RunDetailOut" in schema["components"]["schemas"]
    assert not any(p.startswith(("/runs", "/fragments")) for p in paths)  # dashboard hidden


def test_groups_indexed_from_the_simulated_files(client, filled: Filled) -> None:
    groups = client.get("/api/v1/groups").json()["items"]
    assert [g["group_id"] for g in groups] == list(filled.group_ids)
    for g in groups:
        assert g["n_subbands"] == g["n_expected"] == 16
        assert g["has_sb00"] is True
        assert abs(g["dec_deg"] - 54.57) < 0.5
    one = client.get(f"/api/v1/groups/{filled.group_ids[0]}").json()
    assert one["group_id"] == filled.group_ids[0]
    page = client.get("/api/v1/groups", params={"limit": 1}).json()
    assert page["has_more"] is True
    assert client.get("/api/v1/groups", params={"state": "bogus"}).status_code == 422
