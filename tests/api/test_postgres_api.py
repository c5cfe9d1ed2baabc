"""The API's own queries (counts, histograms, latency, queue) on PostgreSQL, after real runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._postgres import PostgresServer, postgres_server
from tests.api.conftest import API_KEY, TestClient, settings_for, wait_finished

from contimg.api import create_app
from contimg.config.settings import DatabaseSettings
from contimg.observability import reset_logging
from contimg.pipeline import Runner
from contimg.state import open_repository
from contimg.workflows import get_workflow

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def test_api_over_postgres(pg: PostgresServer, tmp_path: Path) -> None:
    base = settings_for(tmp_path / "work")
    settings = base.model_copy(update={"database": DatabaseSettings(url=pg.create_database())})
    with (
        open_repository(settings.database_url) as repo,
        Runner(repo, settings, log_to_db=False) as runner,
    ):
        wf = get_workflow("engine-demo", settings)
        assert runner.run(wf, {"seed": 1, "count": 50}).ok
        assert not runner.run(wf, {"seed": 2, "count": 0}).ok
    try:
        with (
            TestClient(create_app(settings)) as client,
            open_repository(settings.database_url) as repo,
        ):
            runs = client.get("/api/v1/runs").json()["items"]
            assert sorted(r["status"] for r in runs) == ["completed", "failed"]
            assert client.get("/api/v1/runs", params={"status": "failed"}).json()["items"][0][
                "inputs"
            ] == {"seed": 2, "count": 0}
            health = client.get("/api/v1/health").json()
            assert health["database_ok"] is True
            assert health["queue_depth"] == 0
            text = client.get("/metrics").text
            assert 'contimg_runs{status="failed"} 1.0' in text
            assert (
                'contimg_recorded_stage_duration_seconds_count{stage="samples",'
                'status="completed",workflow="engine-demo"} 2.0'
            ) in text
            assert "<h1>Overview</h1>" in client.get("/").text
            resp = client.post(
                "/api/v1/runs",
                json={"workflow": "engine-demo", "inputs": {"seed": 3, "count": 5}},
                headers={"X-API-Key": API_KEY},
            )
            assert resp.status_code == 202
            assert wait_finished(repo, resp.json()["run_id"]).status.value == "completed"
    finally:
        reset_logging()
