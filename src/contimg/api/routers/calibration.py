"""``/api/v1/caltables``: calibration sets, their tables, and plots of the solutions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from contimg.api import plots
from contimg.api._context import Ctx
from contimg.api.models import CalSetOut
from contimg.api.routers._common import not_found

__all__ = ["router"]

router = APIRouter(tags=["products"])


@router.get("/caltables", response_model=list[CalSetOut])
def list_sets(
    ctx: Ctx,
    status_: Annotated[
        str | None, Query(alias="status", max_length=32, description="valid or rejected.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[CalSetOut]:
    """Calibration sets with their tables and validity windows, newest transit first."""
    return [
        CalSetOut.from_record(s)
        for s in ctx.repository.calibration.list_sets(status=status_, limit=limit)
    ]


@router.get("/caltables/{set_id}", response_model=CalSetOut, responses={404: {}})
def get_set(ctx: Ctx, set_id: str) -> CalSetOut:
    """One calibration set."""
    found = ctx.repository.calibration.get_set(set_id)
    if found is None:
        raise not_found(f"calibration set {set_id}")
    return CalSetOut.from_record(found)


@router.get(
    "/caltables/{set_id}/tables/{index}/plot.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"description": "Unknown set or table, or the table is gone."},
        422: {"description": "The table cannot be plotted."},
    },
)
async def plot_table(ctx: Ctx, set_id: str, index: Annotated[int, Path(ge=0, le=1000)]) -> Response:
    """Amplitude and phase of a registered caltable's solutions (bandpass or gain), as PNG."""
    found = ctx.repository.calibration.get_set(set_id)
    if found is None:
        raise not_found(f"calibration set {set_id}")
    if not 0 <= index < len(found.tables):
        raise not_found(f"table {index} of set {set_id}")
    table = found.tables[index]
    try:
        png = await run_in_threadpool(plots.caltable_png, table.path, table.kind)
    except FileNotFoundError:
        raise not_found(f"caltable {table.path}") from None
    except plots.PlotError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Response(png, media_type="image/png")
