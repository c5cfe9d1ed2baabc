"""``/metrics``: Prometheus text format.

Two registries are exposed one after the other: the engine's own
(:data:`contimg.observability.metrics.REGISTRY`: what runs in this process
did) and a collector that reads the database on every scrape, so the figures
cover every process writing to it (``contimg watch`` workers included): runs
by status, groups waiting, age of the newest image, and a histogram of every
recorded stage duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from contimg.api import _queries
from contimg.observability import metrics as engine_metrics
from contimg.state import RunStatus, SqlStateRepository

__all__ = ["DatabaseCollector", "database_registry", "router"]

router = APIRouter(tags=["metrics"])

#: Same bounds as the engine's stage histogram, so the two read alike.
_BOUNDS = (0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class DatabaseCollector(Collector):
    """Prometheus collector computing pipeline figures from the state store at scrape time."""

    def __init__(self, repository: SqlStateRepository) -> None:
        self.repository = repository

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges and the recorded stage-duration histogram."""
        counts = _queries.count_runs_by_status(self.repository)
        runs = GaugeMetricFamily(
            "contimg_runs", "Runs recorded in the database, by status.", labels=["status"]
        )
        for status in RunStatus:
            runs.add_metric([status.value], counts.get(status.value, 0))
        yield runs
        yield GaugeMetricFamily(
            "contimg_groups_waiting",
            "Complete subband groups waiting to be processed.",
            value=_queries.count_groups_waiting(self.repository),
        )
        summary = self.repository.service.queue_summary()
        queue = GaugeMetricFamily(
            "contimg_service_groups",
            "Groups planned by the streaming service, by state.",
            labels=["state"],
        )
        for state, n in vars(summary).items():
            queue.add_metric([state], n)
        yield queue
        heartbeat = self.repository.service.last_heartbeat()
        beat = GaugeMetricFamily(
            "contimg_watcher_heartbeat_age_seconds",
            "Seconds since a live `contimg watch` last beat (NaN: none).",
        )
        beat.add_metric(
            [], (datetime.now(UTC) - heartbeat).total_seconds() if heartbeat else float("nan")
        )
        yield beat
        last = _queries.last_product_time(self.repository, "images")
        age = GaugeMetricFamily(
            "contimg_last_image_age_seconds",
            "Seconds since the newest image was registered (NaN: none).",
        )
        age.add_metric([], (datetime.now(UTC) - last).total_seconds() if last else float("nan"))
        yield age
        hist = HistogramMetricFamily(
            "contimg_recorded_stage_duration_seconds",
            "Durations of every stage attempt recorded in the database.",
            labels=["workflow", "stage", "status"],
        )
        for h in _queries.stage_duration_buckets(self.repository, _BOUNDS):
            buckets = [(str(float(b)), n) for b, n in zip(_BOUNDS, h.buckets, strict=True)]
            buckets.append(("+Inf", h.count))
            hist.add_metric([h.workflow, h.stage, h.status], buckets, h.total_s)
        yield hist


def database_registry(repository: SqlStateRepository) -> CollectorRegistry:
    """Return a registry holding one :class:`DatabaseCollector` on ``repository``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(repository))
    return registry


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {}},
            "description": "Prometheus text exposition format.",
        }
    },
)
def metrics(request: Request) -> Response:
    """Engine metrics of this process plus pipeline figures read from the database."""
    body = generate_latest(engine_metrics.REGISTRY) + generate_latest(request.app.state.db_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
