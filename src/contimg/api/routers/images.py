"""``/api/v1/images`` and ``/api/v1/mosaics``: metadata, FITS and PNG of registered products.

Files are looked up by product id in the database; no endpoint takes a path, so
nothing outside the registered products can be reached.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from contimg.api import _images
from contimg.api._context import Ctx
from contimg.api.models import ImageOut, ImageSourceOut, MosaicOut, Page
from contimg.api.routers._common import FILE_RESPONSES, Id, Limit, not_found, registered_file
from contimg.state._images import ImageRecord

__all__ = ["router"]

router = APIRouter(tags=["products"])
_FITS = "application/fits"


@router.get("/images", response_model=Page[ImageOut])
def list_images(
    ctx: Ctx,
    group_id: Annotated[str | None, Query(max_length=64, description="Only this group.")] = None,
    verdict: Annotated[
        str | None, Query(max_length=16, description="Only this QA verdict (good, bad, pending).")
    ] = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Items to skip.")] = 0,
) -> Page[ImageOut]:
    """List registered images, newest first, with their QA figures and verdict."""
    found = _images.list_images(
        ctx.repository, limit=limit + 1, offset=offset, group_id=group_id, verdict=verdict
    )
    return Page[ImageOut](
        items=[_images.image_out(r) for r in found[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(found) > limit,
    )


def _image(ctx: Ctx, image_id: int) -> ImageRecord:
    rec = ctx.repository.images.get(image_id)
    if rec is None:
        raise not_found(f"image {image_id}")
    return rec


@router.get("/images/{image_id}", response_model=ImageOut, responses={404: {}})
def get_image(ctx: Ctx, image_id: Id) -> ImageOut:
    """Return one image's metadata and QA (cross-match figures included when measured)."""
    return _images.image_out(_image(ctx, image_id))


@router.get("/images/{image_id}/sources", response_model=list[ImageSourceOut], responses={404: {}})
def image_sources(ctx: Ctx, image_id: Id) -> list[ImageSourceOut]:
    """List the sources found in an image, brightest first."""
    _image(ctx, image_id)
    return [ImageSourceOut.model_validate(s) for s in ctx.repository.images.sources(image_id)]


@router.get(
    "/images/{image_id}/fits",
    response_class=FileResponse,
    responses={**FILE_RESPONSES, 200: {"content": {_FITS: {}}}},
)
def image_fits(ctx: Ctx, image_id: Id) -> FileResponse:
    """Download the restored FITS image."""
    return registered_file(_image(ctx, image_id).image_path, _FITS, f"image {image_id}")


@router.get(
    "/images/{image_id}/pbcor.fits",
    response_class=FileResponse,
    responses={**FILE_RESPONSES, 200: {"content": {_FITS: {}}}},
)
def image_pbcor_fits(ctx: Ctx, image_id: Id) -> FileResponse:
    """Download the primary-beam corrected FITS image."""
    return registered_file(_image(ctx, image_id).pbcor_path, _FITS, f"image {image_id} (pbcor)")


@router.get(
    "/images/{image_id}/png",
    response_class=FileResponse,
    responses={**FILE_RESPONSES, 200: {"content": {"image/png": {}}}},
)
def image_png(ctx: Ctx, image_id: Id) -> FileResponse:
    """Return the image's quicklook PNG."""
    return registered_file(
        _image(ctx, image_id).png_path, "image/png", f"image {image_id} quicklook"
    )


def _mosaic(ctx: Ctx, mosaic_id: int) -> MosaicOut:
    rec = ctx.repository.mosaics.get(mosaic_id)
    if rec is None:
        raise not_found(f"mosaic {mosaic_id}")
    return MosaicOut.model_validate(rec)


@router.get("/mosaics", response_model=list[MosaicOut])
def list_mosaics(ctx: Ctx, limit: Limit = 100) -> list[MosaicOut]:
    """Mosaics, newest first, with their QA."""
    return [MosaicOut.model_validate(m) for m in ctx.repository.mosaics.list(limit=limit)]


@router.get("/mosaics/{mosaic_id}", response_model=MosaicOut, responses={404: {}})
def get_mosaic(ctx: Ctx, mosaic_id: Id) -> MosaicOut:
    """One mosaic."""
    return _mosaic(ctx, mosaic_id)


@router.get(
    "/mosaics/{mosaic_id}/fits",
    response_class=FileResponse,
    responses={**FILE_RESPONSES, 200: {"content": {_FITS: {}}}},
)
def mosaic_fits(ctx: Ctx, mosaic_id: Id) -> FileResponse:
    """Download the mosaic FITS."""
    return registered_file(_mosaic(ctx, mosaic_id).path, _FITS, f"mosaic {mosaic_id}")


@router.get(
    "/mosaics/{mosaic_id}/png",
    response_class=FileResponse,
    responses={**FILE_RESPONSES, 200: {"content": {"image/png": {}}}},
)
def mosaic_png(ctx: Ctx, mosaic_id: Id) -> FileResponse:
    """Return the mosaic's PNG."""
    return registered_file(_mosaic(ctx, mosaic_id).png_path, "image/png", f"mosaic {mosaic_id}")
