"""structlog set-up: JSON lines to a file, readable lines on the terminal, sinks.

Every event passes through one processor chain:

``merge_contextvars`` (bound ``run_id``, ``stage`` ...) -> level -> UTC
timestamp -> the attached sinks (e.g. a run's :class:`BatchedLogSink`) -> the
outputs: one JSON object per line in ``<workdir>/logs/contimg.jsonl`` and a
human-readable line on **stderr** (stdout belongs to ``--json`` documents).

Events are named ``<noun>.<verb>`` (``run.started``, ``stage.retry_scheduled``).
"""

from __future__ import annotations

import json
import logging as _stdlog
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import structlog

from contimg.config.settings import Settings

__all__ = ["attached_sink", "configure_logging", "get_logger", "reset_logging"]

Sink = Callable[[Mapping[str, Any]], None]

_sinks: tuple[Sink, ...] = ()
_sinks_lock = threading.Lock()
_outputs: _Outputs | None = None


def _forward_to_sinks(_logger: Any, _method: str, event_dict: Any) -> Any:
    for sink in _sinks:  # a tuple swapped atomically: no lock on the hot path
        sink(event_dict)
    return event_dict


@contextmanager
def attached_sink(sink: Sink) -> Iterator[Sink]:
    """Send every event to ``sink`` while the block runs (e.g. a run's database sink)."""
    global _sinks
    with _sinks_lock:
        _sinks = (*_sinks, sink)
    try:
        yield sink
    finally:
        with _sinks_lock:
            _sinks = tuple(s for s in _sinks if s is not sink)


class _Outputs:
    """The final processor: write the JSON line and the console line, then drop the event."""

    def __init__(self, json_path: Path | None, console: IO[str] | bool, console_level: int):
        self._file = None
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = json_path.open("a", encoding="utf-8", buffering=1)
        self._console = console
        self._console_level = console_level
        self._renderer = structlog.dev.ConsoleRenderer(colors=False)
        self._lock = threading.Lock()

    def __call__(self, logger: Any, method: str, event_dict: Any) -> Any:
        level = _stdlog.getLevelName(str(event_dict.get("level", "info")).upper())
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps(event_dict, default=str) + "\n")
            if (
                self._console is not False
                and isinstance(level, int)
                and (level >= self._console_level)
            ):
                # ``True``: whatever sys.stderr is now (test runners swap it)
                stream = sys.stderr if self._console is True else self._console
                stream.write(self._renderer(logger, method, dict(event_dict)) + "\n")
        raise structlog.DropEvent

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def configure_logging(
    settings: Settings | None = None,
    *,
    console: IO[str] | bool = True,
    console_level: str | None = None,
) -> None:
    """Configure structlog for this process from the ``logging`` and ``paths`` sections.

    Parameters
    ----------
    settings : Settings, optional
        ``logging.level`` is the lowest level kept; with ``logging.json_file``
        JSON lines go to ``<paths.workdir>/logs/contimg.jsonl``. Default: defaults.
    console : file or bool
        Where readable lines go: ``True`` for stderr (the default), ``False``
        for nowhere, or a stream.
    console_level : str, optional
        Lowest level shown on the console (default: ``logging.level``).

    Notes
    -----
    Calling it again replaces the previous configuration (and closes its file).
    """
    global _outputs
    settings = settings or Settings()
    level = _stdlog.getLevelName(settings.logging.level)
    json_path = settings.paths.logs_dir / "contimg.jsonl" if settings.logging.json_file else None
    outputs = _Outputs(
        json_path, console, _stdlog.getLevelName(console_level) if console_level else level
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _forward_to_sinks,
            outputs,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    previous, _outputs = _outputs, outputs
    if previous is not None:
        previous.close()


def reset_logging() -> None:
    """Return structlog to its defaults and close the log file (tests, shutdown)."""
    global _outputs
    structlog.reset_defaults()
    if _outputs is not None:
        _outputs.close()
        _outputs = None


def get_logger(name: str = "contimg") -> Any:
    """Return a structlog logger (events carry whatever is bound in the contextvars)."""
    return structlog.get_logger(name)
