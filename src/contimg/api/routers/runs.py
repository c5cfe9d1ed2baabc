"""``/api/v1/runs``: run history, one run with its attempts, its logs; submit and retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from contimg.api._context import ApiContext, Ctx
from contimg.api.models import (
    AttemptOut,
    LogOut,
    Page,
    RunDetailOut,
    RunOut,
    RunSubmission,
    StageSummaryOut,
    SubmittedRun,
    WorkflowOut,
)
from contimg.api.routers._common import Id, Limit, Offset
from contimg.api.security import require_write_key
from contimg.config import ConfigError, Settings, load_settings
from contimg.config.loader import effective_values
from contimg.pipeline import ContimgError
from contimg.state import RunStatus
from contimg.state.records import stage_summaries as summarize_stages
from contimg.workflows import WORKFLOWS, get_workflow

__all__ = ["router", "run_settings", "stage_summaries"]

router = APIRouter(tags=["runs"])

_WRITE = [Depends(require_write_key)]
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong API key."},
    503: {"description": "Write endpoints disabled: no API key configured."},
}


def stage_summaries(attempts: list[Any]) -> list[StageSummaryOut]:
    """One summary per stage (last attempt's status, real attempts, summed duration)."""
    return [StageSummaryOut(**row) for row in summarize_stages(attempts)]


def _run_or_404(ctx: ApiContext, run_id: int) -> Any:
    run = ctx.repository.get_run(run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {run_id} does not exist")
    return run


@router.get("/runs", response_model=Page[RunOut])
def list_runs(
    ctx: Ctx,
    status_: Annotated[
        RunStatus | None, Query(alias="status", description="Only runs in this status.")
    ] = None,
    workflow: Annotated[
        str | None, Query(max_length=200, description="Only runs of this workflow.")
    ] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[RunOut]:
    """List runs, newest first; filter by status, workflow and creation time."""
    since, until = _aware(since, "since"), _aware(until, "until")
    found = ctx.repository.list_runs(
        status=status_, workflow=workflow, since=since, until=until, limit=limit + 1, offset=offset
    )
    return Page[RunOut](
        items=[RunOut.from_record(r) for r in found[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(found) > limit,
    )


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name}: give a timezone (e.g. 2026-01-01T00:00:00Z)",
        )
    return value


@router.get("/runs/{run_id}", response_model=RunDetailOut, responses={404: {}})
def get_run(ctx: Ctx, run_id: Id) -> RunDetailOut:
    """One run with a summary per stage and every attempt (timings, errors, tracebacks)."""
    run = _run_or_404(ctx, run_id)
    attempts = ctx.repository.list_attempts(run_id)
    return RunDetailOut(
        run=RunOut.from_record(run),
        stages=stage_summaries(attempts),
        attempts=[AttemptOut.from_record(a) for a in attempts],
    )


@router.get("/runs/{run_id}/logs", response_model=Page[LogOut], responses={404: {}})
def get_logs(
    ctx: Ctx,
    run_id: Id,
    level: Annotated[
        str | None, Query(max_length=16, description="Only this level (info, warning, error...).")
    ] = None,
    stage: Annotated[str | None, Query(max_length=200, description="Only this stage.")] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> Page[LogOut]:
    """List a run's structured log records, oldest first; filter by level and stage."""
    _run_or_404(ctx, run_id)
    found = ctx.repository.list_logs(
        run_id, level=level.lower() if level else None, stage=stage, limit=limit + 1, offset=offset
    )
    return Page[LogOut](
        items=[LogOut.from_record(r) for r in found[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(found) > limit,
    )


@router.get("/workflows", response_model=list[WorkflowOut])
def list_workflows(ctx: Ctx) -> list[WorkflowOut]:
    """List the registered workflows and the inputs each takes."""
    out = []
    for name in sorted(WORKFLOWS):
        wf = get_workflow(name, ctx.settings)
        out.append(
            WorkflowOut(
                name=name,
                description=wf.description or "",
                inputs=sorted(wf.inputs),
                stages=[s.name for s in wf.stages],
            )
        )
    return out


def run_settings(ctx: ApiContext, overrides: dict[str, Any]) -> Settings:
    """Return the server's settings with a run's ``{'section.key': value}`` overrides applied.

    The server's effective values are passed as overrides first, then the
    request's, through :func:`contimg.config.load_settings`: the same models
    and messages as ``--set`` on the command line.

    Raises
    ------
    fastapi.HTTPException
        422 naming the key when an override is unknown or breaks a rule.
    """
    if not overrides:
        return ctx.settings
    for key in overrides:
        if key.startswith("api."):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{key}: the api section cannot be overridden per run",
            )
    base = {k: v for k, v in effective_values(ctx.settings).items() if v is not None}
    try:
        return load_settings(None, overrides={**base, **overrides}, environ={}).settings
    except ConfigError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _inputs(body: RunSubmission, declared: dict[str, Any]) -> dict[str, Any]:
    inputs = dict(body.inputs)
    for given, value in (("group", body.group), ("ms", body.ms)):
        if value is None:
            continue
        names = [n for n in declared if n == given or n.startswith(f"{given}_")]
        if len(names) != 1:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{given}: workflow {body.workflow!r} takes no {given} input "
                f"(its inputs: {', '.join(sorted(declared)) or 'none'})",
            )
        inputs[names[0]] = value
    return inputs


def _submit(ctx: ApiContext, workflow_name: str, settings: Settings, **kwargs: Any) -> SubmittedRun:
    try:
        workflow = get_workflow(workflow_name, settings)
        run_id = ctx.worker.submit(workflow, settings, **kwargs)
    except TimeoutError:
        return SubmittedRun(run_id=None, status="queued", url="/api/v1/runs?status=pending")
    except (ContimgError, ConfigError) as exc:
        code = getattr(exc, "exit_code", 2)
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT if code == 2 else status.HTTP_409_CONFLICT,
            str(exc),
        ) from None
    except (TypeError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"inputs: {exc}") from None
    return SubmittedRun(run_id=run_id, status="submitted", url=f"/api/v1/runs/{run_id}")


@router.post(
    "/runs",
    response_model=SubmittedRun,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=_WRITE,
    responses={
        **_WRITE_RESPONSES,
        422: {"description": "Unknown workflow, bad inputs or overrides."},
    },
)
def submit_run(ctx: Ctx, body: RunSubmission) -> SubmittedRun:
    """Run a workflow on a group, an MS or explicit inputs, in the background worker."""
    settings = run_settings(ctx, body.overrides)
    if body.workflow not in WORKFLOWS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"workflow: unknown {body.workflow!r}; known: {', '.join(sorted(WORKFLOWS))}",
        )
    declared = dict(get_workflow(body.workflow, settings).inputs)
    inputs = _inputs(body, declared)
    return _submit(ctx, body.workflow, settings, inputs=inputs)


@router.post(
    "/runs/{run_id}/retry",
    response_model=SubmittedRun,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=_WRITE,
    responses={
        **_WRITE_RESPONSES,
        404: {},
        409: {"description": "Run still running."},
        422: {"description": "The run's workflow is no longer registered."},
    },
)
def retry_run(ctx: Ctx, run_id: Id) -> SubmittedRun:
    """Run a finished run's workflow again from scratch on the same inputs (a new run)."""
    old = _run_or_404(ctx, run_id)
    if not old.status.finished:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"run {run_id} is still {old.status.value}; retry it when it ends",
        )
    return _submit(ctx, old.workflow, ctx.settings, retry_of=run_id)
