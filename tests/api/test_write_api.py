"""Write endpoints: the API key gate, overrides validated by the config models, real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.api.conftest import API_KEY, Filled, TestClient, settings_for, wait_finished

from contimg.api import create_app
from contimg.api.security import is_loopback, verify_key

DEMO = {"workflow": "engine-demo", "inputs": {"seed": 11, "count": 30}}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"X-API-Key": API_KEY + "x"}, 401),
        ({"Authorization": "Bearer nope"}, 401),
    ],
)
def test_write_refuses_missing_or_wrong_key(client, repo, headers, code) -> None:
    before = len(repo.list_runs(limit=1000))
    resp = client.post("/api/v1/runs", json=DEMO, headers=headers)
    assert resp.status_code == code
    assert "key" in resp.json()["detail"]
    retry = client.post("/api/v1/runs/1/retry", headers=headers)
    assert retry.status_code == code
    assert len(repo.list_runs(limit=1000)) == before


def test_write_disabled_without_configured_key(filled: Filled, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work", key=None)
    with TestClient(create_app(settings)) as c:
        resp = c.post("/api/v1/runs", json=DEMO, headers={"X-API-Key": API_KEY})
        assert resp.status_code == 503
        assert "disabled" in resp.json()["detail"]
        assert c.get("/api/v1/health").json()["write_enabled"] is False


def test_submit_runs_the_workflow_in_the_background(client, repo) -> None:
    resp = client.post("/api/v1/runs", json=DEMO, headers={"X-API-Key": API_KEY})
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    assert resp.json()["url"] == f"/api/v1/runs/{run_id}"
    run = wait_finished(repo, run_id)
    assert run.status.value == "completed"
    assert run.trigger == "api"
    assert run.inputs == {"seed": 11, "count": 30}
    assert run.outputs["summary"]["n"] == 30
    # The bearer form works too.
    bearer = client.post(
        "/api/v1/runs",
        json={**DEMO, "inputs": {"seed": 12, "count": 5}},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert bearer.status_code == 202
    assert wait_finished(repo, bearer.json()["run_id"]).status.value == "completed"


def test_overrides_are_validated_by_the_config_models(client, repo) -> None:
    key = {"X-API-Key": API_KEY}
    bad = client.post(
        "/api/v1/runs", json={**DEMO, "overrides": {"imaging.niter": -3}}, headers=key
    )
    assert bad.status_code == 422
    assert "imaging.niter" in bad.json()["detail"]
    unknown = client.post(
        "/api/v1/runs", json={**DEMO, "overrides": {"imaging.nitre": 3}}, headers=key
    )
    assert unknown.status_code == 422
    assert "imaging.nitre" in unknown.json()["detail"]
    api = client.post(
        "/api/v1/runs", json={**DEMO, "overrides": {"api.api_key_sha256": "0"}}, headers=key
    )
    assert api.status_code == 422
    good = client.post(
        "/api/v1/runs",
        json={**DEMO, "inputs": {"seed": 3, "count": 4}, "overrides": {"executor.max_parallel": 1}},
        headers=key,
    )
    assert good.status_code == 202, good.text
    assert wait_finished(repo, good.json()["run_id"]).status.value == "completed"


def test_bad_workflow_or_inputs_are_422(client) -> None:
    key = {"X-API-Key": API_KEY}
    resp = client.post("/api/v1/runs", json={"workflow": "nope"}, headers=key)
    assert resp.status_code == 422
    assert "engine-demo" in resp.json()["detail"]
    missing = client.post(
        "/api/v1/runs", json={"workflow": "engine-demo", "inputs": {"seed": 1}}, headers=key
    )
    assert missing.status_code == 422
    assert "count" in missing.json()["detail"]
    group = client.post("/api/v1/runs", json={"workflow": "engine-demo", "group": "x"}, headers=key)
    assert group.status_code == 422
    assert "group" in group.json()["detail"]


def test_retry_makes_a_new_run_from_the_same_inputs(client, repo, filled: Filled) -> None:
    resp = client.post(f"/api/v1/runs/{filled.failed_run}/retry", headers={"X-API-Key": API_KEY})
    assert resp.status_code == 202, resp.text
    new = wait_finished(repo, resp.json()["run_id"])
    assert new.resumed_from == filled.failed_run
    assert new.trigger == "retry"
    assert new.inputs == {"seed": 8, "count": 0}
    assert new.status.value == "failed"  # same inputs, same division by zero
    assert (
        client.post("/api/v1/runs/999999/retry", headers={"X-API-Key": API_KEY}).status_code == 404
    )


def test_cors_closed_by_default_and_open_only_to_configured_origins(client, tmp_path: Path) -> None:
    origin = {"Origin": "http://evil.example"}
    assert "access-control-allow-origin" not in client.get("/api/v1/runs", headers=origin).headers
    settings = settings_for(tmp_path / "w", cors_origins=("http://ops.example",))
    with TestClient(create_app(settings)) as c:
        ok = c.get("/api/v1/runs", headers={"Origin": "http://ops.example"})
        assert ok.headers["access-control-allow-origin"] == "http://ops.example"
        assert "access-control-allow-origin" not in c.get("/api/v1/runs", headers=origin).headers


def test_key_helpers() -> None:
    from contimg.api import hash_key

    digest = hash_key("s3cret")
    assert verify_key("s3cret", digest)
    assert verify_key("s3cret", digest.upper())
    assert not verify_key("s3cre", digest)
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.0.2.7")


def test_group_and_ms_map_to_the_science_workflows_inputs(client, repo) -> None:
    key = {"X-API-Key": API_KEY}
    resp = client.post(
        "/api/v1/runs", json={"workflow": "quicklook", "group": "1999-01-01T00:00:00"}, headers=key
    )
    assert resp.status_code == 202, resp.text
    run = wait_finished(repo, resp.json()["run_id"])
    assert run.inputs == {"group_id": "1999-01-01T00:00:00"}
    assert run.status.value == "failed"  # nothing is indexed under that group
    first = repo.list_attempts(run.id)[0]
    assert first.stage == "group_files"
    assert "not indexed" in (first.error_message or "")
    ms = client.post(
        "/api/v1/runs",
        json={
            "workflow": "reprocessing",
            "ms": "/nonexistent.ms",
            "overrides": {"executor.kind": "inline"},
        },
        headers=key,
    )
    assert ms.status_code == 202, ms.text
    assert wait_finished(repo, ms.json()["run_id"]).inputs == {"ms": "/nonexistent.ms"}
    both = client.post("/api/v1/runs", json={"workflow": "quicklook", "ms": "/x.ms"}, headers=key)
    assert both.status_code == 422
    assert "ms" in both.json()["detail"]
