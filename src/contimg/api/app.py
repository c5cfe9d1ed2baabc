"""The application factory: REST API under ``/api/v1``, ``/metrics``, and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from contimg import __version__
from contimg.api._context import ApiContext
from contimg.api.dashboard import views as dashboard
from contimg.api.routers import calibration, groups, health, images, metrics, runs, sources
from contimg.api.worker import RunWorker
from contimg.config.settings import Settings
from contimg.state import SqlStateRepository, open_repository

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    repository: SqlStateRepository | None = None,
    config_file: Path | None = None,
    run_workers: int = 1,
) -> FastAPI:
    """Build the contimg web application.

    Parameters
    ----------
    settings : Settings, optional
        Effective settings (default: defaults). ``api.cors_origins`` (none by
        default) and ``api.api_key_sha256`` (unset: write endpoints disabled)
        are read here; ``database.url`` / the work directory locate the store.
    repository : SqlStateRepository, optional
        An open state store to use (the caller closes it); by default the
        store at ``settings.database_url`` is opened (and migrated) now and
        closed on shutdown.
    config_file : Path, optional
        The TOML file the settings came from (kept for reference).
    run_workers : int
        Runs submitted through the API that execute at once.

    Returns
    -------
    fastapi.FastAPI
        The application; serve it with uvicorn (``contimg serve``).
    """
    settings = settings or Settings()
    owns = repository is None
    if repository is None:
        if settings.database_url.startswith("sqlite:///") and ":memory:" not in (
            settings.database_url
        ):
            settings.paths.state_dir.mkdir(parents=True, exist_ok=True)
        repository = open_repository(settings.database_url)
    context = ApiContext(
        settings=settings,
        repository=repository,
        worker=RunWorker(repository, max_workers=run_workers),
        config_file=config_file,
        owns_repository=owns,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.close()

    app = FastAPI(
        title="contimg",
        version=__version__,
        summary="DSA-110 continuum-imaging pipeline: runs, products, health and metrics.",
        description="Read endpoints are open; write endpoints (`POST`) need the API key in "
        "the `X-API-Key` header and are disabled when no key is configured.",
        lifespan=lifespan,
    )
    app.state.contimg = context
    app.state.db_metrics = metrics.database_registry(repository)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key"],
        )
    for module in (runs, groups, calibration, images, sources, health):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    dashboard.mount(app)
    return app
