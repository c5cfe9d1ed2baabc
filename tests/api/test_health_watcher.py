"""Health and metrics see a real `contimg watch`: its heartbeat while it runs, none after."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.api.conftest import TestClient, settings_for

from contimg.api import create_app


def _metric(text: str, name: str) -> float:
    return float(
        next(line.split()[-1] for line in text.splitlines() if line.startswith(f"{name} "))
    )


def test_watcher_heartbeat_appears_and_goes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    settings.paths.ensure()
    with TestClient(create_app(settings)) as client:
        before = client.get("/api/v1/health").json()
        assert before["watcher_heartbeat"] is None
        assert before["watchers_live"] == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "contimg",
                "watch",
                "--workdir",
                str(settings.paths.workdir),
                "--no-display",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                health = client.get("/api/v1/health").json()
                if health["watchers_live"] == 1 and health["watcher_heartbeat"]:
                    break
                assert proc.poll() is None, "contimg watch exited early"
                assert time.monotonic() < deadline, health
                time.sleep(0.2)
            age = _metric(client.get("/metrics").text, "contimg_watcher_heartbeat_age_seconds")
            assert 0 <= age < 60
            assert health["queue_depth"] == 0
            assert health["queue"]["ready"] == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        after = client.get("/api/v1/health").json()
        assert after["watchers_live"] == 0
        assert after["watcher_heartbeat"] is None
        gone = _metric(client.get("/metrics").text, "contimg_watcher_heartbeat_age_seconds")
        assert math.isnan(gone)
