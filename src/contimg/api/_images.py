"""Registered images as the API shows them (one place that maps the store's records)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from contimg.api.models import ImageOut
from contimg.state import SqlStateRepository
from contimg.state._images import ImageRecord

__all__ = ["image_out", "list_images"]


def _clean(value: Any) -> Any:
    """Non-finite floats become ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def image_out(rec: ImageRecord) -> ImageOut:
    """Describe one stored image for the API (file URLs by id, never by path)."""
    values = {
        name: _clean(getattr(rec, name)) for name in ImageOut.model_fields if hasattr(rec, name)
    }
    values["qa"] = _clean(dict(rec.qa or {}))
    return ImageOut(
        **values,
        fits_url=f"/api/v1/images/{rec.id}/fits",
        pbcor_url=f"/api/v1/images/{rec.id}/pbcor.fits",
        png_url=None if rec.png_path is None else f"/api/v1/images/{rec.id}/png",
    )


def list_images(
    repo: SqlStateRepository,
    *,
    limit: int,
    offset: int = 0,
    group_id: str | None = None,
    verdict: str | None = None,
) -> list[ImageRecord]:
    """Images newest first, one page (the store has no offset: skip by hand)."""
    found = repo.images.list_images(group_id=group_id, verdict=verdict, limit=limit + offset)
    return found[offset:]
