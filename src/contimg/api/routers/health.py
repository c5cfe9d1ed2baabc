"""``/api/v1/health``: database reachable, disk free, watcher heartbeat, queue depth."""

from __future__ import annotations

import shutil

from fastapi import APIRouter

from contimg.api import _queries
from contimg.api._context import ApiContext, Ctx
from contimg.api.models import HealthOut, QueueOut

__all__ = ["health_of", "router"]

router = APIRouter(tags=["health"])

#: Below this much free space in the work directory the status is "degraded".
MIN_FREE_BYTES = 1 << 30


def health_of(ctx: ApiContext) -> HealthOut:
    """Gather the health figures (never raises for a database that is down)."""
    workdir = ctx.settings.paths.workdir.absolute()
    free = total = None
    probe = workdir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
        free, total = usage.free, usage.total
    except OSError:
        pass
    db_error = None
    queue = QueueOut()
    depth = active = watchers = 0
    heartbeat = None
    try:
        _queries.ping(ctx.repository)
        counts = _queries.count_runs_by_status(ctx.repository)
        active = counts.get("pending", 0) + counts.get("running", 0)
        service = ctx.repository.service
        heartbeat = service.last_heartbeat()
        watchers = len(service.workers(live_only=True))
        queue = QueueOut.model_validate(service.queue_summary())
        depth = _queries.queue_depth(ctx.repository)
    except Exception as exc:  # any driver error means "not reachable" here
        db_error = f"{type(exc).__name__}: {exc}"
    ok = db_error is None and (free is None or free >= MIN_FREE_BYTES)
    return HealthOut(
        status="ok" if ok else "degraded",
        database_ok=db_error is None,
        database_error=db_error,
        workdir=str(workdir),
        disk_free_bytes=free,
        disk_total_bytes=total,
        watcher_heartbeat=heartbeat,
        watchers_live=watchers,
        queue_depth=depth,
        queue=queue,
        runs_active=active,
        worker_busy=ctx.worker.busy,
        write_enabled=bool(ctx.settings.api.api_key_sha256),
    )


@router.get("/health", response_model=HealthOut)
def health(ctx: Ctx) -> HealthOut:
    """Whether the pipeline can work: database, disk space, watcher, queue."""
    return health_of(ctx)
