"""A run submitted through the API is visible while it runs, and the page stops polling after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.api.conftest import API_KEY, wait_finished

from contimg.pipeline import Stage, Workflow
from contimg.workflows import WORKFLOWS


def gate(flag: str) -> str:
    """Wait (bounded) until the test creates ``flag``."""
    deadline = time.monotonic() + 30
    while not Path(flag).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{flag} never appeared")
        time.sleep(0.02)
    return flag


def build(_settings) -> Workflow:
    return Workflow("api-gated", [Stage("gate", gate, produces="opened")], inputs={"flag": str})


def test_running_run_is_live_then_final(
    client, repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(WORKFLOWS, "api-gated", build)
    flag = tmp_path / "open"
    resp = client.post(
        "/api/v1/runs",
        json={"workflow": "api-gated", "inputs": {"flag": str(flag)}},
        headers={"X-API-Key": API_KEY},
    )
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    deadline = time.monotonic() + 20  # the request returned at creation: pending, then running
    while repo.get_run(run_id).status.value != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.get("/api/v1/health").json()["worker_busy"] is True
    page = client.get(f"/runs/{run_id}").text
    assert f'data-live="/runs/{run_id}/fragments/stages"' in page
    fragment = client.get(f"/runs/{run_id}/fragments/stages").text
    assert "badge st-running" in fragment
    assert "data-final" not in fragment
    running = client.get("/api/v1/runs", params={"status": "running"}).json()["items"]
    assert run_id in [r["id"] for r in running]

    flag.touch()
    assert wait_finished(repo, run_id).status.value == "completed"
    fragment = client.get(f"/runs/{run_id}/fragments/stages").text
    assert "data-final" in fragment
    assert "data-live" not in client.get(f"/runs/{run_id}").text.split('id="logs"')[0]
    logs = client.get(f"/runs/{run_id}/fragments/logs").text
    assert "run.completed" in logs or "No log records" in logs
