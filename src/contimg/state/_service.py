"""The streaming service's claims, leases and heartbeats (revision ``0006_service``).

Tables
------
``service_workers``
    One row per ``contimg watch`` process (its *owner* id, host, pid, state and last
    heartbeat). The API's health endpoint reads :meth:`SqlServiceStore.last_heartbeat`.
``service_leases``
    Named singleton leases (``"watcher"``: the one process that indexes incoming files).
``service_groups``
    One row per subband group the service has planned: the workflows to run in order
    (``plan``, e.g. ``["calibrator", "standard"]``), the step reached, the runs made,
    and the claim: ``owner`` and ``expires_at``.

Claims and leases
-----------------
A ``service_groups`` row goes ``waiting`` -> ``claimed`` -> ``running`` -> ``done`` |
``failed``. :meth:`SqlServiceStore.claim` moves one ``waiting`` row to ``claimed`` with
:meth:`~contimg.state._base.SqlStore.claim_one` (``BEGIN IMMEDIATE`` on SQLite, ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL), so a group is handed to exactly one process. The
owner renews ``expires_at`` with every :meth:`SqlServiceStore.heartbeat`; a row whose
lease lapsed (its process died) is handed to one other process by
:meth:`SqlServiceStore.take_over_expired`, which then resumes the recorded run. Every
later change of a claimed row names the owner and changes nothing (returns ``False``)
when the row has been taken over meanwhile.

Why one store
-------------
Worker liveness and the claim queue share their clock: :meth:`SqlServiceStore.heartbeat`
renews a process's row, every claim it holds and its named leases in one transaction, and
:meth:`SqlServiceStore.expire_owner` lapses claims and leases together. Split into two stores,
a heartbeat could renew a process but not its claims, and another process would take over
groups that are still being worked on.

For the API
-----------
- :meth:`SqlServiceStore.last_heartbeat`: newest heartbeat of a live service process
  (``None`` when no service ever ran or all stopped).
- :meth:`SqlServiceStore.queue_depth`: groups ready or in progress (not yet done or failed).
- :meth:`SqlServiceStore.queue_summary`: those counts per state, for dashboards.
- :meth:`SqlServiceStore.workers`: the service processes and their states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from contimg.state._base import (
    JSONValue,
    SqlStore,
    UTCDateTime,
    as_utc,
    id_column,
    ref_column,
    utcnow,
)
from contimg.state._ingest import GroupRecord, GroupState, files, groups
from contimg.state.records import RunStatus
from contimg.state.schema import metadata, runs

__all__ = [
    "ClaimState",
    "GroupRun",
    "QueueSummary",
    "ServiceGroupRecord",
    "ServiceStore",
    "SqlServiceStore",
    "WorkerRecord",
    "service_groups",
    "service_leases",
    "service_workers",
]

_OWNER = sa.String(200)

service_workers = sa.Table(
    "service_workers",
    metadata,
    id_column(),
    sa.Column("owner", _OWNER, nullable=False, unique=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("process_started_at", UTCDateTime),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("info", JSONValue, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
)

service_leases = sa.Table(
    "service_leases",
    metadata,
    id_column(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("owner", _OWNER, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

service_groups = sa.Table(
    "service_groups",
    metadata,
    id_column(),
    # groups.id (stable when a provisional group id is re-keyed); no foreign key: the groups
    # table belongs to another migration branch, whose order relative to this one is free.
    sa.Column("group_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("group_id", sa.String(64), nullable=False),
    sa.Column("plan", JSONValue, nullable=False),
    sa.Column("calibrator", sa.String(64)),
    sa.Column("transit_at", UTCDateTime),
    sa.Column("obs_start", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    ref_column("run_id", "runs.id", ondelete="SET NULL"),
    sa.Column("run_ids", JSONValue, nullable=False),
    sa.Column("owner", _OWNER),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("takeovers", sa.Integer, nullable=False),
    sa.Column("ready_at", UTCDateTime),
    sa.Column("wait_reason", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("group_pk"),
    sa.Index(None, "state", "expires_at"),
    sa.Index(None, "owner"),
)


class ClaimState(StrEnum):
    """Life cycle of a group in the service."""

    WAITING = "waiting"
    CLAIMED = "claimed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_HELD = (ClaimState.CLAIMED.value, ClaimState.RUNNING.value)
_OPEN = (ClaimState.WAITING.value, *_HELD)
_LIVE_WORKER = ("running", "draining")


@dataclass(frozen=True)
class ServiceGroupRecord:
    """One planned group and its claim."""

    id: int
    group_pk: int
    group_id: str
    plan: tuple[str, ...]
    calibrator: str | None
    transit_at: datetime | None
    obs_start: datetime
    state: ClaimState
    step: int
    run_id: int | None
    run_ids: tuple[int, ...]
    owner: str | None
    claimed_at: datetime | None
    expires_at: datetime | None
    takeovers: int
    ready_at: datetime | None
    wait_reason: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def workflow(self) -> str | None:
        """The workflow of the current step (``None`` once every step is done)."""
        return self.plan[self.step] if self.step < len(self.plan) else None


@dataclass(frozen=True)
class WorkerRecord:
    """One service process."""

    id: int
    owner: str
    host: str
    pid: int
    process_started_at: datetime | None
    slots: int
    state: str
    info: Mapping[str, Any]
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True)
class QueueSummary:
    """Groups known to the service, by where they stand.

    Attributes
    ----------
    collecting : int
        Planned groups still receiving files.
    ready : int
        Complete (or timed-out incomplete) groups not yet claimed, including those
        waiting for a calibration set (``waiting_for_calibration``).
    waiting_for_calibration : int
        Ready groups held back while a calibrator group in their window is processed.
    running : int
        Claimed groups (a run queued or in progress).
    done, failed : int
        Finished groups.
    """

    collecting: int = 0
    ready: int = 0
    waiting_for_calibration: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    @property
    def depth(self) -> int:
        """Return the number of groups ready or in progress."""
        return self.ready + self.running


@dataclass(frozen=True)
class GroupRun:
    """A run recorded for a group (from the ``runs`` table)."""

    run_id: int
    workflow: str
    status: RunStatus
    created_at: datetime
    error: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)


class ServiceStore(Protocol):
    """What the streaming service and the API ask of the service tables."""

    def register_worker(
        self,
        owner: str,
        *,
        host: str,
        pid: int,
        slots: int,
        process_started_at: datetime | None = None,
    ) -> WorkerRecord:
        """Insert (or revive) the row of a service process."""
        ...

    def heartbeat(
        self, owner: str, *, lease_s: float, info: Mapping[str, Any] | None = None
    ) -> None:
        """Renew the process's heartbeat, its group claims and its named leases."""
        ...

    def set_worker_state(self, owner: str, state: str) -> None:
        """Record ``running``, ``draining``, ``stopped`` or ``dead``."""
        ...

    def workers(self, *, live_only: bool = False) -> list[WorkerRecord]:
        """Service processes, newest heartbeat first."""
        ...

    def last_heartbeat(self) -> datetime | None:
        """Newest heartbeat of a running or draining service process."""
        ...

    def expire_owner(self, owner: str) -> int:
        """Let every claim and lease of ``owner`` lapse now; return the claims released."""
        ...

    def acquire_lease(self, name: str, owner: str, *, lease_s: float) -> bool:
        """Take or renew the named lease when free, lapsed or already ours."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Give up a named lease held by ``owner``."""
        ...

    def indexed_paths(self, directory: str) -> set[str]:
        """Paths of the indexed files under ``directory`` (absolute)."""
        ...

    def unplanned_groups(self, *, limit: int = 100) -> list[GroupRecord]:
        """Assembling or ready groups that have no service row yet, oldest first."""
        ...

    def add_group(
        self,
        group: GroupRecord,
        *,
        plan: Sequence[str],
        obs_start: datetime,
        calibrator: str | None = None,
        transit_at: datetime | None = None,
    ) -> bool:
        """Plan a group (idempotent: ``False`` when it already has a row)."""
        ...

    def mark_ready(self) -> int:
        """Stamp ``ready_at`` on planned groups that just became claimable."""
        ...

    def data_clock(self) -> tuple[datetime, datetime] | None:
        """Newest file timestamp indexed, and when the newest file was indexed."""
        ...

    def candidates(self, *, limit: int = 50) -> list[tuple[ServiceGroupRecord, GroupRecord]]:
        """Claimable waiting groups: calibrator groups first, then by time."""
        ...

    def pending_calibrators(self) -> list[ServiceGroupRecord]:
        """Calibrator groups whose calibrator run has not finished (nor failed)."""
        ...

    def claim(self, group_pk: int, owner: str, *, lease_s: float) -> ServiceGroupRecord | None:
        """Claim one waiting group (exactly once across processes)."""
        ...

    def take_over_expired(self, owner: str, *, lease_s: float) -> ServiceGroupRecord | None:
        """Claim one group whose owner's lease lapsed."""
        ...

    def update_claim(
        self,
        group_pk: int,
        owner: str,
        *,
        state: ClaimState | None = None,
        step: int | None = None,
        run_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        """Change a claimed row if ``owner`` still holds it."""
        ...

    def set_wait_reason(self, group_pk: int, reason: str | None) -> None:
        """Say why a ready group is held back (``None``: it is not)."""
        ...

    def get(self, group_pk: int) -> ServiceGroupRecord | None:
        """One planned group by ``groups.id``."""
        ...

    def list_claims(
        self, *, states: Sequence[ClaimState] | None = None, limit: int = 200
    ) -> list[ServiceGroupRecord]:
        """Planned groups by observation time (filter by state)."""
        ...

    def runs_for_group(
        self, group_id: str, *, workflow: str | None = None, since: datetime | None = None
    ) -> list[GroupRun]:
        """Return the runs whose inputs name ``group_id``, newest first."""
        ...

    def queue_summary(self) -> QueueSummary:
        """Return the counts of planned groups per state."""
        ...

    def queue_depth(self) -> int:
        """Return the number of groups ready or in progress."""
        ...


def _record(row: RowMapping) -> ServiceGroupRecord:
    values = {c.name: row[c.name] for c in service_groups.c}
    values["plan"] = tuple(values["plan"] or ())
    values["run_ids"] = tuple(values["run_ids"] or ())
    values["state"] = ClaimState(values["state"])
    return ServiceGroupRecord(**values)


def _worker(row: RowMapping) -> WorkerRecord:
    values = dict(row)
    values["info"] = values["info"] or {}
    return WorkerRecord(**values)


def _group(row: RowMapping) -> GroupRecord:
    values = {c.name: row[c.name] for c in groups.c}
    values["state"] = GroupState(values["state"])
    return GroupRecord(**values)


_CLAIMABLE = (GroupState.COMPLETE.value, GroupState.INCOMPLETE.value)
_ASSEMBLING = (GroupState.COLLECTING.value, *_CLAIMABLE)


class SqlServiceStore(SqlStore):
    """SQL implementation of :class:`ServiceStore`."""

    # -- workers ----------------------------------------------------------
    def register_worker(
        self,
        owner: str,
        *,
        host: str,
        pid: int,
        slots: int,
        process_started_at: datetime | None = None,
    ) -> WorkerRecord:
        """Insert the row of a service process (owner ids are unique per process start)."""
        now = utcnow()
        values = {
            "host": host,
            "pid": pid,
            "process_started_at": process_started_at,
            "slots": slots,
            "state": "running",
            "info": {},
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        }
        with self.write() as conn:
            found = conn.execute(
                sa.select(service_workers.c.id).where(service_workers.c.owner == owner)
            ).first()
            if found is None:
                conn.execute(sa.insert(service_workers).values(owner=owner, **values))
            else:
                conn.execute(
                    sa.update(service_workers)
                    .where(service_workers.c.id == found[0])
                    .values(**values)
                )
            row = (
                conn.execute(sa.select(service_workers).where(service_workers.c.owner == owner))
                .mappings()
                .one()
            )
        return _worker(row)

    def heartbeat(
        self, owner: str, *, lease_s: float, info: Mapping[str, Any] | None = None
    ) -> None:
        """Renew the heartbeat, every claim ``owner`` holds and its named leases, atomically."""
        now = utcnow()
        until = now + timedelta(seconds=lease_s)
        worker: dict[str, Any] = {"heartbeat_at": now}
        if info is not None:
            worker["info"] = dict(info)
        with self.write() as conn:
            conn.execute(
                sa.update(service_workers).where(service_workers.c.owner == owner).values(**worker)
            )
            conn.execute(
                sa.update(service_groups)
                .where(service_groups.c.owner == owner, service_groups.c.state.in_(_HELD))
                .values(expires_at=until)
            )
            conn.execute(
                sa.update(service_leases)
                .where(service_leases.c.owner == owner)
                .values(expires_at=until)
            )

    def set_worker_state(self, owner: str, state: str) -> None:
        """Record the process state; ``stopped``/``dead`` also stamp ``stopped_at``."""
        values: dict[str, Any] = {"state": state}
        if state in ("stopped", "dead"):
            values["stopped_at"] = utcnow()
        with self.write() as conn:
            conn.execute(
                sa.update(service_workers).where(service_workers.c.owner == owner).values(**values)
            )

    def workers(self, *, live_only: bool = False) -> list[WorkerRecord]:
        """Service processes, newest heartbeat first (``live_only``: running or draining)."""
        stmt = sa.select(service_workers).order_by(service_workers.c.heartbeat_at.desc())
        if live_only:
            stmt = stmt.where(service_workers.c.state.in_(_LIVE_WORKER))
        with self.read() as conn:
            return [_worker(r) for r in conn.execute(stmt).mappings().all()]

    def last_heartbeat(self) -> datetime | None:
        """Newest heartbeat of a running or draining service process, or ``None``.

        For a health check: compare with the current time and ``executor.lease_s``
        (a live service beats every ``executor.heartbeat_s``).
        """
        stmt = sa.select(sa.func.max(service_workers.c.heartbeat_at)).where(
            service_workers.c.state.in_(_LIVE_WORKER)
        )
        with self.read() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        if value is None:
            return None
        return UTCDateTime().process_result_value(value, self.engine.dialect)

    def expire_owner(self, owner: str) -> int:
        """Let every claim and named lease of ``owner`` lapse now (it is gone)."""
        now = utcnow()
        with self.write() as conn:
            n = conn.execute(
                sa.update(service_groups)
                .where(service_groups.c.owner == owner, service_groups.c.state.in_(_HELD))
                .values(expires_at=now)
            ).rowcount
            conn.execute(
                sa.update(service_leases)
                .where(service_leases.c.owner == owner)
                .values(expires_at=now)
            )
        return int(n)

    # -- named leases -----------------------------------------------------
    def acquire_lease(self, name: str, owner: str, *, lease_s: float) -> bool:
        """Take the lease ``name`` when it is free, lapsed or already ``owner``'s.

        Returns
        -------
        bool
            Whether ``owner`` holds the lease now (until ``lease_s`` from now).
        """
        now = utcnow()
        until = now + timedelta(seconds=lease_s)
        try:
            with self.write() as conn:
                row = (
                    conn.execute(
                        self.lock_rows(
                            sa.select(service_leases).where(service_leases.c.name == name),
                            skip_locked=False,
                        )
                    )
                    .mappings()
                    .first()
                )
                if row is None:
                    conn.execute(
                        sa.insert(service_leases).values(
                            name=name, owner=owner, acquired_at=now, expires_at=until
                        )
                    )
                    return True
                if row["owner"] == owner:
                    conn.execute(
                        sa.update(service_leases)
                        .where(service_leases.c.id == row["id"])
                        .values(expires_at=until)
                    )
                    return True
                if row["expires_at"] < now:
                    conn.execute(
                        sa.update(service_leases)
                        .where(service_leases.c.id == row["id"])
                        .values(owner=owner, acquired_at=now, expires_at=until)
                    )
                    return True
                return False
        except IntegrityError:  # another process inserted the row first (PostgreSQL)
            return False

    def release_lease(self, name: str, owner: str) -> None:
        """Give up the lease ``name`` if ``owner`` holds it."""
        with self.write() as conn:
            conn.execute(
                sa.delete(service_leases).where(
                    service_leases.c.name == name, service_leases.c.owner == owner
                )
            )

    # -- planning ---------------------------------------------------------
    def indexed_paths(self, directory: str) -> set[str]:
        """Paths of the files already indexed under ``directory`` (so a restart re-reads none)."""
        prefix = directory.rstrip("/") + "/"
        stmt = sa.select(files.c.path).where(files.c.path.startswith(prefix, autoescape=True))
        with self.read() as conn:
            return set(conn.execute(stmt).scalars())

    def unplanned_groups(self, *, limit: int = 100) -> list[GroupRecord]:
        """Return collecting, complete or incomplete groups without a service row, oldest first."""
        stmt = (
            sa.select(groups)
            .outerjoin(service_groups, service_groups.c.group_pk == groups.c.id)
            .where(service_groups.c.id.is_(None), groups.c.state.in_(_ASSEMBLING))
            .order_by(groups.c.first_timestamp, groups.c.id)
            .limit(limit)
        )
        with self.read() as conn:
            return [_group(r) for r in conn.execute(stmt).mappings().all()]

    def add_group(
        self,
        group: GroupRecord,
        *,
        plan: Sequence[str],
        obs_start: datetime,
        calibrator: str | None = None,
        transit_at: datetime | None = None,
    ) -> bool:
        """Plan ``group``: the workflows to run in order and its calibrator transit.

        Returns
        -------
        bool
            ``False`` when the group was planned already (by this or another process).
        """
        now = utcnow()
        values = {
            "group_pk": group.id,
            "group_id": group.group_id,
            "plan": list(plan),
            "calibrator": calibrator,
            "transit_at": transit_at,
            "obs_start": as_utc(obs_start),
            "state": ClaimState.WAITING.value,
            "step": 0,
            "run_ids": [],
            "takeovers": 0,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.write() as conn:
                if conn.execute(
                    sa.select(service_groups.c.id).where(service_groups.c.group_pk == group.id)
                ).first():
                    return False
                conn.execute(sa.insert(service_groups).values(**values))
        except IntegrityError:  # planned concurrently by another process (PostgreSQL)
            return False
        return True

    def mark_ready(self) -> int:
        """Stamp ``ready_at`` (the start of any calibration wait) on newly claimable groups."""
        ready = sa.select(groups.c.id).where(groups.c.state.in_(_CLAIMABLE))
        with self.write() as conn:
            n = conn.execute(
                sa.update(service_groups)
                .where(
                    service_groups.c.ready_at.is_(None),
                    service_groups.c.state == ClaimState.WAITING.value,
                    service_groups.c.group_pk.in_(ready),
                )
                .values(ready_at=utcnow())
            ).rowcount
        return int(n)

    def data_clock(self) -> tuple[datetime, datetime] | None:
        """Return the newest file timestamp indexed and when the newest file was indexed.

        The first is the clock of the data stream (simulated nights run on their own
        time); the second says whether the stream is still flowing.
        """
        stmt = sa.select(sa.func.max(files.c.timestamp), sa.func.max(files.c.indexed_at))
        with self.read() as conn:
            newest, indexed = conn.execute(stmt).one()
        if newest is None:
            return None
        convert = UTCDateTime().process_result_value
        return convert(newest, self.engine.dialect), convert(indexed, self.engine.dialect)

    def candidates(self, *, limit: int = 50) -> list[tuple[ServiceGroupRecord, GroupRecord]]:
        """Return waiting complete/incomplete groups: calibrator groups first, then by time."""
        stmt = (
            sa.select(service_groups, *[c.label(f"g_{c.name}") for c in groups.c])
            .join(groups, groups.c.id == service_groups.c.group_pk)
            .where(
                service_groups.c.state == ClaimState.WAITING.value,
                groups.c.state.in_(_CLAIMABLE),
            )
            .order_by(
                service_groups.c.calibrator.is_(None),
                groups.c.first_timestamp,
                groups.c.id,
            )
            .limit(limit)
        )
        out = []
        with self.read() as conn:
            for row in conn.execute(stmt).mappings().all():
                grow = {c.name: row[f"g_{c.name}"] for c in groups.c}
                out.append((_record(row), _group(grow)))
        return out

    def pending_calibrators(self) -> list[ServiceGroupRecord]:
        """Calibrator groups whose first step (the calibrator run) is still to come or running."""
        stmt = (
            sa.select(service_groups)
            .join(groups, groups.c.id == service_groups.c.group_pk)
            .where(
                service_groups.c.calibrator.is_not(None),
                service_groups.c.step == 0,
                sa.or_(
                    service_groups.c.state.in_(_HELD),
                    sa.and_(
                        service_groups.c.state == ClaimState.WAITING.value,
                        groups.c.state.in_(_ASSEMBLING),
                    ),
                ),
            )
            .order_by(service_groups.c.obs_start)
        )
        with self.read() as conn:
            return [_record(r) for r in conn.execute(stmt).mappings().all()]

    # -- claims -----------------------------------------------------------
    def claim(self, group_pk: int, owner: str, *, lease_s: float) -> ServiceGroupRecord | None:
        """Claim the waiting group ``group_pk`` for ``owner``; ``None`` if it is not waiting.

        Exactly once: of any number of concurrent callers (threads, processes, hosts on
        PostgreSQL) one gets the row, the others ``None``.
        """
        now = utcnow()
        current_id = (
            sa.select(groups.c.group_id)
            .where(groups.c.id == service_groups.c.group_pk)
            .scalar_subquery()
        )
        row = self.claim_one(
            service_groups,
            where=sa.and_(
                service_groups.c.group_pk == group_pk,
                service_groups.c.state == ClaimState.WAITING.value,
            ),
            values={
                "state": ClaimState.CLAIMED.value,
                "owner": owner,
                "claimed_at": now,
                "expires_at": now + timedelta(seconds=lease_s),
                "group_id": current_id,
                "wait_reason": None,
                "updated_at": now,
            },
        )
        return None if row is None else _record(row)

    def take_over_expired(self, owner: str, *, lease_s: float) -> ServiceGroupRecord | None:
        """Claim one group whose lease lapsed (its owner died); oldest observation first."""
        now = utcnow()
        row = self.claim_one(
            service_groups,
            where=sa.and_(
                service_groups.c.state.in_(_HELD),
                service_groups.c.expires_at < now,
            ),
            values={
                "owner": owner,
                "expires_at": now + timedelta(seconds=lease_s),
                "takeovers": service_groups.c.takeovers + 1,
                "updated_at": now,
            },
            order_by=(service_groups.c.obs_start, service_groups.c.id),
        )
        return None if row is None else _record(row)

    def update_claim(
        self,
        group_pk: int,
        owner: str,
        *,
        state: ClaimState | None = None,
        step: int | None = None,
        run_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        """Change the claimed row of ``group_pk`` if ``owner`` still holds it.

        ``run_id`` becomes the current run and is appended to ``run_ids``; a final
        ``state`` (done, failed) releases the claim.

        Returns
        -------
        bool
            ``False`` when another process took the group over meanwhile (nothing changed).
        """
        values: dict[str, Any] = {"updated_at": utcnow()}
        if state is not None:
            values["state"] = ClaimState(state).value
            if values["state"] in (ClaimState.DONE.value, ClaimState.FAILED.value):
                values["expires_at"] = None
        if step is not None:
            values["step"] = step
        if error is not None:
            values["error"] = error
        cond = sa.and_(
            service_groups.c.group_pk == group_pk,
            service_groups.c.owner == owner,
            service_groups.c.state.in_(_HELD),
        )
        with self.write() as conn:
            row = conn.execute(
                self.lock_rows(sa.select(service_groups.c.run_ids).where(cond), skip_locked=False)
            ).first()
            if row is None:
                return False
            if run_id is not None:
                values["run_id"] = run_id
                ids = list(row[0] or [])
                if run_id not in ids:
                    values["run_ids"] = [*ids, run_id]
            conn.execute(sa.update(service_groups).where(cond).values(**values))
        return True

    def set_wait_reason(self, group_pk: int, reason: str | None) -> None:
        """Say why a waiting group is held back (shown by ``watch`` and the API)."""
        with self.write() as conn:
            conn.execute(
                sa.update(service_groups)
                .where(
                    service_groups.c.group_pk == group_pk,
                    service_groups.c.state == ClaimState.WAITING.value,
                )
                .values(wait_reason=reason)
            )

    def get(self, group_pk: int) -> ServiceGroupRecord | None:
        """One planned group by ``groups.id``, or ``None``."""
        with self.read() as conn:
            row = (
                conn.execute(sa.select(service_groups).where(service_groups.c.group_pk == group_pk))
                .mappings()
                .first()
            )
        return None if row is None else _record(row)

    def list_claims(
        self, *, states: Sequence[ClaimState] | None = None, limit: int = 200
    ) -> list[ServiceGroupRecord]:
        """Planned groups by observation time, oldest first (optionally only ``states``)."""
        stmt = sa.select(service_groups).order_by(service_groups.c.obs_start, service_groups.c.id)
        if states is not None:
            stmt = stmt.where(service_groups.c.state.in_([ClaimState(s).value for s in states]))
        with self.read() as conn:
            return [_record(r) for r in conn.execute(stmt.limit(limit)).mappings().all()]

    def runs_for_group(
        self, group_id: str, *, workflow: str | None = None, since: datetime | None = None
    ) -> list[GroupRun]:
        """Return the runs whose ``inputs["group_id"]`` is ``group_id``, newest first.

        Parameters
        ----------
        group_id : str
            The group.
        workflow : str, optional
            Only runs of this workflow.
        since : datetime, optional
            Only runs created at or after this time (keeps the scan short).
        """
        stmt = sa.select(runs).order_by(runs.c.id.desc())
        if workflow is not None:
            stmt = stmt.where(runs.c.workflow == workflow)
        if since is not None:
            stmt = stmt.where(runs.c.created_at >= as_utc(since))
        out = []
        with self.read() as conn:
            for row in conn.execute(stmt.limit(500)).mappings():
                inputs = row["inputs"] or {}
                if inputs.get("group_id") != group_id:
                    continue
                out.append(
                    GroupRun(
                        row["id"],
                        row["workflow"],
                        RunStatus(row["status"]),
                        row["created_at"],
                        row["error"],
                        inputs,
                    )
                )
        return out

    # -- queue ------------------------------------------------------------
    def queue_summary(self) -> QueueSummary:
        """Count planned groups: collecting, ready (and waiting for calibration), running, ...

        See :class:`QueueSummary`.
        """
        stmt = (
            sa.select(
                service_groups.c.state,
                groups.c.state.label("group_state"),
                (service_groups.c.wait_reason.is_not(None)).label("held"),
                sa.func.count().label("n"),
            )
            .join(groups, groups.c.id == service_groups.c.group_pk)
            .group_by(service_groups.c.state, groups.c.state, "held")
        )
        counts = dict.fromkeys(
            ("collecting", "ready", "waiting_for_calibration", "running", "done", "failed"), 0
        )
        with self.read() as conn:
            for state, group_state, held, n in conn.execute(stmt):
                if state == ClaimState.WAITING.value:
                    if group_state == GroupState.COLLECTING.value:
                        counts["collecting"] += n
                    elif group_state in _CLAIMABLE:
                        counts["ready"] += n
                        if held:
                            counts["waiting_for_calibration"] += n
                elif state in _HELD:
                    counts["running"] += n
                elif state == ClaimState.DONE.value:
                    counts["done"] += n
                elif state == ClaimState.FAILED.value:
                    counts["failed"] += n
        return QueueSummary(**counts)

    def queue_depth(self) -> int:
        """Return the service's backlog: groups ready (complete, unclaimed) or in progress."""
        return self.queue_summary().depth
