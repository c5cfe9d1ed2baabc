"""Prometheus metrics of the engine, on a registry of their own.

The API exposes :data:`REGISTRY` at ``/metrics``
(``prometheus_client.generate_latest(REGISTRY)``); keeping it separate from the
global default registry keeps process/platform collectors and other libraries'
metrics out, and lets tests read values without interference.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "REGISTRY",
    "RUNS_ACTIVE",
    "RUNS_TOTAL",
    "STAGE_ATTEMPTS_TOTAL",
    "STAGE_DURATION_SECONDS",
]

REGISTRY = CollectorRegistry(auto_describe=True)

#: Wall-clock duration of stage attempts, by how they ended.
STAGE_DURATION_SECONDS = Histogram(
    "contimg_stage_duration_seconds",
    "Duration of stage attempts.",
    labelnames=("workflow", "stage", "status"),
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)

#: Stage attempts by how they ended (completed, failed, timed_out, crashed, skipped).
STAGE_ATTEMPTS_TOTAL = Counter(
    "contimg_stage_attempts_total",
    "Stage attempts and skips, by final status.",
    labelnames=("workflow", "status"),
    registry=REGISTRY,
)

#: Finished runs by status.
RUNS_TOTAL = Counter(
    "contimg_runs_total",
    "Workflow runs finished, by status.",
    labelnames=("workflow", "status"),
    registry=REGISTRY,
)

#: Runs executing right now.
RUNS_ACTIVE = Gauge(
    "contimg_runs_active",
    "Workflow runs currently executing.",
    labelnames=("workflow",),
    registry=REGISTRY,
)
