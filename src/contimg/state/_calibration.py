"""Calibration products: the calibrator catalogue, caltable sets and their applications.

Tables (migration ``0005_calibration``):

- ``calibrators``: catalogue rows (built-in list, ``contimg catalog import-vla``);
- ``caltable_sets``: one solve: calibrator, refant, validity window, status (``valid`` or
  ``rejected``) with reasons, provenance and QA;
- ``caltables``: the tables of a set in apply order, with interpolation and QA;
- ``caltable_applications``: which set went into which MS, when, by which run.

Records are plain frozen dataclasses (the state layer never imports science); the
workflows convert them to and from :class:`contimg.science.calibrate.CalSet`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from contimg.state._base import (
    JSONValue,
    SqlStore,
    UTCDateTime,
    as_utc,
    id_column,
    ref_column,
    utcnow,
)
from contimg.state.schema import metadata

__all__ = [
    "CalApplicationRecord",
    "CalSetRecord",
    "CalTableRecord",
    "CalibrationStore",
    "CalibratorRecord",
    "SqlCalibrationStore",
    "calibrators",
    "caltable_applications",
    "caltable_sets",
    "caltables",
]

calibrators = sa.Table(
    "calibrators",
    metadata,
    id_column(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("j2000_name", sa.String(64), nullable=False),
    sa.Column("aliases", JSONValue, nullable=False),
    sa.Column("ra_deg", sa.Float(), nullable=False),
    sa.Column("dec_deg", sa.Float(), nullable=False),
    sa.Column("flux_jy", sa.Float(), nullable=False),
    sa.Column("spectral_index", sa.Float(), nullable=False),
    sa.Column("reference", sa.Text(), nullable=False),
    sa.Column("origin", sa.String(300), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "dec_deg"),
)

caltable_sets = sa.Table(
    "caltable_sets",
    metadata,
    id_column(),
    sa.Column("set_id", sa.String(200), nullable=False, unique=True),
    sa.Column("calibrator", sa.String(200), nullable=False),
    sa.Column("refant", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reasons", JSONValue, nullable=False),
    sa.Column("transit_time", UTCDateTime, nullable=False),
    sa.Column("valid_from", UTCDateTime, nullable=False),
    sa.Column("valid_to", UTCDateTime, nullable=False),
    sa.Column("source_ms", sa.Text()),
    sa.Column("group_id", sa.String(64)),
    ref_column("run_id", "runs.id", ondelete="SET NULL"),
    sa.Column("provenance", JSONValue, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "status", "transit_time"),
)

caltables = sa.Table(
    "caltables",
    metadata,
    id_column(),
    ref_column("set_pk", "caltable_sets.id", ondelete="CASCADE", nullable=False),
    sa.Column("apply_order", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("interp", sa.String(32), nullable=False),
    sa.Column("qa", JSONValue, nullable=False),
    sa.Index(None, "set_pk", "apply_order"),
)

caltable_applications = sa.Table(
    "caltable_applications",
    metadata,
    id_column(),
    ref_column("set_pk", "caltable_sets.id", ondelete="CASCADE", nullable=False),
    sa.Column("ms_path", sa.Text(), nullable=False),
    ref_column("run_id", "runs.id", ondelete="SET NULL"),
    sa.Column("details", JSONValue, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
    sa.Index(None, "ms_path"),
)


@dataclass(frozen=True)
class CalibratorRecord:
    """One catalogue calibrator."""

    name: str
    j2000_name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float
    reference: str
    origin: str
    aliases: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CalTableRecord:
    """One table of a set, in apply order."""

    kind: str
    path: str
    interp: str
    qa: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalSetRecord:
    """One calibration set (valid or rejected)."""

    set_id: str
    calibrator: str
    refant: str
    status: str
    transit_time: datetime
    valid_from: datetime
    valid_to: datetime
    tables: tuple[CalTableRecord, ...] = ()
    reasons: tuple[str, ...] = ()
    source_ms: str | None = None
    group_id: str | None = None
    run_id: int | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class CalApplicationRecord:
    """A set applied to an MS."""

    set_id: str
    ms_path: str
    applied_at: datetime
    run_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class CalibrationStore(Protocol):
    """What the rest of the code may ask about calibration products."""

    def upsert_calibrators(self, records: Sequence[CalibratorRecord]) -> int:
        """Insert or replace calibrators by name; return how many were written."""
        ...

    def list_calibrators(self) -> list[CalibratorRecord]:
        """All calibrators, by right ascension."""
        ...

    def get_calibrator(self, name: str) -> CalibratorRecord | None:
        """Look a calibrator up by name, J2000 name or alias (case and spaces ignored)."""
        ...

    def add_set(self, record: CalSetRecord) -> CalSetRecord:
        """Insert a set with its tables (set ids are unique)."""
        ...

    def get_set(self, set_id: str) -> CalSetRecord | None:
        """One set, or ``None``."""
        ...

    def list_sets(
        self, *, status: str | None = None, covering: datetime | None = None, limit: int = 1000
    ) -> list[CalSetRecord]:
        """List sets, newest transit first; optionally only those covering a time."""
        ...

    def record_application(
        self,
        set_id: str,
        ms_path: str,
        *,
        run_id: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CalApplicationRecord:
        """Record that a set was applied to an MS."""
        ...

    def list_applications(
        self, *, ms_path: str | None = None, set_id: str | None = None
    ) -> list[CalApplicationRecord]:
        """Applications, newest first."""
        ...


def _key(name: str) -> str:
    return "".join(name.split()).upper()


class SqlCalibrationStore(SqlStore):
    """SQL implementation of :class:`CalibrationStore` on the shared engine."""

    def upsert_calibrators(self, records: Sequence[CalibratorRecord]) -> int:
        """Insert or replace calibrators by name; return how many were written."""
        now = utcnow()
        with self.write() as conn:
            for rec in records:
                values = {
                    "name": rec.name,
                    "j2000_name": rec.j2000_name,
                    "aliases": list(rec.aliases),
                    "ra_deg": rec.ra_deg,
                    "dec_deg": rec.dec_deg,
                    "flux_jy": rec.flux_jy,
                    "spectral_index": rec.spectral_index,
                    "reference": rec.reference,
                    "origin": rec.origin,
                    "updated_at": now,
                }
                done = conn.execute(
                    sa.update(calibrators).where(calibrators.c.name == rec.name).values(values)
                )
                if done.rowcount == 0:
                    conn.execute(sa.insert(calibrators).values(values))
        return len(records)

    @staticmethod
    def _calibrator(row: Any) -> CalibratorRecord:
        return CalibratorRecord(
            name=row.name,
            j2000_name=row.j2000_name,
            ra_deg=row.ra_deg,
            dec_deg=row.dec_deg,
            flux_jy=row.flux_jy,
            spectral_index=row.spectral_index,
            reference=row.reference,
            origin=row.origin,
            aliases=tuple(row.aliases or ()),
            updated_at=row.updated_at,
        )

    def list_calibrators(self) -> list[CalibratorRecord]:
        """All calibrators, by right ascension."""
        with self.read() as conn:
            rows = conn.execute(sa.select(calibrators).order_by(calibrators.c.ra_deg)).all()
        return [self._calibrator(r) for r in rows]

    def get_calibrator(self, name: str) -> CalibratorRecord | None:
        """Look a calibrator up by name, J2000 name or alias (case and spaces ignored)."""
        wanted = _key(name)
        for rec in self.list_calibrators():
            if any(_key(n) == wanted for n in (rec.name, rec.j2000_name, *rec.aliases)):
                return rec
        return None

    def add_set(self, record: CalSetRecord) -> CalSetRecord:
        """Insert a set with its tables (set ids are unique)."""
        created = utcnow()
        with self.write() as conn:
            pk = conn.execute(
                sa.insert(caltable_sets)
                .values(
                    set_id=record.set_id,
                    calibrator=record.calibrator,
                    refant=record.refant,
                    status=record.status,
                    reasons=list(record.reasons),
                    transit_time=as_utc(record.transit_time),
                    valid_from=as_utc(record.valid_from),
                    valid_to=as_utc(record.valid_to),
                    source_ms=record.source_ms,
                    group_id=record.group_id,
                    run_id=record.run_id,
                    provenance=dict(record.provenance),
                    created_at=created,
                )
                .returning(caltable_sets.c.id)
            ).scalar_one()
            for order, t in enumerate(record.tables):
                conn.execute(
                    sa.insert(caltables).values(
                        set_pk=pk,
                        apply_order=order,
                        kind=t.kind,
                        path=t.path,
                        interp=t.interp,
                        qa=dict(t.qa),
                    )
                )
        got = self.get_set(record.set_id)
        assert got is not None
        return got

    def _sets(self, where: sa.ColumnElement[bool] | None, limit: int) -> list[CalSetRecord]:
        stmt = sa.select(caltable_sets).order_by(
            caltable_sets.c.transit_time.desc(), caltable_sets.c.id.desc()
        )
        if where is not None:
            stmt = stmt.where(where)
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit)).all()
            pks = [r.id for r in rows]
            tabs = (
                conn.execute(
                    sa.select(caltables)
                    .where(caltables.c.set_pk.in_(pks))
                    .order_by(caltables.c.set_pk, caltables.c.apply_order)
                ).all()
                if pks
                else []
            )
        by_set: dict[int, list[CalTableRecord]] = {}
        for t in tabs:
            by_set.setdefault(t.set_pk, []).append(
                CalTableRecord(kind=t.kind, path=t.path, interp=t.interp, qa=t.qa or {})
            )
        return [
            CalSetRecord(
                set_id=r.set_id,
                calibrator=r.calibrator,
                refant=r.refant,
                status=r.status,
                transit_time=r.transit_time,
                valid_from=r.valid_from,
                valid_to=r.valid_to,
                tables=tuple(by_set.get(r.id, ())),
                reasons=tuple(r.reasons or ()),
                source_ms=r.source_ms,
                group_id=r.group_id,
                run_id=r.run_id,
                provenance=r.provenance or {},
                created_at=r.created_at,
            )
            for r in rows
        ]

    def get_set(self, set_id: str) -> CalSetRecord | None:
        """One set, or ``None``."""
        found = self._sets(caltable_sets.c.set_id == set_id, 1)
        return found[0] if found else None

    def list_sets(
        self, *, status: str | None = None, covering: datetime | None = None, limit: int = 1000
    ) -> list[CalSetRecord]:
        """List sets, newest transit first; optionally only those covering a time."""
        conds: list[sa.ColumnElement[bool]] = []
        if status is not None:
            conds.append(caltable_sets.c.status == status)
        if covering is not None:
            t = as_utc(covering)
            conds.append(caltable_sets.c.valid_from <= t)
            conds.append(caltable_sets.c.valid_to >= t)
        return self._sets(sa.and_(*conds) if conds else None, limit)

    def record_application(
        self,
        set_id: str,
        ms_path: str,
        *,
        run_id: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CalApplicationRecord:
        """Record that a set was applied to an MS."""
        now = utcnow()
        with self.write() as conn:
            pk = conn.execute(
                sa.select(caltable_sets.c.id).where(caltable_sets.c.set_id == set_id)
            ).scalar_one_or_none()
            if pk is None:
                raise KeyError(f"unknown calibration set {set_id!r}")
            conn.execute(
                sa.insert(caltable_applications).values(
                    set_pk=pk,
                    ms_path=ms_path,
                    run_id=run_id,
                    details=dict(details or {}),
                    applied_at=now,
                )
            )
        return CalApplicationRecord(set_id, ms_path, now, run_id, dict(details or {}))

    def list_applications(
        self, *, ms_path: str | None = None, set_id: str | None = None
    ) -> list[CalApplicationRecord]:
        """Applications, newest first."""
        a, s = caltable_applications, caltable_sets
        stmt = (
            sa.select(a, s.c.set_id)
            .join(s, a.c.set_pk == s.c.id)
            .order_by(a.c.applied_at.desc(), a.c.id.desc())
        )
        if ms_path is not None:
            stmt = stmt.where(a.c.ms_path == ms_path)
        if set_id is not None:
            stmt = stmt.where(s.c.set_id == set_id)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            CalApplicationRecord(r.set_id, r.ms_path, r.applied_at, r.run_id, r.details or {})
            for r in rows
        ]
