"""What the service tells a progress display: events as they happen, and snapshots."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from contimg.state._service import QueueSummary

__all__ = [
    "RUNNER_EVENTS",
    "ActiveGroup",
    "FinishedGroup",
    "ProgressHook",
    "ServiceEvent",
    "ServiceSnapshot",
]

#: Runner log events forwarded to the progress hook (they carry the bound ``group_id``).
RUNNER_EVENTS = frozenset(
    {
        "run.started",
        "run.completed",
        "run.failed",
        "stage.started",
        "stage.completed",
        "stage.failed",
        "stage.skipped",
        "stage.retry_scheduled",
    }
)


@dataclass(frozen=True)
class ServiceEvent:
    """One thing that happened.

    Attributes
    ----------
    kind : str
        ``file.indexed``, ``file.rejected``, ``group.planned``, ``group.complete``,
        ``group.incomplete``, ``group.waiting``, ``group.claimed``, ``group.resumed``,
        ``group.done``, ``group.failed``, or a runner event (``run.started``,
        ``stage.started``, ``stage.completed``, ``stage.failed``, ``stage.skipped``,
        ``run.completed``, ``run.failed``).
    group_id : str or None
        The group concerned.
    workflow, stage : str or None
        For runner events.
    run_id : int or None
        For runner events and finished groups.
    message : str or None
        Error, wait reason, path, ...
    time : datetime
        When (UTC).
    """

    kind: str
    group_id: str | None = None
    workflow: str | None = None
    stage: str | None = None
    run_id: int | None = None
    message: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


#: A progress hook: called from service threads, so it must be quick and thread-safe.
ProgressHook = Callable[[ServiceEvent], None]


@dataclass(frozen=True)
class ActiveGroup:
    """A group this process is working on."""

    group_id: str
    plan: tuple[str, ...]
    step: int = 0
    workflow: str | None = None
    run_id: int | None = None
    stages: Mapping[str, str] = field(default_factory=dict)  # stage -> last status
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    resumed: bool = False


@dataclass(frozen=True)
class FinishedGroup:
    """A group this process finished."""

    group_id: str
    state: str
    plan: tuple[str, ...]
    run_ids: tuple[int, ...]
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class ServiceSnapshot:
    """Where the service stands (for ``contimg watch``'s display and the demo)."""

    owner: str
    watching: bool
    stopping: bool
    slots: int
    queue: QueueSummary
    active: tuple[ActiveGroup, ...]
    finished: tuple[FinishedGroup, ...]
    pending_files: int
    indexed_files: int
    rejected_files: tuple[str, ...]


class Tracker:
    """Thread-safe memory of active and finished groups, fed by the service and the runner."""

    def __init__(self, hook: ProgressHook | None, keep: int = 200) -> None:
        self._hook = hook
        self._lock = threading.Lock()
        self.active: dict[str, ActiveGroup] = {}
        self.finished: deque[FinishedGroup] = deque(maxlen=keep)
        self.indexed = 0

    def emit(self, event: ServiceEvent) -> None:
        """Update the memory and call the hook."""
        with self._lock:
            gid = event.group_id
            if gid is not None and gid in self.active:
                act = self.active[gid]
                if event.kind == "run.started":
                    act = replace(act, run_id=event.run_id, workflow=event.workflow, stages={})
                elif event.kind.startswith("stage.") and event.stage:
                    status = event.kind.split(".", 1)[1]
                    act = replace(act, stages={**act.stages, event.stage: status})
                self.active[gid] = act
            if event.kind == "file.indexed":
                self.indexed += 1
        if self._hook is not None:
            self._hook(event)

    def start(self, group: ActiveGroup) -> None:
        """Remember a group being worked on."""
        with self._lock:
            self.active[group.group_id] = group

    def update(self, group_id: str, **changes: Any) -> None:
        """Change fields of an active group."""
        with self._lock:
            if group_id in self.active:
                self.active[group_id] = replace(self.active[group_id], **changes)

    def finish(self, done: FinishedGroup) -> None:
        """Move a group from active to finished."""
        with self._lock:
            self.active.pop(done.group_id, None)
            self.finished.append(done)

    def snapshot(self) -> tuple[tuple[ActiveGroup, ...], tuple[FinishedGroup, ...], int]:
        """Return copies of the active and finished groups and the indexed-file count."""
        with self._lock:
            return tuple(self.active.values()), tuple(self.finished), self.indexed
