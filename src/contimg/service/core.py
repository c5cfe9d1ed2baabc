"""The streaming service: incoming files in, one run per complete group out, exactly once.

One :class:`Service` per process. Its loop (:meth:`Service.poll_once`, repeated by
:meth:`Service.run_until_idle`, :meth:`Service.run_until` or :meth:`Service.serve_forever`):

1. **index** - the process holding the ``watcher`` lease indexes whole files and settles
   groups that can no longer complete (:mod:`contimg.service._watcher`);
2. **plan** - every new group gets its workflows: ``calibrator`` then ``standard`` on a
   calibrator transit, else ``standard`` (:mod:`contimg.service._plan`);
3. **take over** - a group whose owner's lease lapsed (the process died) is claimed and
   its run resumed through :meth:`Runner.resume <contimg.pipeline.Runner.resume>`;
4. **claim** - while a worker slot (``executor.workers``) is free, the next ready group is
   claimed atomically (calibrator groups first; targets near a pending calibrator wait,
   :mod:`contimg.service._scheduler`) and processed on a slot thread.

A heartbeat thread renews this process's row and every lease it holds each
``executor.heartbeat_s``; a lease lapses ``executor.lease_s`` after the last renewal. A
process that finds a dead process of its own host (pid gone) lets that one's leases lapse
at once, so a restart after a crash resumes without waiting.

Stopping: :meth:`Service.request_stop` (the first SIGTERM/SIGINT) stops taking work and
lets the runs in progress finish; ``now=True`` (a second signal) gives up at once and lets
this process's leases lapse so another process resumes its groups.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import structlog

from contimg.config.settings import Settings
from contimg.observability.logging import attached_sink
from contimg.pipeline import ConfigurationError, Runner, Workflow
from contimg.science.catalog import Calibrator
from contimg.science.catalog.transit import CalibratorTransit, upcoming_transits
from contimg.science.convert.errors import CorruptFileError
from contimg.science.ingest import read_header
from contimg.service._events import (
    RUNNER_EVENTS,
    FinishedGroup,
    ProgressHook,
    ServiceEvent,
    ServiceSnapshot,
    Tracker,
)
from contimg.service._mosaics import MosaicScheduler
from contimg.service._plan import CALIBRATOR_WORKFLOW, STANDARD_WORKFLOW, plan_group
from contimg.service._processing import ClaimProcessor
from contimg.service._scheduler import PendingCalibrator, order_candidates
from contimg.service._watcher import IncomingWatcher
from contimg.state import SqlStateRepository
from contimg.state._ingest import GroupRecord
from contimg.state._service import ClaimState, ServiceGroupRecord
from contimg.workflows import WORKFLOWS, WorkflowFactory

__all__ = ["WATCHER_LEASE", "PollResult", "Service", "ServiceSummary"]

_log = structlog.get_logger("contimg.service")

#: Name of the lease held by the one process that indexes incoming files.
WATCHER_LEASE = "watcher"


@dataclass(frozen=True)
class PollResult:
    """What one :meth:`Service.poll_once` did."""

    indexed: int = 0
    rejected: int = 0
    planned: int = 0
    claimed: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    active: int = 0


@dataclass(frozen=True)
class ServiceSummary:
    """How a :meth:`Service.run_until_idle` / :meth:`Service.serve_forever` call ended."""

    finished: tuple[FinishedGroup, ...]
    seconds: float
    stopped: bool = False
    aborted: bool = False
    timed_out: bool = False

    @property
    def failed(self) -> tuple[FinishedGroup, ...]:
        """The groups that failed here."""
        return tuple(g for g in self.finished if g.state == ClaimState.FAILED.value)


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_start(pid: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(psutil.Process(pid).create_time(), UTC)
    except psutil.Error:
        return None


def _alive(pid: int, started: datetime | None) -> bool:
    now_started = _process_start(pid)
    if now_started is None:
        return False
    # a recycled pid belongs to a process started at another time
    return started is None or abs((now_started - started).total_seconds()) < 2.0


class Service:
    """The streaming service of one process.

    Parameters
    ----------
    settings : Settings
        ``paths``, ``ingest``, ``conversion.missing_subbands``, ``calibration``
        (``validity_hours``, ``wait_timeout_s``) and ``executor`` (``workers``,
        ``lease_s``, ``heartbeat_s``).
    repository : SqlStateRepository
        The state store (shared by every service process).
    workflows : mapping, optional
        Workflow name -> factory(settings); default :data:`contimg.workflows.WORKFLOWS`.
        Must hold ``standard``; without ``calibrator`` transit groups run ``standard`` only.
    progress : callable, optional
        Called with every :class:`~contimg.service.ServiceEvent` (from service threads:
        keep it quick and thread-safe). Runner events (stage started/completed...) reach
        it only when logging is configured (:func:`contimg.observability.configure_logging`).
    watch : bool
        Index ``paths.incoming`` (take part in the ``watcher`` lease); ``False`` only
        processes groups indexed by others.
    owner : str, optional
        This process's owner id (default ``host:pid:random``).
    runner : Runner, optional
        Default: a runner of its own over ``repository`` and ``settings``.

    Examples
    --------
    >>> with Service(settings, repo, progress=print) as service:   # doctest: +SKIP
    ...     summary = service.run_until_idle()
    """

    def __init__(
        self,
        settings: Settings,
        repository: SqlStateRepository,
        *,
        workflows: Mapping[str, WorkflowFactory] | None = None,
        progress: ProgressHook | None = None,
        watch: bool = True,
        owner: str | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.workflows = dict(WORKFLOWS if workflows is None else workflows)
        if STANDARD_WORKFLOW not in self.workflows:
            raise ConfigurationError(
                f"the service needs a {STANDARD_WORKFLOW!r} workflow; registered: "
                f"{', '.join(sorted(self.workflows)) or 'none'}"
            )
        self.owner = owner or _owner_id()
        self.slots = settings.executor.workers
        self.wake = threading.Event()
        self.tracker = Tracker(progress)
        self.watcher = IncomingWatcher(settings, repository, wake=self.wake) if watch else None
        self._own_runner = runner is None
        self.runner = runner or Runner(repository, settings, workflows=self.workflows)
        self._processor = ClaimProcessor(
            settings,
            repository,
            self.runner,
            self._build,
            self.owner,
            self.tracker,
            should_stop=lambda: self.stopping,
        )
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="contimg-slot")
        self._futures: dict[Future[FinishedGroup], str] = {}
        self._finished: list[FinishedGroup] = []
        self._stack = ExitStack()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._calibrators: list[Calibrator] | None = None
        self._transit_cache: dict[tuple[float, datetime], list[CalibratorTransit]] = {}
        self._workflow_cache: dict[str, Workflow] = {}
        self._started = False
        self._closed = False
        self.stopping = False
        self.aborted = False
        self._stop_noted = False
        self.is_watcher = False
        self._mosaics = MosaicScheduler(settings, repository, self.runner, wake=self.wake)

    # -- life cycle -------------------------------------------------------
    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Register this process, start the observer and the heartbeat (idempotent)."""
        if self._started:
            return
        self._started = True
        self.settings.paths.ensure()
        self.repository.service.register_worker(
            self.owner,
            host=socket.gethostname(),
            pid=os.getpid(),
            slots=self.slots,
            process_started_at=_process_start(os.getpid()),
        )
        self._stack.enter_context(attached_sink(self._forward_runner_event))
        if self.watcher is not None:
            self.watcher.start()
            self._stack.callback(self.watcher.stop)
        self._heartbeat = threading.Thread(target=self._beat, name="contimg-heartbeat", daemon=True)
        self._heartbeat.start()
        _log.info("service.started", owner=self.owner, slots=self.slots, watch=bool(self.watcher))

    def request_stop(self, *, now: bool = False) -> None:
        """Stop taking work; runs in progress finish (``now``: give up at once).

        Safe in a signal handler: it only sets flags (the handler may interrupt the
        main thread inside a database transaction, so it must not open another); the
        loop records the ``draining`` state on its next pass.
        """
        self.stopping = True
        if now:
            self.aborted = True
        self.wake.set()

    def _note_stopping(self) -> None:
        if self.stopping and not self._stop_noted:
            self._stop_noted = True
            _log.info("service.stopping", owner=self.owner, active=len(self._futures))
            self.repository.service.set_worker_state(self.owner, "draining")

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: first drain (:meth:`request_stop`), second give up at once."""

        def _handle(signum: int, _frame: Any) -> None:
            # no logging or database here: the main thread may be inside either
            self.request_stop(now=self.stopping)

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.signal(signum, _handle)
            self._stack.callback(signal.signal, signum, previous)  # restored on close

    def close(self) -> None:
        """Stop: wait for runs in progress (unless aborted), release leases, deregister."""
        if self._closed:
            return
        self._closed = True
        if self._started and not self.aborted:
            for future in list(self._futures):
                future.exception()
            self._reap()
        self._pool.shutdown(wait=not self.aborted, cancel_futures=True)
        self._mosaics.close(wait=not self.aborted)
        self._heartbeat_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=10)
        self._stack.close()
        if self._started:
            service = self.repository.service
            service.release_lease(WATCHER_LEASE, self.owner)
            # what is still claimed here (groups stopped between two workflows, or every
            # group in flight when aborted) lapses now: another process goes on at once
            released = service.expire_owner(self.owner)
            if self.aborted:
                _log.warning("service.aborted", owner=self.owner, released=released)
            elif released:
                _log.info("service.released", owner=self.owner, released=released)
            service.set_worker_state(self.owner, "stopped")
            _log.info("service.stopped", owner=self.owner, finished=len(self._finished))
        if self._own_runner and not self.aborted:
            self.runner.close()

    # -- loops ------------------------------------------------------------
    def run_until(
        self, done: Callable[[Service], bool], *, timeout_s: float | None = None
    ) -> ServiceSummary:
        """Poll until ``done(self)`` is true after a poll, a stop is requested, or the timeout.

        On a requested stop the runs in progress are waited for (unless aborted).
        """
        self.start()
        t0 = time.monotonic()
        timed_out = False
        start_count = len(self._finished)
        while True:
            self.poll_once()
            self._note_stopping()
            if self.aborted or (self.stopping and not self._futures):
                break
            if not self.stopping and done(self):
                break
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                timed_out = True
                break
            self.wake.wait(self._next_poll_s())
            self.wake.clear()
        return ServiceSummary(
            tuple(self._finished[start_count:]),
            time.monotonic() - t0,
            stopped=self.stopping,
            aborted=self.aborted,
            timed_out=timed_out,
        )

    def _next_poll_s(self) -> float:
        """How long the loop may wait for an event before its next pass.

        The poll interval, or less when a file waiting to be whole is due sooner: a group
        is then claimed as soon as its last file is.
        """
        wait = self.settings.ingest.poll_interval_s
        if self.watcher is not None and self.is_watcher:
            due = self.watcher.next_due_s()
            if due is not None:
                wait = min(wait, due + 0.01)
        return wait

    def run_until_idle(self, *, timeout_s: float | None = None) -> ServiceSummary:
        """Process everything there is, then return (``contimg watch --until-idle``).

        Idle: no run in progress here, no file still being written, no group
        collecting, ready, waiting for calibration or claimed by any live process, and no
        scheduled mosaic waiting or being made.
        """
        return self.run_until(lambda s: s.idle(), timeout_s=timeout_s)

    def run_once(self) -> ServiceSummary:
        """One poll, then wait for the runs it started (``contimg watch --once``)."""
        self.start()
        t0 = time.monotonic()
        start_count = len(self._finished)
        self.poll_once()
        while self._futures and not self.aborted:
            self.wake.wait(self.settings.ingest.poll_interval_s)
            self.wake.clear()
            self._reap()
        return ServiceSummary(
            tuple(self._finished[start_count:]), time.monotonic() - t0, aborted=self.aborted
        )

    def serve_forever(self) -> ServiceSummary:
        """Run until a stop is requested (signals: :meth:`install_signal_handlers`)."""
        return self.run_until(lambda _s: False)

    def idle(self) -> bool:
        """Whether there is nothing left to do (see :meth:`run_until_idle`)."""
        if self._mosaics.busy or self._mosaics.waiting:
            return False
        return not self._groups_in_flight()

    def _groups_in_flight(self) -> bool:
        """Whether groups are in flight (a scheduled mosaic waits for them).

        In flight: a run in progress here, a file still being written, or a group
        collecting, ready, waiting for calibration or claimed by any live process.
        """
        if self._futures:
            return True
        if self.watcher is not None and self.is_watcher and self.watcher.pending:
            return True
        if self.repository.service.unplanned_groups(limit=1):
            return True
        queue = self.repository.service.queue_summary()
        return queue.collecting > 0 or queue.ready > 0 or queue.running > 0

    # -- one pass ---------------------------------------------------------
    def poll_once(self) -> PollResult:
        """Do one pass of the loop (index, plan, take over, claim); never blocks on runs."""
        self.start()
        self._reap()
        indexed = rejected = 0
        if self.watcher is not None and not self.stopping:
            indexed, rejected = self._index()
        planned = self._plan()
        self.repository.service.mark_ready()
        self._reap_dead_workers()
        claimed: list[str] = []
        resumed: list[str] = []
        waiting: list[str] = []
        if not self.stopping:
            self._dispatch(claimed, resumed, waiting)
            if self.is_watcher:
                self._mosaics.poll(self._groups_in_flight)
        return PollResult(
            indexed,
            rejected,
            planned,
            tuple(claimed),
            tuple(resumed),
            tuple(waiting),
            len(self._futures),
        )

    def _index(self) -> tuple[int, int]:
        lease = self.settings.executor.lease_s
        self.is_watcher = self.repository.service.acquire_lease(
            WATCHER_LEASE, self.owner, lease_s=lease
        )
        if self.watcher is None:
            return 0, 0
        if not self.is_watcher:
            self.watcher.forget()
            return 0, 0
        scan = self.watcher.scan()
        emit = self.tracker.emit
        for path in scan.indexed:
            emit(ServiceEvent("file.indexed", message=path))
        for path in scan.rejected:
            emit(ServiceEvent("file.rejected", message=path))
        for gid in scan.completed:
            emit(ServiceEvent("group.complete", gid))
        for gid in scan.incomplete:
            emit(ServiceEvent("group.incomplete", gid))
        return len(scan.indexed), len(scan.rejected)

    def _catalogue(self) -> list[Calibrator]:
        if self._calibrators is None:
            from contimg.workflows.calibration_steps import catalogue

            self._calibrators = catalogue(self.repository.calibration)
        return self._calibrators

    def _plan(self) -> int:
        planned = 0
        for group in self.repository.service.unplanned_groups(limit=500):
            files = self.repository.groups.list_files(group.group_id)
            times = None
            if files:
                try:
                    times = read_header(files[0].path).times_jd.tolist()
                except CorruptFileError:
                    times = None
            plan = plan_group(group, times, self._catalogue(), self.settings)
            workflows = tuple(w for w in plan.workflows if w in self.workflows)
            is_cal = CALIBRATOR_WORKFLOW in workflows
            if self.repository.service.add_group(
                group,
                plan=workflows,
                obs_start=plan.obs_start,
                calibrator=plan.calibrator if is_cal else None,
                transit_at=plan.transit_at if is_cal else None,
            ):
                planned += 1
                _log.info(
                    "group.planned",
                    group_id=group.group_id,
                    plan=list(workflows),
                    reason=plan.reason,
                )
                self.tracker.emit(
                    ServiceEvent("group.planned", group.group_id, message=" -> ".join(workflows))
                )
        return planned

    def _dispatch(self, claimed: list[str], resumed: list[str], waiting: list[str]) -> None:
        service = self.repository.service
        lease = self.settings.executor.lease_s
        while len(self._futures) < self.slots:
            taken = service.take_over_expired(self.owner, lease_s=lease)
            if taken is None:
                break
            _log.warning("group.taken_over", group_id=taken.group_id, step=taken.step)
            self._submit(taken, resumed=True)
            resumed.append(taken.group_id)
        if len(self._futures) >= self.slots:
            return
        candidates = service.candidates(limit=100)
        decisions = order_candidates(
            candidates,
            self._pending_calibrators(candidates),
            self.settings.calibration,
            datetime.now(UTC),
            covered=self._covered,
        )
        for decision in decisions:
            if len(self._futures) >= self.slots:
                break
            claim = decision.claim
            if decision.wait_reason is not None:
                waiting.append(claim.group_id)
                stable = decision.wait_reason.split(";")[0]
                if claim.wait_reason != stable:
                    service.set_wait_reason(claim.group_pk, stable)
                    _log.info("group.waiting", group_id=claim.group_id, reason=stable)
                    self.tracker.emit(ServiceEvent("group.waiting", claim.group_id, message=stable))
                continue
            got = service.claim(claim.group_pk, self.owner, lease_s=lease)
            if got is None:
                continue  # another process was faster
            _log.info("group.claimed", group_id=got.group_id, plan=list(got.plan))
            self._submit(got, resumed=False)
            claimed.append(got.group_id)

    def _pending_calibrators(
        self, candidates: list[tuple[ServiceGroupRecord, GroupRecord]]
    ) -> list[PendingCalibrator]:
        """Planned calibrator groups not calibrated yet, plus transits expected soon.

        A transit is *expected* when it falls after the newest data but within
        ``calibration.wait_timeout_s`` of it (its group will arrive within the wait), and
        the stream is still flowing: a file was indexed within ``ingest.group_timeout_s``
        (past that, a group that has not begun is not coming). Data run on their own clock
        (a simulated night is hours in the past), so "after" is against the newest file.
        """
        service = self.repository.service
        pending = [PendingCalibrator.from_claim(c) for c in service.pending_calibrators()]
        targets = [g for c, g in candidates if CALIBRATOR_WORKFLOW not in c.plan]
        if not targets or CALIBRATOR_WORKFLOW not in self.workflows:
            return pending
        clock = service.data_clock()
        if clock is None:
            return pending
        newest, indexed_at = clock
        quiet_s = (datetime.now(UTC) - indexed_at).total_seconds()
        if quiet_s > self.settings.ingest.group_timeout_s:
            return pending
        horizon = newest + timedelta(seconds=self.settings.calibration.wait_timeout_s)
        planned = {(p.calibrator, p.transit_at.replace(microsecond=0)) for p in pending}
        for dec in sorted({round(g.dec_deg, 1) for g in targets if g.dec_deg is not None}):
            for transit in self._transits(dec, newest):
                key = (transit.calibrator.name, transit.transit_time.replace(microsecond=0))
                if newest < transit.transit_time <= horizon and key not in planned:
                    pending.append(PendingCalibrator(*key))
        return pending

    def _transits(self, dec: float, newest: datetime) -> list[CalibratorTransit]:
        """Qualifying transits at ``dec`` in the hours after ``newest`` (cached per hour)."""
        key = (dec, newest.replace(minute=0, second=0, microsecond=0))
        if key not in self._transit_cache:
            cal = self.settings.calibration
            self._transit_cache[key] = upcoming_transits(
                self._catalogue(),
                dec,
                key[1],
                hours=cal.wait_timeout_s / 3600.0 + 1.0,
                max_dec_offset_deg=cal.max_dec_offset_deg,
                min_flux_jy=cal.min_calibrator_flux_jy,
            )
        return self._transit_cache[key]

    def _covered(self, when: datetime) -> bool:
        """Whether a valid calibration set covers ``when`` already."""
        return bool(self.repository.calibration.list_sets(status="valid", covering=when, limit=1))

    def _submit(self, claim: ServiceGroupRecord, *, resumed: bool) -> None:
        self.tracker.emit(
            ServiceEvent("group.resumed" if resumed else "group.claimed", claim.group_id)
        )
        future = self._pool.submit(self._process, claim, resumed)
        self._futures[future] = claim.group_id
        future.add_done_callback(lambda _f: self.wake.set())

    def _process(self, claim: ServiceGroupRecord, resumed: bool) -> FinishedGroup:
        try:
            return self._processor.process(claim, resumed=resumed)
        except BaseException as exc:  # a bug: do not leave the group claimed forever
            error = f"service error: {type(exc).__name__}: {exc}"
            _log.exception("group.service_error", group_id=claim.group_id)
            self.repository.service.update_claim(
                claim.group_pk, self.owner, state=ClaimState.FAILED, error=error
            )
            self._processor.fail_group(claim.group_id, error)
            raise

    def _reap(self) -> None:
        for future in [f for f in self._futures if f.done()]:
            self._futures.pop(future)
            if not future.cancelled() and future.exception() is None:
                self._finished.append(future.result())

    def _reap_dead_workers(self) -> None:
        """Let the leases of dead processes lapse now: same host and pid gone, or silent."""
        host = socket.gethostname()
        stale = datetime.now(UTC) - timedelta(seconds=self.settings.executor.lease_s)
        for worker in self.repository.service.workers(live_only=True):
            if worker.owner == self.owner:
                continue
            gone = worker.host == host and not _alive(worker.pid, worker.process_started_at)
            if gone or worker.heartbeat_at < stale:
                self.repository.service.set_worker_state(worker.owner, "dead")
                released = self.repository.service.expire_owner(worker.owner) if gone else 0
                _log.warning(
                    "service.dead_process", owner=worker.owner, released=released, same_host=gone
                )

    # -- heartbeat, workflows, events ----------------------------------------
    def _beat(self) -> None:
        service = self.repository.service
        every = self.settings.executor.heartbeat_s
        while not self._heartbeat_stop.wait(every):
            try:
                service.heartbeat(
                    self.owner,
                    lease_s=self.settings.executor.lease_s,
                    info={
                        "active": sorted(a.group_id for a in self.tracker.snapshot()[0]),
                        "watcher": self.is_watcher,
                    },
                )
            except Exception as exc:  # the database may be briefly unavailable; try again
                _log.warning("service.heartbeat_failed", error=str(exc))

    def _build(self, name: str) -> Workflow:
        if name not in self._workflow_cache:
            if name not in self.workflows:
                raise ConfigurationError(
                    f"workflow {name!r} is not registered; "
                    f"known: {', '.join(sorted(self.workflows))}"
                )
            self._workflow_cache[name] = self.workflows[name](self.settings)
        return self._workflow_cache[name]

    def _forward_runner_event(self, event: Mapping[str, Any]) -> None:
        name = event.get("event")
        if name in RUNNER_EVENTS and "group_id" in event:
            self.tracker.emit(
                ServiceEvent(
                    str(name),
                    str(event["group_id"]),
                    workflow=event.get("workflow"),
                    stage=event.get("stage"),
                    run_id=event.get("run_id"),
                    message=event.get("error"),
                )
            )

    # -- status -----------------------------------------------------------
    def snapshot(self) -> ServiceSnapshot:
        """Where this process and the shared queue stand (cheap: one small query)."""
        active, finished, indexed = self.tracker.snapshot()
        watcher = self.watcher
        return ServiceSnapshot(
            owner=self.owner,
            watching=self.is_watcher,
            stopping=self.stopping,
            slots=self.slots,
            queue=self.repository.service.queue_summary(),
            active=active,
            finished=finished,
            pending_files=watcher.pending if watcher is not None else 0,
            indexed_files=indexed,
            rejected_files=tuple(str(p) for p in watcher.rejected) if watcher else (),
        )
