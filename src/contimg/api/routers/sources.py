"""``/api/v1/sources``: monitored sources, their variability metrics and light curves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from contimg.api import plots
from contimg.api._context import Ctx
from contimg.api.models import Page, PhotometryOut, SourceOut
from contimg.api.routers._common import Id, Limit, Offset, not_found

__all__ = ["router"]

router = APIRouter(tags=["sources"])


@router.get("/sources", response_model=Page[SourceOut])
def list_sources(
    ctx: Ctx,
    candidates_only: Annotated[bool, Query(description="Only variability candidates.")] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SourceOut]:
    """List monitored sources, candidates and highest eta first."""
    found = ctx.repository.sources.list(
        candidates_only=candidates_only, limit=limit + 1, offset=offset
    )
    return Page[SourceOut](
        items=[SourceOut.model_validate(s) for s in found[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(found) > limit,
    )


def _source(ctx: Ctx, source_id: int) -> SourceOut:
    rec = ctx.repository.sources.get(source_id)
    if rec is None:
        raise not_found(f"source {source_id}")
    return SourceOut.model_validate(rec)


@router.get("/sources/{source_id}", response_model=SourceOut, responses={404: {}})
def get_source(ctx: Ctx, source_id: Id) -> SourceOut:
    """One monitored source."""
    return _source(ctx, source_id)


@router.get(
    "/sources/{source_id}/lightcurve", response_model=list[PhotometryOut], responses={404: {}}
)
def lightcurve(ctx: Ctx, source_id: Id) -> list[PhotometryOut]:
    """List a source's forced measurements in time order (upper limits included)."""
    _source(ctx, source_id)
    return [PhotometryOut.model_validate(p) for p in ctx.repository.sources.lightcurve(source_id)]


@router.get(
    "/sources/{source_id}/lightcurve.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {}},
)
async def lightcurve_png(ctx: Ctx, source_id: Id) -> Response:
    """Plot the light curve as a PNG."""
    src = _source(ctx, source_id)
    points = ctx.repository.sources.lightcurve(source_id)
    png = await run_in_threadpool(
        plots.lightcurve_png,
        src.name,
        [p.time for p in points],
        [p.flux_jy for p in points],
        [p.flux_err_jy for p in points],
        [p.upper_limit for p in points],
        [p.limit_jy for p in points],
    )
    return Response(png, media_type="image/png")
