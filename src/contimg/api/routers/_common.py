"""Small helpers shared by the resource routers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import HTTPException, Query, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

__all__ = ["Id", "Limit", "Offset", "not_found", "registered_file"]

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
#: A database id in a path (bounded: SQLite and PostgreSQL integers are 64-bit).
Id = Annotated[int, PathParam(ge=0, le=2**62, description="Database id.")]

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id, or the registered file is gone."},
}


def not_found(what: str) -> HTTPException:
    """Return a 404 naming what was not found."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} does not exist")


def registered_file(path: str | Path | None, media_type: str, what: str) -> FileResponse:
    """Serve a product file whose path came from the database (never from the request).

    Raises
    ------
    fastapi.HTTPException
        404 when no path is registered or the file no longer exists.
    """
    if not path:
        raise not_found(f"{what} file")
    file = Path(path)
    if not file.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what}: registered file {file} is gone")
    return FileResponse(file, media_type=media_type, filename=file.name)
