"""Options and helpers shared by every command.

Every command takes ``--workdir`` and ``--config``; commands that start work
take ``--set section.key=value``; ``list``/``show`` commands take ``--json`` and
then print exactly one JSON document on stdout.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from contimg.config import ConfigError, Settings, load_settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliContext",
    "ConfigOpt",
    "JsonOpt",
    "SetOpt",
    "WorkdirOpt",
    "cli_context",
    "emit_json",
    "fail_usage",
    "to_jsonable",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

WorkdirOpt = Annotated[
    Path | None,
    typer.Option(
        "--workdir",
        help="Work directory (default ./contimg-data, or paths.workdir in the config).",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML configuration file (default ./contimg.toml if present).",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override one setting for this run: section.key=value (repeatable).",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")
]


class CliContext:
    """Settings of one command invocation plus lazily opened resources."""

    def __init__(self, settings: Settings, sources: dict[str, str], stack: ExitStack) -> None:
        self.settings = settings
        self.sources = sources
        self._stack = stack

    @cached_property
    def repository(self):  # -> SqlStateRepository; imported lazily to keep --help fast
        """The state repository (opened and migrated on first use, closed on exit)."""
        from contimg.state import open_repository

        self.settings.paths.state_dir.mkdir(parents=True, exist_ok=True)
        repo = open_repository(
            self.settings.database_url, busy_timeout_ms=self.settings.database.busy_timeout_ms
        )
        self._stack.callback(repo.close)
        return repo


def fail_usage(message: str) -> typer.Exit:
    """Print a one-line usage/configuration/input error and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


@contextmanager
def cli_context(
    workdir: Path | None = None,
    config: Path | None = None,
    sets: list[str] | None = None,
    *,
    setup_logging: bool = True,
) -> Iterator[CliContext]:
    """Load the effective settings for a command; errors exit 2 naming the key or file."""
    overrides: list[str] = list(sets or [])
    if workdir is not None:
        overrides.append(f"paths.workdir={json.dumps(str(workdir.absolute()))}")
    try:
        loaded = load_settings(config, overrides=overrides)
    except ConfigError as exc:
        raise fail_usage(str(exc)) from None
    with ExitStack() as stack:
        if setup_logging:
            from contimg.observability import configure_logging

            configure_logging(loaded.settings)
        yield CliContext(loaded.settings, dict(loaded.sources), stack)


def to_jsonable(value: Any) -> Any:
    """Convert records, paths, enums and datetimes to JSON-ready values (paths absolute)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value.absolute())
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    """Write one JSON document to stdout."""
    json.dump(to_jsonable(value), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
