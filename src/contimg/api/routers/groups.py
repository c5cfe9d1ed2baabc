"""``/api/v1/groups`` and ``/api/v1/ms``: subband groups and converted Measurement Sets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contimg.api._context import Ctx
from contimg.api.models import GroupOut, MsOut, Page
from contimg.api.routers._common import Limit, Offset, not_found
from contimg.state._ingest import GroupState

__all__ = ["router"]

router = APIRouter(tags=["products"])


@router.get("/groups", response_model=Page[GroupOut])
def list_groups(
    ctx: Ctx,
    state: Annotated[GroupState | None, Query(description="Only groups in this state.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[GroupOut]:
    """Subband groups, oldest first by first file timestamp."""
    found = ctx.repository.groups.list_groups(state=state, limit=limit + 1, offset=offset)
    return Page[GroupOut](
        items=[GroupOut.model_validate(g) for g in found[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(found) > limit,
    )


@router.get("/groups/{group_id}", response_model=GroupOut, responses={404: {}})
def get_group(ctx: Ctx, group_id: str) -> GroupOut:
    """One group by id (sb00's timestamp, e.g. ``2026-01-01T00:00:00``)."""
    group = ctx.repository.groups.get_group(group_id)
    if group is None:
        raise not_found(f"group {group_id}")
    return GroupOut.model_validate(group)


@router.get("/ms", response_model=Page[MsOut])
def list_ms(
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=16, description="Only this status.")] = None,
    group_id: Annotated[str | None, Query(max_length=64, description="Only this group.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[MsOut]:
    """List converted Measurement Sets, oldest first by mid time."""
    found = ctx.repository.ms.list_ms(
        status=status, group_id=group_id, limit=limit + 1, offset=offset
    )
    items = [
        MsOut.model_validate({**vars(m), "path": str(m.path), "meta": dict(m.meta)})
        for m in found[:limit]
    ]
    return Page[MsOut](items=items, limit=limit, offset=offset, has_more=len(found) > limit)
