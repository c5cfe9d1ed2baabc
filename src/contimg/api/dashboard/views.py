"""Dashboard pages and the HTML fragments they poll for live refresh.

Pages are Jinja2 templates rendered on the server; ``static/live.js`` re-fetches
every element marked ``data-live`` (a fragment URL) every few seconds. Nothing
here is in the OpenAPI schema: the REST API under ``/api/v1`` is the interface
for programs, these pages are for people.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from contimg.api import _images, _queries
from contimg.api._context import ApiContext, Ctx
from contimg.api.dashboard import svg
from contimg.api.routers._common import Id
from contimg.api.routers.health import health_of
from contimg.api.routers.runs import stage_summaries
from contimg.state import RunStatus

__all__ = ["mount", "router"]

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

LOG_TAIL = 300
_GROUP_CSS = {
    "converted": "st-completed",
    "failed": "st-failed",
    "converting": "st-running",
    "complete": "st-pending",
    "collecting": "st-pending",
    "incomplete": "st-skipped",
}


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    s = (datetime.now(UTC) - when).total_seconds()
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 172800:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} d ago"


templates.env.filters["bytes"] = _fmt_bytes
templates.env.filters["duration"] = _fmt_duration
templates.env.filters["ago"] = _ago
templates.env.filters["utc"] = lambda d: "" if d is None else d.strftime("%Y-%m-%d %H:%M:%S")


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context)


def _group_of(inputs: Any) -> str | None:
    for key in ("group", "group_id"):
        value = inputs.get(key) if hasattr(inputs, "get") else None
        if isinstance(value, str):
            return value
    return None


def _overview(ctx: ApiContext) -> dict[str, Any]:
    repo = ctx.repository
    all_counts = _queries.count_runs_by_status(repo)
    # Throughput: the 24 hours up to the newest run (so a past night still shows).
    newest = repo.list_runs(limit=1)
    recent = []
    hours: list[datetime] = []
    done: list[int] = []
    failed: list[int] = []
    latency: list[float | None] = []
    if newest and newest[0].created_at is not None:
        last = newest[0].created_at.replace(minute=0, second=0, microsecond=0)
        hours = [last - timedelta(hours=23 - i) for i in range(24)]
        recent = repo.list_runs(since=hours[0], limit=10_000)
        per: dict[datetime, list[Any]] = {h: [] for h in hours}
        for r in recent:
            if r.ended_at is None or not r.status.finished:
                continue
            h = r.ended_at.replace(minute=0, second=0, microsecond=0)
            if h in per:
                per[h].append(r)
        for h in hours:
            runs = per[h]
            done.append(sum(r.status is RunStatus.COMPLETED for r in runs))
            failed.append(sum(r.status is not RunStatus.COMPLETED for r in runs))
            times = [
                (r.ended_at - r.started_at).total_seconds()
                for r in runs
                if r.started_at and r.status is RunStatus.COMPLETED
            ]
            latency.append(statistics.median(times) if times else None)
    # Recent groups, coloured by their newest run's status (else their own state).
    run_by_group: dict[str, Any] = {}
    for r in recent:  # newest first: keep the first seen
        gid = _group_of(r.inputs)
        if gid is not None and gid not in run_by_group:
            run_by_group[gid] = r
    cells = []
    for g in _queries.recent_groups(repo, 96):
        run = run_by_group.get(g.group_id)
        css = f"st-{run.status.value}" if run else _GROUP_CSS.get(g.state, "st-pending")
        title = f"{g.group_id}: {g.state}, {g.n_subbands}/{g.n_expected} subbands"
        if run:
            title += f"; run {run.id} {run.status.value}"
        cells.append(svg.TimelineCell(g.group_id, css, title, f"/runs/{run.id}" if run else None))
    images = [
        _images.image_out(r)
        for r in _images.list_images(repo, limit=8)
        if r.png_path and Path(r.png_path).is_file()
    ]
    finished = [r for r in recent if r.status.finished and r.started_at and r.ended_at]
    completed_s = [
        (r.ended_at - r.started_at).total_seconds()
        for r in finished
        if r.status is RunStatus.COMPLETED
    ]
    return {
        "health": health_of(ctx),
        "counts": {s.value: all_counts.get(s.value, 0) for s in RunStatus},
        "runs": recent[:15] if len(recent) >= 15 else repo.list_runs(limit=15),
        "timeline": svg.group_timeline(cells),
        "n_groups": len(cells),
        "throughput": svg.throughput(hours, done, failed, latency),
        "last_24h": sum(done) + sum(failed),
        "last_24h_failed": sum(failed),
        "median_run_s": statistics.median(completed_s) if completed_s else None,
        "group_latency_s": statistics.median(lat)
        if (lat := _queries.group_latencies(repo))
        else None,
        "images": images,
        "mosaics": ctx.repository.mosaics.list(limit=4),
    }


@router.get("/")
def overview(request: Request, ctx: Ctx) -> HTMLResponse:
    """Show the night at a glance."""
    return _render(request, "overview.html", page="overview", **_overview(ctx))


@router.get("/fragments/overview")
def overview_fragment(request: Request, ctx: Ctx) -> HTMLResponse:
    """Render the overview's live part."""
    return _render(request, "_overview_body.html", **_overview(ctx))


@router.get("/runs")
def runs_page(
    request: Request,
    ctx: Ctx,
    status: str = Query("", max_length=16),
    workflow: str = Query("", max_length=200),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> HTMLResponse:
    """Run history with status and workflow filters (an empty filter means any)."""
    if status and status not in {s.value for s in RunStatus}:
        raise HTTPException(422, f"status: {status!r} is not a run status")
    found = ctx.repository.list_runs(
        status=RunStatus(status) if status else None,
        workflow=workflow or None,
        limit=51,
        offset=offset,
    )
    return _render(
        request,
        "runs.html",
        page="runs",
        runs=found[:50],
        has_more=len(found) > 50,
        status=status,
        workflow=workflow,
        offset=offset,
        statuses=[s.value for s in RunStatus],
    )


def _run_context(ctx: ApiContext, run_id: int) -> dict[str, Any]:
    run = ctx.repository.get_run(run_id)
    if run is None:
        raise HTTPException(404, f"run {run_id} does not exist")
    attempts = ctx.repository.list_attempts(run_id)
    now = datetime.now(UTC)
    bars = []
    for a in attempts:
        if a.started_at is None:
            continue
        end = a.ended_at or now
        what = f"attempt {a.attempt}" if a.attempt else f"skipped: {a.skip_reason}"
        bars.append(
            svg.Bar(
                a.stage,
                a.started_at,
                end,
                f"st-{a.status.value}",
                f"{a.stage} {what}: {a.status.value}, "
                f"{_fmt_duration((end - a.started_at).total_seconds())}",
            )
        )
    errors = [a for a in attempts if a.error_type or a.traceback]
    return {
        "run": run,
        "attempts": attempts,
        "stages": stage_summaries(attempts),
        "gantt": svg.gantt(bars),
        "errors": errors,
        "live": not run.status.finished,
    }


@router.get("/runs/{run_id}")
def run_page(request: Request, ctx: Ctx, run_id: Id) -> HTMLResponse:
    """One run: stage timeline with attempts, errors with tracebacks, live logs."""
    context = _run_context(ctx, run_id)
    stages = sorted({a.stage for a in context["attempts"]})
    return _render(request, "run.html", page="runs", stage_names=stages, **context)


@router.get("/runs/{run_id}/fragments/stages")
def run_stages_fragment(request: Request, ctx: Ctx, run_id: Id) -> HTMLResponse:
    """Render the run page's timeline and stage table (polled while the run is live)."""
    return _render(request, "_run_stages.html", **_run_context(ctx, run_id))


@router.get("/runs/{run_id}/fragments/logs")
def run_logs_fragment(
    request: Request,
    ctx: Ctx,
    run_id: Id,
    level: str | None = Query(None, max_length=16),
    stage: str | None = Query(None, max_length=200),
) -> HTMLResponse:
    """Render the newest log records of a run (the live tail)."""
    run = ctx.repository.get_run(run_id)
    if run is None:
        raise HTTPException(404, f"run {run_id} does not exist")
    level = level.lower() if level else None
    stage = stage or None
    # The store lists oldest first: page to the end for the tail.
    logs: list[Any] = []
    offset = 0
    while True:
        page = ctx.repository.list_logs(run_id, level=level, stage=stage, limit=1000, offset=offset)
        logs = (logs + page)[-LOG_TAIL:]
        if len(page) < 1000:
            break
        offset += 1000
    return _render(request, "_logs.html", logs=logs, final=run.status.finished)


@router.get("/images")
def images_page(
    request: Request,
    ctx: Ctx,
    offset: int = Query(0, ge=0, le=100_000),
    verdict: str | None = Query(None, max_length=16),
) -> HTMLResponse:
    """Thumbnail grid of registered images with their QA verdicts."""
    verdict = verdict or None
    found = _images.list_images(ctx.repository, limit=61, offset=offset, verdict=verdict)
    images = [
        (_images.image_out(r), bool(r.png_path) and Path(r.png_path or "").is_file())
        for r in found[:60]
    ]
    mosaics = ctx.repository.mosaics.list(limit=12)
    return _render(
        request,
        "images.html",
        page="images",
        images=images,
        has_more=len(found) > 60,
        offset=offset,
        mosaics=mosaics,
        verdict=verdict,
        exists=lambda p: bool(p) and Path(p).is_file(),
    )


@router.get("/images/{image_id}")
def image_page(request: Request, ctx: Ctx, image_id: Id) -> HTMLResponse:
    """One image: quicklook, QA figures and cross-match results."""
    rec = ctx.repository.images.get(image_id)
    if rec is None:
        raise HTTPException(404, f"image {image_id} does not exist")
    group_runs = ctx.repository.service.runs_for_group(rec.group_id) if rec.group_id else []
    return _render(
        request,
        "image.html",
        page="images",
        image=_images.image_out(rec),
        has_png=bool(rec.png_path) and Path(rec.png_path or "").is_file(),
        sources=ctx.repository.images.sources(image_id)[:50],
        group_runs=group_runs,
    )


@router.get("/calibration")
def calibration_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """Calibration sets, their validity windows, and plots of their tables."""
    sets = ctx.repository.calibration.list_sets(limit=200)
    bars = [
        svg.Bar(
            f"{s.calibrator} {s.transit_time:%m-%d %H:%M}",
            s.valid_from,
            s.valid_to,
            "st-completed" if s.status == "valid" else "st-failed",
            f"{s.set_id} ({s.calibrator}, {s.status}): {s.valid_from:%H:%M} to "
            f"{s.valid_to:%H:%M} UTC, transit {s.transit_time:%H:%M}",
        )
        for s in reversed(sets[:40])
    ]
    return _render(
        request,
        "calibration.html",
        page="calibration",
        sets=sets,
        windows=svg.validity_windows(bars),
        on_disk=lambda p: Path(p).exists(),
    )


@router.get("/sources")
def sources_page(
    request: Request, ctx: Ctx, candidates: bool = False, offset: int = Query(0, ge=0)
) -> HTMLResponse:
    """List monitored sources and their variability metrics."""
    found = ctx.repository.sources.list(candidates_only=candidates, limit=101, offset=offset)
    return _render(
        request,
        "sources.html",
        page="sources",
        sources=found[:100],
        has_more=len(found) > 100,
        offset=offset,
        candidates=candidates,
    )


@router.get("/sources/{source_id}")
def source_page(request: Request, ctx: Ctx, source_id: Id) -> HTMLResponse:
    """One source: light-curve plot and measurements."""
    src = ctx.repository.sources.get(source_id)
    if src is None:
        raise HTTPException(404, f"source {source_id} does not exist")
    return _render(
        request,
        "source.html",
        page="sources",
        source=src,
        points=ctx.repository.sources.lightcurve(source_id),
    )


@router.get("/api")
def api_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """List the REST operations (from the OpenAPI schema), without any CDN asset."""
    schema = request.app.openapi()
    operations = [
        (method.upper(), path, op.get("summary", ""))
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    ]
    return _render(
        request,
        "api.html",
        page="api",
        operations=operations,
        version=schema["info"]["version"],
        write_enabled=bool(ctx.settings.api.api_key_sha256),
    )


def mount(app: FastAPI) -> None:
    """Add the dashboard pages and their static files to ``app``."""
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.include_router(router)
