"""Scheduled mosaics: each window of observing time, once the data stream has passed it.

Windows are ``mosaic.window_hours`` long and aligned to UTC midnight, so every
process agrees on them. When the newest data indexed lie beyond a window's end,
the window is complete: the ``mosaic`` workflow combines its QA-passed images
(a window with fewer than ``mosaic.min_images`` gets none). Only the process
holding the watcher lease schedules mosaics; a window that already has a mosaic
is left alone, so a restart does not mosaic it again.

A due mosaic waits while groups are in flight (being collected or processed), for at most
``mosaic.defer_max_s``: it would share their cores, and a group's latency matters more
than a mosaic's. Observing live, a group takes a fraction of the 5 minutes between groups,
so the mosaic runs in the quiet time after one; the wait also lets the window's last image
be judged before the mosaic is made. It then runs in a thread of its own, one at a time, so
the service's loop goes on indexing and claiming groups meanwhile (a full-scale hour takes
about 25 s), and its stage runs at a lower CPU priority (``mosaic.nice``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import structlog

from contimg.config.settings import Settings
from contimg.pipeline import Runner
from contimg.state import SqlStateRepository
from contimg.workflows import get_workflow, run_workflow

__all__ = ["MosaicScheduler", "window_of"]

_log = structlog.get_logger("contimg.service")


def window_of(when: datetime, hours: float) -> tuple[datetime, datetime]:
    """Return the window ``[start, end)`` of ``hours`` (aligned to UTC midnight) with ``when``."""
    midnight = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    length = timedelta(hours=hours)
    index = (when - midnight) // length
    start = midnight + index * length
    return start, start + length


class MosaicScheduler:
    """Decide, poll by poll, whether a completed window needs its mosaic, and make it."""

    def __init__(
        self,
        settings: Settings,
        repository: SqlStateRepository,
        runner: Runner,
        *,
        wake: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.runner = runner
        self.wake = wake  # set when a mosaic ends (the service loop waits on it)
        self._done: set[datetime] = set()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="contimg-mosaic")
        self._running: Future[int] | None = None
        self._waiting: tuple[tuple[datetime, datetime], float] | None = None

    @property
    def busy(self) -> bool:
        """Whether a mosaic is being made."""
        return self._running is not None and not self._running.done()

    @property
    def waiting(self) -> bool:
        """Whether a due mosaic waits for the groups in flight."""
        return self._waiting is not None

    def due(self) -> tuple[datetime, datetime] | None:
        """Return the newest complete window without a mosaic (not yet tried here), if any."""
        cfg = self.settings.mosaic
        clock = self.repository.service.data_clock()
        if not cfg.scheduled or clock is None:
            return None
        current, _ = window_of(clock[0], cfg.window_hours)
        start, end = current - timedelta(hours=cfg.window_hours), current
        if start in self._done:
            return None
        self._done.add(start)
        inside = timedelta(seconds=1)  # a neighbour's mosaic may touch the window's edge
        if self.repository.mosaics.list(since=start + inside, until=end - inside):
            return None
        images = self.repository.images.list_images(
            verdict="good", since=start, until=end, limit=cfg.min_images
        )
        return (start, end) if len(images) >= cfg.min_images else None

    def poll(self, in_flight: Callable[[], bool] | None = None) -> Future[int] | None:
        """Start the mosaic of the window that is due, if one is and none is running.

        ``in_flight`` tells whether groups are being collected or processed: while it is
        true a due mosaic waits, ``mosaic.defer_max_s`` at most. Returns the future of its
        run id, or ``None`` when nothing was started.
        """
        if self.busy:
            return None
        first = self._waiting is None
        if self._waiting is None:
            window = self.due()
            if window is None:
                return None
            self._waiting = (window, time.monotonic())
        (start, end), since = self._waiting
        waited_s = time.monotonic() - since
        limit_s = self.settings.mosaic.defer_max_s
        if in_flight is not None and waited_s < limit_s and in_flight():
            if first:
                _log.info(
                    "mosaic.waiting",
                    start=start.isoformat(),
                    end=end.isoformat(),
                    at_most_s=limit_s,
                )
            return None
        self._waiting = None
        _log.info(
            "mosaic.scheduled",
            start=start.isoformat(),
            end=end.isoformat(),
            waited_s=round(waited_s, 1),
        )
        self._running = self._pool.submit(self._make, start, end)
        wake = self.wake
        if wake is not None:
            self._running.add_done_callback(lambda _done: wake.set())
        return self._running

    def _make(self, start: datetime, end: datetime) -> int:
        try:
            result = run_workflow(
                self.runner,
                get_workflow("mosaic", self.settings),
                {"start": start, "end": end},
                trigger="schedule",
            )
        except Exception:
            _log.exception("mosaic.crashed", start=start.isoformat(), end=end.isoformat())
            raise
        return result.run_id

    def close(self, *, wait: bool = True) -> None:
        """Stop scheduling; wait for a mosaic in progress unless ``wait`` is false."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
