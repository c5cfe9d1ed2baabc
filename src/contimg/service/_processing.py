"""Work on one claimed group: run its plan, resume what a dead process left, record the end.

Runs go through the engine's :class:`~contimg.pipeline.Runner`. A group taken over from a
process that died is *resumed*, not started again: the newest run of the current step made
since the group was claimed is marked ``crashed`` (with its attempts still recorded as
running) and :meth:`Runner.resume` runs what did not complete, reusing the completed stages'
products. A run that fails fails the group with the run's error.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from contimg.config.settings import Settings
from contimg.pipeline import ContimgError, Runner, RunResult, Workflow
from contimg.service._events import ActiveGroup, FinishedGroup, ServiceEvent, Tracker
from contimg.state import RunStatus, SqlStateRepository, StageStatus
from contimg.state._ingest import GroupState
from contimg.state._service import ClaimState, ServiceGroupRecord

__all__ = ["RELEASED", "ClaimProcessor", "LeaseLost"]

_log = structlog.get_logger("contimg.service")


#: How a group ends in a process that stopped between two workflows of its plan.
RELEASED = "released"


class LeaseLost(RuntimeError):
    """Another process took the group over (this one missed its heartbeats)."""


def _now() -> datetime:
    return datetime.now(UTC)


class ClaimProcessor:
    """Process claimed groups for one service process.

    Parameters
    ----------
    settings : Settings
        ``conversion.missing_subbands``, ``ingest.group_timeout_s``, ``paths.scratch_dir``.
    repository : SqlStateRepository
        The state store.
    runner : Runner
        Shared by every worker slot.
    build : callable
        Workflow name -> Workflow.
    owner : str
        This process's owner id.
    tracker : Tracker
        Progress memory and hook.
    should_stop : callable
        Polled between the workflows of a plan: ``True`` leaves the rest to another process.
    """

    def __init__(
        self,
        settings: Settings,
        repository: SqlStateRepository,
        runner: Runner,
        build: Callable[[str], Workflow],
        owner: str,
        tracker: Tracker,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.runner = runner
        self.build = build
        self.owner = owner
        self.tracker = tracker
        self.should_stop = should_stop

    # -- bookkeeping ------------------------------------------------------
    def _update(
        self,
        claim: ServiceGroupRecord,
        *,
        state: ClaimState | None = None,
        step: int | None = None,
        run_id: int | None = None,
        error: str | None = None,
    ) -> None:
        if not self.repository.service.update_claim(
            claim.group_pk, self.owner, state=state, step=step, run_id=run_id, error=error
        ):
            raise LeaseLost(f"group {claim.group_id} was taken over by another process")

    def fail_group(self, group_id: str, error: str) -> None:
        """Set the group ``failed`` with ``error``, unless its MS was made.

        The group state follows conversion only (as :func:`contimg.workflows.run_workflow`
        has it): a run that fails after the MS was registered leaves the group
        ``converted``; the failure is on the run and on the service's claim. A group that
        never reached ``converting`` (an incomplete group under ``missing_subbands =
        "fail"``, or a run refused before its first stage) passes through ``converting``,
        the only state the group state machine fails from.
        """
        store = self.repository.groups
        group = store.get_group(group_id)
        if group is None or group.state in (GroupState.FAILED, GroupState.CONVERTED):
            return
        try:
            if group.state is not GroupState.CONVERTING:
                store.set_state(group_id, GroupState.CONVERTING)
            store.set_state(group_id, GroupState.FAILED, error=error)
        except (KeyError, ValueError) as exc:
            _log.error("group.fail_not_recorded", group_id=group_id, error=str(exc))

    # -- the work ---------------------------------------------------------
    def process(self, claim: ServiceGroupRecord, *, resumed: bool) -> FinishedGroup:
        """Run the rest of ``claim``'s plan; return how the group ended here.

        The state is ``done``, ``failed``, or ``released``: a stop was requested between
        two workflows of the plan, so the claim is left for another process (the service
        lets it lapse at once when it closes) to go on with the next workflow.
        """
        t0 = time.monotonic()
        gid = claim.group_id
        self.tracker.start(
            ActiveGroup(gid, claim.plan, claim.step, claim.workflow, resumed=resumed)
        )
        run_ids = list(claim.run_ids)
        with structlog.contextvars.bound_contextvars(group_id=gid):
            try:
                state, error = self._run_plan(claim, run_ids, resumed=resumed)
            except LeaseLost as exc:
                _log.error("group.lease_lost", error=str(exc))
                state, error = ClaimState.FAILED.value, str(exc)
            except ContimgError as exc:  # configuration / input errors: this group cannot run
                state, error = ClaimState.FAILED.value, f"{type(exc).__name__}: {exc}"
                self.fail_group(gid, error)
                self.repository.service.update_claim(
                    claim.group_pk, self.owner, state=ClaimState.FAILED, error=error
                )
            log = _log.error if state == ClaimState.FAILED.value else _log.info
            log(f"group.{state}", runs=run_ids, error=error)
        done = FinishedGroup(gid, state, claim.plan, tuple(run_ids), time.monotonic() - t0, error)
        self.tracker.finish(done)
        self.tracker.emit(
            ServiceEvent(
                f"group.{state}", gid, run_id=run_ids[-1] if run_ids else None, message=error
            )
        )
        return done

    def _run_plan(
        self, claim: ServiceGroupRecord, run_ids: list[int], *, resumed: bool
    ) -> tuple[str, str | None]:
        """Run the plan from the claim's step: ``(state, error)``; ``run_ids`` grows."""
        error = self._incomplete_error(claim)
        step = claim.step
        while error is None and step < len(claim.plan):
            if step > claim.step and self.should_stop():
                return RELEASED, None
            result = self._run_step(claim, step, resumed=resumed)
            resumed = False
            if result is not None:
                run_ids.append(result.run_id)
                self._update(claim, run_id=result.run_id)
                if not result.ok:
                    run = self.repository.get_run(result.run_id)
                    error = run.error if run and run.error else f"run {result.run_id} failed"
                    break
            step += 1
            self._update(claim, step=step)
        if error is not None:
            self.fail_group(claim.group_id, error)
            self._update(claim, state=ClaimState.FAILED, error=error)
            return ClaimState.FAILED.value, error
        self._update(claim, state=ClaimState.DONE)
        return ClaimState.DONE.value, None

    def _incomplete_error(self, claim: ServiceGroupRecord) -> str | None:
        """Return the failure message of an incomplete group under ``missing_subbands = "fail"``."""
        group = self.repository.groups.get_group(claim.group_id)
        if group is None:
            return f"group {claim.group_id} no longer exists"
        if group.state is not GroupState.INCOMPLETE:
            return None
        if self.settings.conversion.missing_subbands != "fail":
            return None  # "flag": the standard workflow converts with the gap flagged
        have = set(self.repository.groups.group_files(group.group_id))
        missing = [k for k in range(group.n_expected) if k not in have]
        names = ", ".join(f"sb{k:02d}" for k in missing)
        message = (
            f"group {group.group_id} incomplete: missing subband(s) {names} "
            f"({group.n_subbands} of {group.n_expected} indexed; "
            "conversion.missing_subbands = 'fail')"
        )
        return f"{message}: {group.error}" if group.error else message

    def _run_step(self, claim: ServiceGroupRecord, step: int, *, resumed: bool) -> RunResult | None:
        """Run (or resume) the workflow of ``step``; ``None`` when it had already completed."""
        name = claim.plan[step]
        workflow = self.build(name)
        self._update(claim, state=ClaimState.RUNNING, step=step)
        self.tracker.update(claim.group_id, step=step, workflow=name, stages={})
        if resumed:
            previous = self._previous_run(claim, name)
            if previous is not None:
                if previous.status is RunStatus.COMPLETED:
                    return None
                if previous.status is RunStatus.FAILED:
                    return RunResult(previous.run_id, name, previous.status, {}, {})
                self._close_dead_run(previous.run_id)
                self.tracker.emit(
                    ServiceEvent(
                        "group.resumed", claim.group_id, workflow=name, run_id=previous.run_id
                    )
                )
                _log.warning("group.resumed", workflow=name, run_id=previous.run_id)
                return self.runner.resume(previous.run_id, workflow)
        return self.runner.run(workflow, {"group_id": claim.group_id}, trigger="service")

    def _previous_run(self, claim: ServiceGroupRecord, workflow: str):  # -> GroupRun | None
        since = (claim.claimed_at or claim.created_at) - timedelta(seconds=1)
        found = self.repository.service.runs_for_group(
            claim.group_id, workflow=workflow, since=since
        )
        return found[0] if found else None

    def _close_dead_run(self, run_id: int) -> None:
        """Record a dead process's run and its running attempts as crashed; drop its scratch."""
        run = self.repository.get_run(run_id)
        reason = "the service process running it died (its lease expired)"
        if run is not None and not run.status.finished:
            self.repository.update_run(
                run_id, status=RunStatus.CRASHED, error=reason, ended_at=_now()
            )
        for attempt in self.repository.list_attempts(run_id):
            if attempt.status is StageStatus.RUNNING:
                self.repository.finish_attempt(
                    attempt.id,
                    status=StageStatus.CRASHED,
                    ended_at=_now(),
                    error_type="ServiceCrashed",
                    error_message=reason,
                )
        # the runner's per-run scratch directory; a dead runner could not remove it
        shutil.rmtree(self.settings.paths.scratch_dir / f"run-{run_id}", ignore_errors=True)
