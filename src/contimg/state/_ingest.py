"""Indexed UVH5 files, subband groups and converted Measurement Sets (revision ``0002_ingest``).

Tables
------
``files``
    One row per whole subband file: path, subband, name timestamp, size, header declination,
    the group it belongs to and when it was indexed.
``groups``
    One row per observation: ``collecting`` -> ``complete`` -> ``converting`` ->
    ``converted`` | ``failed``; a group still short of subbands after the timeout becomes
    ``incomplete`` (it may still be converted with the gap flagged, or completed by a late
    file). Counts, time span and the last error are kept on the row.
``ms_index``
    One row per MS: path, group, start/mid/end MJD, declination, fields, status.

Assembly
--------
:meth:`SqlGroupStore.index_file` clusters incrementally, like
:func:`contimg.science.ingest.cluster_files`: a file joins the group whose member timestamps
come within the tolerance of its own (single linkage) and that lacks its subband; otherwise it
starts a group. The group id is sb00's timestamp; a group without sb00 uses its earliest
timestamp so far and is re-keyed (files and group together, in one transaction) when an
earlier file or sb00 arrives, as long as the group is still assembling (only collecting and
incomplete groups take new files).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from contimg.state._base import JSONValue, SqlStore, UTCDateTime, as_utc, id_column, utcnow
from contimg.state.schema import metadata

__all__ = [
    "FileRecord",
    "GroupRecord",
    "GroupState",
    "GroupStore",
    "IndexResult",
    "MsRecord",
    "MsStore",
    "SqlGroupStore",
    "SqlMsStore",
    "files",
    "groups",
    "ms_index",
]

_PATH = sa.String(1024)
_GROUP_ID = sa.String(64)
_ID_FORMAT = "%Y-%m-%dT%H:%M:%S"

files = sa.Table(
    "files",
    metadata,
    id_column(),
    sa.Column("path", _PATH, nullable=False, unique=True),
    sa.Column("subband", sa.Integer, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("dec_deg", sa.Float),
    sa.Column("group_id", _GROUP_ID, nullable=False),
    sa.Column("indexed_at", UTCDateTime, nullable=False),
    sa.Index(None, "group_id", "subband"),
    sa.Index(None, "timestamp"),
)

groups = sa.Table(
    "groups",
    metadata,
    id_column(),
    sa.Column("group_id", _GROUP_ID, nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("n_subbands", sa.Integer, nullable=False),
    sa.Column("n_expected", sa.Integer, nullable=False),
    sa.Column("has_sb00", sa.Boolean, nullable=False),
    sa.Column("first_timestamp", UTCDateTime, nullable=False),
    sa.Column("last_timestamp", UTCDateTime, nullable=False),
    sa.Column("dec_deg", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "state", "first_timestamp"),
    sa.Index(None, "first_timestamp"),
)

ms_index = sa.Table(
    "ms_index",
    metadata,
    id_column(),
    sa.Column("path", _PATH, nullable=False, unique=True),
    sa.Column("group_id", _GROUP_ID, nullable=False),
    sa.Column("start_mjd", sa.Float, nullable=False),
    sa.Column("mid_mjd", sa.Float, nullable=False),
    sa.Column("end_mjd", sa.Float, nullable=False),
    sa.Column("dec_deg", sa.Float, nullable=False),
    sa.Column("n_fields", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("meta", JSONValue, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "group_id"),
    sa.Index(None, "mid_mjd"),
)


class GroupState(StrEnum):
    """Life cycle of a subband group."""

    COLLECTING = "collecting"
    COMPLETE = "complete"
    CONVERTING = "converting"
    CONVERTED = "converted"
    FAILED = "failed"
    INCOMPLETE = "incomplete"


#: Allowed transitions (anything else is refused with a ValueError naming both states).
_TRANSITIONS: dict[GroupState, frozenset[GroupState]] = {
    # collecting -> converting: an operator converts what is there (missing subbands flagged)
    GroupState.COLLECTING: frozenset(
        {GroupState.COMPLETE, GroupState.INCOMPLETE, GroupState.CONVERTING}
    ),
    GroupState.INCOMPLETE: frozenset({GroupState.COMPLETE, GroupState.CONVERTING}),
    GroupState.COMPLETE: frozenset({GroupState.CONVERTING}),
    GroupState.CONVERTING: frozenset({GroupState.CONVERTED, GroupState.FAILED}),
    GroupState.FAILED: frozenset({GroupState.CONVERTING}),  # retry
    GroupState.CONVERTED: frozenset({GroupState.CONVERTING}),  # reconvert on request
}
_ASSEMBLING = (GroupState.COLLECTING.value, GroupState.INCOMPLETE.value)


@dataclass(frozen=True)
class FileRecord:
    """One indexed subband file."""

    id: int
    path: Path
    subband: int
    timestamp: datetime
    size: int
    dec_deg: float | None
    group_id: str
    indexed_at: datetime


@dataclass(frozen=True)
class GroupRecord:
    """One subband group and its state."""

    id: int
    group_id: str
    state: GroupState
    n_subbands: int
    n_expected: int
    has_sb00: bool
    first_timestamp: datetime
    last_timestamp: datetime
    dec_deg: float | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def complete(self) -> bool:
        """Whether every expected subband has been indexed."""
        return self.n_subbands >= self.n_expected


@dataclass(frozen=True)
class IndexResult:
    """What :meth:`GroupStore.index_file` did."""

    file: FileRecord
    group: GroupRecord
    new: bool
    renamed_from: str | None = None


@dataclass(frozen=True)
class MsRecord:
    """One converted Measurement Set."""

    id: int
    path: Path
    group_id: str
    start_mjd: float
    mid_mjd: float
    end_mjd: float
    dec_deg: float
    n_fields: int
    status: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class GroupStore(Protocol):
    """Files and groups: indexing, assembly and the conversion life cycle."""

    def index_file(
        self,
        path: str | PathLike[str],
        *,
        subband: int,
        timestamp: datetime,
        size: int,
        dec_deg: float | None,
        tolerance_s: float = 60.0,
        n_expected: int = 16,
        now: datetime | None = None,
    ) -> IndexResult:
        """Record a whole file and attach it to its group (idempotent per path)."""
        ...

    def get_group(self, group_id: str) -> GroupRecord | None:
        """Return one group, or ``None``."""
        ...

    def list_groups(
        self,
        *,
        state: GroupState | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[GroupRecord]:
        """Return groups by first timestamp, oldest first."""
        ...

    def list_files(self, group_id: str) -> list[FileRecord]:
        """Return a group's files by subband."""
        ...

    def group_files(self, group_id: str) -> dict[int, Path]:
        """Return a group's files as subband -> path."""
        ...

    def set_state(
        self, group_id: str, state: GroupState, *, error: str | None = None
    ) -> GroupRecord:
        """Move a group to ``state`` (validated transition)."""
        ...

    def claim_next(self, *, include_incomplete: bool = False) -> GroupRecord | None:
        """Atomically move the oldest complete group to ``converting`` and return it."""
        ...

    def expire_collecting(
        self, *, timeout_s: float, now: datetime | None = None
    ) -> list[GroupRecord]:
        """Mark groups collecting for longer than ``timeout_s`` as ``incomplete``."""
        ...


class MsStore(Protocol):
    """The index of converted Measurement Sets."""

    def register(
        self,
        path: str | PathLike[str],
        *,
        group_id: str,
        start_mjd: float,
        mid_mjd: float,
        end_mjd: float,
        dec_deg: float,
        n_fields: int,
        status: str = "converted",
        meta: Mapping[str, Any] | None = None,
    ) -> MsRecord:
        """Insert or update the row of an MS (idempotent per path)."""
        ...

    def get(self, path: str | PathLike[str]) -> MsRecord | None:
        """Return one MS by path."""
        ...

    def for_group(self, group_id: str) -> MsRecord | None:
        """Return the newest MS of a group."""
        ...

    def list_ms(
        self,
        *,
        status: str | None = None,
        group_id: str | None = None,
        mjd_range: tuple[float, float] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MsRecord]:
        """MSs by mid time, oldest first."""
        ...

    def set_status(self, path: str | PathLike[str], status: str) -> None:
        """Change an MS's status (e.g. ``flagged``, ``calibrated``, ``deleted``)."""
        ...


def _file(row: RowMapping) -> FileRecord:
    return FileRecord(
        id=row["id"],
        path=Path(row["path"]),
        subband=row["subband"],
        timestamp=row["timestamp"],
        size=row["size"],
        dec_deg=row["dec_deg"],
        group_id=row["group_id"],
        indexed_at=row["indexed_at"],
    )


def _group(row: RowMapping) -> GroupRecord:
    values = dict(row)
    values["state"] = GroupState(values["state"])
    return GroupRecord(**values)


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit={limit}, offset={offset}: both must be >= 0")


class SqlGroupStore(SqlStore):
    """SQL implementation of :class:`GroupStore`."""

    def index_file(
        self,
        path: str | PathLike[str],
        *,
        subband: int,
        timestamp: datetime,
        size: int,
        dec_deg: float | None,
        tolerance_s: float = 60.0,
        n_expected: int = 16,
        now: datetime | None = None,
    ) -> IndexResult:
        """Record a whole file and attach it to its group.

        Parameters
        ----------
        path : path-like
            The file (stored absolute).
        subband : int
            Subband number.
        timestamp : datetime.datetime
            Timestamp from the name (timezone-aware).
        size : int
            Bytes.
        dec_deg : float or None
            Header declination.
        tolerance_s : float
            Clustering tolerance.
        n_expected : int
            Subbands of a whole group.
        now : datetime.datetime, optional
            Index time (default: now).

        Returns
        -------
        IndexResult
            The file and group rows; ``new`` is False when the path was already indexed
            (nothing changes then), ``renamed_from`` the old id when sb00 re-keyed the group.
        """
        ts = as_utc(timestamp)
        at = as_utc(now) if now is not None else utcnow()
        key = str(Path(path).absolute())
        tol = timedelta(seconds=tolerance_s)
        with self.write() as conn:
            existing = conn.execute(sa.select(files).where(files.c.path == key)).mappings().first()
            if existing is not None:
                grp = (
                    conn.execute(sa.select(groups).where(groups.c.group_id == existing["group_id"]))
                    .mappings()
                    .one()
                )
                return IndexResult(_file(existing), _group(grp), new=False)
            target = self._find_group(conn, ts, subband, tol)
            renamed_from = None
            if target is None:
                gid = ts.strftime(_ID_FORMAT)
                if conn.execute(sa.select(groups.c.id).where(groups.c.group_id == gid)).first():
                    raise ValueError(f"{key}: group {gid} exists but cannot take sb{subband:02d}")
                conn.execute(
                    sa.insert(groups).values(
                        group_id=gid,
                        state=GroupState.COLLECTING.value,
                        n_subbands=0,
                        n_expected=n_expected,
                        has_sb00=False,
                        first_timestamp=ts,
                        last_timestamp=ts,
                        dec_deg=dec_deg,
                        error=None,
                        created_at=at,
                        updated_at=at,
                    )
                )
                target = (
                    conn.execute(sa.select(groups).where(groups.c.group_id == gid)).mappings().one()
                )
            gid = target["group_id"]
            if not target["has_sb00"]:
                # provisional id: sb00's timestamp once it is here, else the earliest one
                earliest = min(target["first_timestamp"], ts)
                new_id = (ts if subband == 0 else earliest).strftime(_ID_FORMAT)
                if new_id != gid:
                    clash = conn.execute(
                        sa.select(groups.c.id).where(groups.c.group_id == new_id)
                    ).first()
                    if clash is None:
                        conn.execute(
                            sa.update(files).where(files.c.group_id == gid).values(group_id=new_id)
                        )
                        conn.execute(
                            sa.update(groups)
                            .where(groups.c.id == target["id"])
                            .values(group_id=new_id)
                        )
                        renamed_from, gid = gid, new_id
            conn.execute(
                sa.insert(files).values(
                    path=key,
                    subband=subband,
                    timestamp=ts,
                    size=size,
                    dec_deg=dec_deg,
                    group_id=gid,
                    indexed_at=at,
                )
            )
            n = target["n_subbands"] + 1
            state = GroupState(target["state"])
            if n >= target["n_expected"] and state.value in _ASSEMBLING:
                state = GroupState.COMPLETE
            conn.execute(
                sa.update(groups)
                .where(groups.c.id == target["id"])
                .values(
                    n_subbands=n,
                    has_sb00=target["has_sb00"] or subband == 0,
                    first_timestamp=min(target["first_timestamp"], ts),
                    last_timestamp=max(target["last_timestamp"], ts),
                    dec_deg=target["dec_deg"] if target["dec_deg"] is not None else dec_deg,
                    state=state.value,
                    updated_at=at,
                )
            )
            frow = conn.execute(sa.select(files).where(files.c.path == key)).mappings().one()
            grow = (
                conn.execute(sa.select(groups).where(groups.c.id == target["id"])).mappings().one()
            )
            return IndexResult(_file(frow), _group(grow), new=True, renamed_from=renamed_from)

    def _find_group(
        self, conn: Connection, ts: datetime, subband: int, tol: timedelta
    ) -> RowMapping | None:
        """Return the assembling group within ``tol`` of ``ts`` that lacks ``subband`` (nearest)."""
        near = (
            conn.execute(
                sa.select(groups).where(
                    groups.c.state.in_(_ASSEMBLING),
                    groups.c.first_timestamp <= ts + tol,
                    groups.c.last_timestamp >= ts - tol,
                )
            )
            .mappings()
            .all()
        )
        best, best_gap = None, None
        for row in near:
            taken = conn.execute(
                sa.select(files.c.id).where(
                    files.c.group_id == row["group_id"], files.c.subband == subband
                )
            ).first()
            if taken is not None:
                continue
            gap = min(
                abs((ts - row["first_timestamp"]).total_seconds()),
                abs((ts - row["last_timestamp"]).total_seconds()),
            )
            if best_gap is None or gap < best_gap:
                best, best_gap = row, gap
        return best

    def get_group(self, group_id: str) -> GroupRecord | None:
        """Return one group, or ``None`` when unknown."""
        with self.read() as conn:
            row = (
                conn.execute(sa.select(groups).where(groups.c.group_id == group_id))
                .mappings()
                .first()
            )
        return None if row is None else _group(row)

    def list_groups(
        self,
        *,
        state: GroupState | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[GroupRecord]:
        """Return groups by first timestamp, oldest first (filters combine)."""
        _check_page(limit, offset)
        stmt = sa.select(groups).order_by(groups.c.first_timestamp, groups.c.id)
        if state is not None:
            stmt = stmt.where(groups.c.state == GroupState(state).value)
        if since is not None:
            stmt = stmt.where(groups.c.first_timestamp >= as_utc(since))
        if until is not None:
            stmt = stmt.where(groups.c.first_timestamp <= as_utc(until))
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).mappings().all()
        return [_group(r) for r in rows]

    def list_files(self, group_id: str) -> list[FileRecord]:
        """Return a group's files ordered by subband."""
        stmt = sa.select(files).where(files.c.group_id == group_id).order_by(files.c.subband)
        with self.read() as conn:
            return [_file(r) for r in conn.execute(stmt).mappings().all()]

    def group_files(self, group_id: str) -> dict[int, Path]:
        """Return a group's files as subband -> path."""
        return {f.subband: f.path for f in self.list_files(group_id)}

    def set_state(
        self, group_id: str, state: GroupState, *, error: str | None = None
    ) -> GroupRecord:
        """Move a group to ``state``.

        Raises
        ------
        KeyError
            Unknown group.
        ValueError
            The transition is not allowed (the message names both states).
        """
        new = GroupState(state)
        with self.write() as conn:
            row = (
                conn.execute(
                    self.lock_rows(
                        sa.select(groups).where(groups.c.group_id == group_id), skip_locked=False
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise KeyError(f"unknown group {group_id!r}")
            old = GroupState(row["state"])
            if new not in _TRANSITIONS[old]:
                raise ValueError(f"group {group_id}: cannot go from {old.value} to {new.value}")
            conn.execute(
                sa.update(groups)
                .where(groups.c.id == row["id"])
                .values(
                    state=new.value,
                    error=error,
                    updated_at=utcnow(),
                )
            )
            out = conn.execute(sa.select(groups).where(groups.c.id == row["id"])).mappings().one()
        return _group(out)

    def claim_next(self, *, include_incomplete: bool = False) -> GroupRecord | None:
        """Atomically move the oldest complete group to ``converting`` (exactly once).

        Parameters
        ----------
        include_incomplete : bool
            Also claim ``incomplete`` groups (``conversion.missing_subbands = "flag"``).
        """
        claimable = [GroupState.COMPLETE.value]
        if include_incomplete:
            claimable.append(GroupState.INCOMPLETE.value)
        row = self.claim_one(
            groups,
            where=groups.c.state.in_(claimable),
            values={"state": GroupState.CONVERTING.value, "updated_at": utcnow()},
            order_by=(groups.c.first_timestamp, groups.c.id),
        )
        return None if row is None else _group(row)

    def expire_collecting(
        self, *, timeout_s: float, now: datetime | None = None
    ) -> list[GroupRecord]:
        """Mark groups that have been collecting longer than ``timeout_s`` as ``incomplete``.

        The clock starts when the group's first file was indexed (``created_at``).
        """
        at = as_utc(now) if now is not None else utcnow()
        cutoff = at - timedelta(seconds=timeout_s)
        cond = sa.and_(groups.c.state == GroupState.COLLECTING.value, groups.c.created_at <= cutoff)
        with self.write() as conn:
            ids = [r[0] for r in conn.execute(self.lock_rows(sa.select(groups.c.id).where(cond)))]
            if ids:
                conn.execute(
                    sa.update(groups)
                    .where(groups.c.id.in_(ids))
                    .values(
                        state=GroupState.INCOMPLETE.value,
                        updated_at=at,
                    )
                )
            rows = (
                conn.execute(
                    sa.select(groups).where(groups.c.id.in_(ids)).order_by(groups.c.first_timestamp)
                )
                .mappings()
                .all()
                if ids
                else []
            )
        return [_group(r) for r in rows]


def _ms(row: RowMapping) -> MsRecord:
    values = dict(row)
    values["path"] = Path(values["path"])
    values["meta"] = values["meta"] or {}
    return MsRecord(**values)


class SqlMsStore(SqlStore):
    """SQL implementation of :class:`MsStore`."""

    def register(
        self,
        path: str | PathLike[str],
        *,
        group_id: str,
        start_mjd: float,
        mid_mjd: float,
        end_mjd: float,
        dec_deg: float,
        n_fields: int,
        status: str = "converted",
        meta: Mapping[str, Any] | None = None,
    ) -> MsRecord:
        """Insert or update the row of an MS (idempotent per path; ``created_at`` kept)."""
        key = str(Path(path).absolute())
        at = utcnow()
        values = {
            "group_id": group_id,
            "start_mjd": float(start_mjd),
            "mid_mjd": float(mid_mjd),
            "end_mjd": float(end_mjd),
            "dec_deg": float(dec_deg),
            "n_fields": int(n_fields),
            "status": status,
            "meta": dict(meta or {}),
            "updated_at": at,
        }
        with self.write() as conn:
            found = conn.execute(sa.select(ms_index.c.id).where(ms_index.c.path == key)).first()
            if found is None:
                conn.execute(sa.insert(ms_index).values(path=key, created_at=at, **values))
            else:
                conn.execute(sa.update(ms_index).where(ms_index.c.id == found[0]).values(**values))
            row = conn.execute(sa.select(ms_index).where(ms_index.c.path == key)).mappings().one()
        return _ms(row)

    def get(self, path: str | PathLike[str]) -> MsRecord | None:
        """Return one MS by path, or ``None``."""
        key = str(Path(path).absolute())
        with self.read() as conn:
            row = conn.execute(sa.select(ms_index).where(ms_index.c.path == key)).mappings().first()
        return None if row is None else _ms(row)

    def for_group(self, group_id: str) -> MsRecord | None:
        """Return the newest MS of a group, or ``None``."""
        stmt = (
            sa.select(ms_index)
            .where(ms_index.c.group_id == group_id)
            .order_by(ms_index.c.id.desc())
            .limit(1)
        )
        with self.read() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _ms(row)

    def list_ms(
        self,
        *,
        status: str | None = None,
        group_id: str | None = None,
        mjd_range: tuple[float, float] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[MsRecord]:
        """Return MSs by mid time, oldest first (filters combine)."""
        _check_page(limit, offset)
        stmt = sa.select(ms_index).order_by(ms_index.c.mid_mjd, ms_index.c.id)
        if status is not None:
            stmt = stmt.where(ms_index.c.status == status)
        if group_id is not None:
            stmt = stmt.where(ms_index.c.group_id == group_id)
        if mjd_range is not None:
            stmt = stmt.where(
                ms_index.c.mid_mjd >= mjd_range[0], ms_index.c.mid_mjd <= mjd_range[1]
            )
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).mappings().all()
        return [_ms(r) for r in rows]

    def set_status(self, path: str | PathLike[str], status: str) -> None:
        """Change an MS's status.

        Raises
        ------
        KeyError
            The path is not registered.
        """
        key = str(Path(path).absolute())
        with self.write() as conn:
            result = conn.execute(
                sa.update(ms_index)
                .where(ms_index.c.path == key)
                .values(
                    status=status,
                    updated_at=utcnow(),
                )
            )
            if result.rowcount == 0:
                raise KeyError(f"no MS registered at {key}")
