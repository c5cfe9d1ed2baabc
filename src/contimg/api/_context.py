"""What every request handler reaches through ``request.app.state.contimg``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from contimg.api.worker import RunWorker
from contimg.config.settings import Settings
from contimg.state import SqlStateRepository

__all__ = ["ApiContext", "Ctx", "get_context"]


@dataclass
class ApiContext:
    """The server's settings, its state repository and its run worker.

    Attributes
    ----------
    settings : Settings
        Effective settings of the server process.
    repository : SqlStateRepository
        The state store (shared by every request; SQLAlchemy pools connections).
    worker : RunWorker
        Executes runs submitted through ``POST /api/v1/runs``.
    config_file : Path or None
        The TOML file the settings came from, re-read with a run's overrides.
    owns_repository : bool
        Whether the app closes the repository on shutdown.
    """

    settings: Settings
    repository: SqlStateRepository
    worker: RunWorker
    config_file: Path | None = None
    owns_repository: bool = True

    def close(self) -> None:
        """Stop the worker (letting runs finish), then close the repository if owned."""
        self.worker.close(wait=True)
        if self.owns_repository:
            self.repository.close()


def get_context(request: Request) -> ApiContext:
    """FastAPI dependency: the app's :class:`ApiContext`."""
    return request.app.state.contimg


Ctx = Annotated[ApiContext, Depends(get_context)]
