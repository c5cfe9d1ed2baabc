"""Aggregate read queries for the dashboard, ``/metrics`` and ``health``.

The repository protocol lists and fetches records; counting runs by status or
bucketing thousands of stage durations is one SQL statement here instead of
loading every row. Tables are looked up in the shared MetaData by name, so a
product table that has not landed yet (``images``) simply yields nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from contimg.state import SqlStateRepository
from contimg.state.schema import metadata, runs, stage_executions

__all__ = [
    "GroupState",
    "StageDurationBuckets",
    "count_groups_waiting",
    "count_runs_by_status",
    "group_latencies",
    "last_product_time",
    "ping",
    "queue_depth",
    "recent_groups",
    "stage_duration_buckets",
]

#: Group states that mean "whole, waiting to be processed".
WAITING_GROUP_STATES = ("complete",)


def _table(name: str) -> sa.Table | None:
    return metadata.tables.get(name)


def ping(repo: SqlStateRepository) -> None:
    """Run ``SELECT 1``; raises when the database cannot be reached."""
    with repo.read() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def count_runs_by_status(repo: SqlStateRepository) -> dict[str, int]:
    """Count runs per status (statuses with no run are absent)."""
    stmt = sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
    with repo.read() as conn:
        return {status: int(n) for status, n in conn.execute(stmt)}


def count_groups_waiting(repo: SqlStateRepository) -> int:
    """Count groups waiting to be processed.

    The streaming service's ready groups when it has planned any; otherwise (no
    service ran on this database) the groups whose files are complete and that
    nothing has started converting.
    """
    summary = repo.service.queue_summary()
    if any(vars(summary).values()):
        return summary.ready
    groups = metadata.tables["groups"]
    stmt = sa.select(sa.func.count()).where(groups.c.state.in_(WAITING_GROUP_STATES))
    with repo.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def queue_depth(repo: SqlStateRepository) -> int:
    """Count groups ready or in progress (the service backlog; without it, those waiting)."""
    summary = repo.service.queue_summary()
    if any(vars(summary).values()):
        return summary.depth
    return count_groups_waiting(repo)


@dataclass(frozen=True)
class GroupState:
    """The few fields of a group the overview strip needs."""

    group_id: str
    state: str
    n_subbands: int
    n_expected: int


def recent_groups(repo: SqlStateRepository, n: int) -> list[GroupState]:
    """Return the newest ``n`` groups (by first file timestamp), oldest of them first."""
    groups = metadata.tables["groups"]
    stmt = (
        sa.select(groups.c.group_id, groups.c.state, groups.c.n_subbands, groups.c.n_expected)
        .order_by(groups.c.first_timestamp.desc(), groups.c.id.desc())
        .limit(n)
    )
    with repo.read() as conn:
        rows = conn.execute(stmt).all()
    return [GroupState(*row) for row in reversed(rows)]


def last_product_time(repo: SqlStateRepository, table: str = "images") -> datetime | None:
    """Creation time of the newest row of a product table (``None``: none, or no table)."""
    tab = _table(table)
    if tab is None or "created_at" not in tab.c:
        return None
    with repo.read() as conn:
        return conn.execute(sa.select(sa.func.max(tab.c.created_at))).scalar_one()


def group_latencies(repo: SqlStateRepository, limit: int = 200) -> list[float]:
    """Seconds from a group's last file being indexed to its image being registered.

    The newest ``limit`` images that name a group, newest first; empty until both
    the ``files`` and ``images`` tables exist and have rows.
    """
    files, images = _table("files"), _table("images")
    if files is None or images is None:
        return []
    landed = (
        sa.select(files.c.group_id, sa.func.max(files.c.indexed_at).label("landed"))
        .group_by(files.c.group_id)
        .subquery()
    )
    stmt = (
        sa.select(images.c.created_at, landed.c.landed)
        .join(landed, landed.c.group_id == images.c.group_id)
        .order_by(images.c.created_at.desc())
        .limit(limit)
    )
    with repo.read() as conn:
        rows = conn.execute(stmt).all()
    return [(made - came).total_seconds() for made, came in rows if made and came]


@dataclass(frozen=True)
class StageDurationBuckets:
    """Cumulative bucket counts of recorded attempt durations for one (workflow, stage, status)."""

    workflow: str
    stage: str
    status: str
    buckets: tuple[int, ...]
    count: int
    total_s: float


def stage_duration_buckets(
    repo: SqlStateRepository, bounds: Sequence[float]
) -> list[StageDurationBuckets]:
    """Histogram every recorded attempt's duration in the database (skips excluded).

    Parameters
    ----------
    repo : SqlStateRepository
        The state store.
    bounds : sequence of float
        Upper bucket bounds, seconds, ascending (``+Inf`` is implied).

    Returns
    -------
    list of StageDurationBuckets
        One entry per (workflow, stage, status), buckets cumulative.
    """
    se = stage_executions
    dur = se.c.duration_s
    cols = [sa.func.sum(sa.case((dur <= b, 1), else_=0)) for b in bounds]
    stmt = (
        sa.select(
            runs.c.workflow, se.c.stage, se.c.status, sa.func.count(), sa.func.sum(dur), *cols
        )
        .join(runs, runs.c.id == se.c.run_id)
        .where(dur.is_not(None), se.c.attempt > 0)
        .group_by(runs.c.workflow, se.c.stage, se.c.status)
        .order_by(runs.c.workflow, se.c.stage, se.c.status)
    )
    with repo.read() as conn:
        rows = conn.execute(stmt).all()
    return [
        StageDurationBuckets(
            workflow=r[0],
            stage=r[1],
            status=r[2],
            count=int(r[3]),
            total_s=float(r[4] or 0.0),
            buckets=tuple(int(v or 0) for v in r[5:]),
        )
        for r in rows
    ]
