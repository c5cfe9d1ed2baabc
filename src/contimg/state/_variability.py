"""Mosaics, monitored sources and their forced photometry (revision ``0004_variability``).

Tables
------
``mosaics``
    One row per mosaic: product paths, time range, centre, QA (JSON) and whether it passed.
``mosaic_inputs``
    The images a mosaic combined (pbcor and pb paths, the rms used for the weights).
``sources``
    Monitored sources: position, origin (``catalog`` or ``detected``), the running
    light-curve state (``n``, ``sum_w``, ``wmean``, ``wm2``, ``mean``, ``m2``; see
    :class:`contimg.science.variability.RunningStats`), the metrics η and V and the
    candidate flag.
``photometry``
    One forced measurement per (source, image): flux, error, local rms, S/N, the
    upper-limit flag and the limit. Upper limits are rows like any other.

The metrics are updated incrementally: :meth:`SqlSourceStore.add_photometry` reads each
source's running state, applies the caller's accumulator (science code:
:class:`contimg.science.variability.LightCurveAccumulator`) and writes the new state in
the same write transaction, so earlier epochs are never re-read and two images measured
at once never lose an update. Re-adding an image's measurements is a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from os import PathLike
from typing import Any, Protocol

import sqlalchemy as sa

from contimg.state._base import JSONValue, SqlStore, UTCDateTime, id_column, ref_column, utcnow
from contimg.state.schema import metadata

__all__ = [
    "Accumulate",
    "Measurement",
    "MosaicInputRecord",
    "MosaicRecord",
    "MosaicStore",
    "NewMosaicInput",
    "NewSource",
    "PhotometryRecord",
    "PhotometryRow",
    "RunningState",
    "SourceRecord",
    "SourceStore",
    "SqlMosaicStore",
    "SqlSourceStore",
    "mosaic_inputs",
    "mosaics",
    "photometry",
    "sources",
]

_PATH = sa.String(1024)

mosaics = sa.Table(
    "mosaics",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("path", _PATH, nullable=False),
    sa.Column("weight_path", _PATH, nullable=False),
    sa.Column("noise_path", _PATH, nullable=False),
    sa.Column("png_path", _PATH),
    sa.Column("start_time", UTCDateTime),
    sa.Column("end_time", UTCDateTime),
    sa.Column("ra_deg", sa.Float),
    sa.Column("dec_deg", sa.Float),
    sa.Column("n_inputs", sa.Integer, nullable=False),
    sa.Column("qa_passed", sa.Boolean, nullable=False),
    sa.Column("qa", JSONValue, nullable=False),
    ref_column("run_id", "runs.id", ondelete="SET NULL"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "start_time"),
)

mosaic_inputs = sa.Table(
    "mosaic_inputs",
    metadata,
    id_column(),
    ref_column("mosaic_id", "mosaics.id", ondelete="CASCADE", nullable=False),
    sa.Column("image_path", _PATH, nullable=False),
    sa.Column("pb_path", _PATH, nullable=False),
    sa.Column("rms_jy", sa.Float, nullable=False),
    # No foreign key: ``images`` belongs to another migration branch (0003_images).
    sa.Column("image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    sa.UniqueConstraint("mosaic_id", "image_path"),
)

sources = sa.Table(
    "sources",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("ra_deg", sa.Float, nullable=False),
    sa.Column("dec_deg", sa.Float, nullable=False),
    sa.Column("origin", sa.String(32), nullable=False),
    sa.Column("catalog_flux_jy", sa.Float),
    sa.Column("n_meas", sa.Integer, nullable=False),
    sa.Column("n_upper_limits", sa.Integer, nullable=False),
    sa.Column("sum_w", sa.Float, nullable=False),
    sa.Column("wmean", sa.Float, nullable=False),
    sa.Column("wm2", sa.Float, nullable=False),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("m2", sa.Float, nullable=False),
    sa.Column("eta", sa.Float, nullable=False),
    sa.Column("v", sa.Float),  # NULL when undefined (zero mean flux)
    sa.Column("candidate", sa.Boolean, nullable=False),
    sa.Column("last_time", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "candidate", "eta"),
)

photometry = sa.Table(
    "photometry",
    metadata,
    id_column(),
    ref_column("source_id", "sources.id", ondelete="CASCADE", nullable=False),
    sa.Column("image_path", _PATH, nullable=False),
    sa.Column("image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    sa.Column("time", UTCDateTime),
    sa.Column("flux_jy", sa.Float, nullable=False),
    sa.Column("flux_err_jy", sa.Float, nullable=False),
    sa.Column("local_rms_jy", sa.Float, nullable=False),
    sa.Column("snr", sa.Float, nullable=False),
    sa.Column("upper_limit", sa.Boolean, nullable=False),
    sa.Column("limit_jy", sa.Float, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source_id", "image_path"),
    sa.Index(None, "source_id", "time"),
)


# -- records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MosaicInputRecord:
    """One input image of a mosaic."""

    image_path: str
    pb_path: str
    rms_jy: float
    image_id: int | None = None


class NewMosaicInput(Protocol):
    """One input of :meth:`SqlMosaicStore.add`.

    A :class:`MosaicInputRecord`, or a science ``MosaicInput`` as it is (``image_id`` is
    optional).
    """

    @property
    def image_path(self) -> str | PathLike[str]: ...

    @property
    def pb_path(self) -> str | PathLike[str]: ...

    @property
    def rms_jy(self) -> float: ...


@dataclass(frozen=True)
class MosaicRecord:
    """One mosaic as stored."""

    id: int
    name: str
    path: str
    weight_path: str
    noise_path: str
    png_path: str | None
    start_time: datetime | None
    end_time: datetime | None
    ra_deg: float | None
    dec_deg: float | None
    n_inputs: int
    qa_passed: bool
    qa: Mapping[str, Any]
    run_id: int | None
    created_at: datetime
    inputs: tuple[MosaicInputRecord, ...] = field(default=())


@dataclass(frozen=True)
class NewSource:
    """A position to monitor."""

    name: str
    ra_deg: float
    dec_deg: float
    origin: str = "catalog"
    catalog_flux_jy: float | None = None


@dataclass(frozen=True)
class SourceRecord:
    """A monitored source with its running light-curve state and metrics."""

    id: int
    name: str
    ra_deg: float
    dec_deg: float
    origin: str
    catalog_flux_jy: float | None
    n: int
    n_upper_limits: int
    sum_w: float
    wmean: float
    wm2: float
    mean: float
    m2: float
    eta: float
    v: float | None
    candidate: bool
    last_time: datetime | None
    created_at: datetime
    updated_at: datetime


class Measurement(Protocol):
    """One measurement for :meth:`SqlSourceStore.add_photometry`.

    A :class:`PhotometryRow`, or a science ``ForcedMeasurement`` as it is.
    """

    @property
    def name(self) -> str: ...

    @property
    def flux_jy(self) -> float: ...

    @property
    def flux_err_jy(self) -> float: ...

    @property
    def local_rms_jy(self) -> float: ...

    @property
    def snr(self) -> float: ...

    @property
    def upper_limit(self) -> bool: ...

    @property
    def limit_jy(self) -> float: ...


@dataclass(frozen=True)
class PhotometryRow:
    """One forced measurement to store (the fields of a science ``ForcedMeasurement``)."""

    name: str
    flux_jy: float
    flux_err_jy: float
    local_rms_jy: float
    snr: float
    upper_limit: bool
    limit_jy: float


@dataclass(frozen=True)
class PhotometryRecord:
    """One stored forced measurement."""

    id: int
    source_id: int
    image_path: str
    image_id: int | None
    time: datetime | None
    flux_jy: float
    flux_err_jy: float
    local_rms_jy: float
    snr: float
    upper_limit: bool
    limit_jy: float


class RunningState(Protocol):
    """What an accumulator returns: the six running numbers plus the metrics."""

    @property
    def n(self) -> int: ...

    @property
    def sum_w(self) -> float: ...

    @property
    def wmean(self) -> float: ...

    @property
    def wm2(self) -> float: ...

    @property
    def mean(self) -> float: ...

    @property
    def m2(self) -> float: ...

    @property
    def eta(self) -> float: ...

    @property
    def v(self) -> float: ...

    @property
    def candidate(self) -> bool: ...


class Accumulate(Protocol):
    """``accumulate(current_source, flux_jy, flux_err_jy) -> new state`` (science code)."""

    def __call__(self, current: SourceRecord, flux_jy: float, flux_err_jy: float) -> RunningState:
        """Return the state after one more measurement."""
        ...


# -- protocols ----------------------------------------------------------------------------
class MosaicStore(Protocol):
    """What the rest of the code may ask about mosaics."""

    def add(
        self,
        *,
        name: str,
        path: str | PathLike[str],
        weight_path: str | PathLike[str],
        noise_path: str | PathLike[str],
        png_path: str | PathLike[str] | None,
        start_time: datetime | None,
        end_time: datetime | None,
        ra_deg: float | None,
        dec_deg: float | None,
        qa: Mapping[str, Any],
        qa_passed: bool,
        inputs: Sequence[NewMosaicInput],
        run_id: int | None = None,
    ) -> MosaicRecord:
        """Register a mosaic and its inputs (replacing a mosaic of the same name)."""
        ...

    def get(self, mosaic_id: int) -> MosaicRecord | None:
        """Return one mosaic with its inputs."""
        ...

    def list(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 100
    ) -> list[MosaicRecord]:
        """Return mosaics (newest start first) overlapping [since, until]."""
        ...


class SourceStore(Protocol):
    """What the rest of the code may ask about monitored sources and photometry."""

    def add_sources(self, new: Sequence[NewSource]) -> list[SourceRecord]:
        """Monitor these positions (names already monitored are kept as they are)."""
        ...

    def add_photometry(
        self,
        *,
        image_path: str | PathLike[str],
        time: datetime | None,
        rows: Sequence[Measurement],
        accumulate: Accumulate,
        image_id: int | None = None,
    ) -> int:
        """Store one image's measurements and update the sources' metrics."""
        ...

    def get(self, source_id: int) -> SourceRecord | None:
        """Return one source."""
        ...

    def by_name(self, name: str) -> SourceRecord | None:
        """Return one source by name."""
        ...

    def list(
        self, *, candidates_only: bool = False, limit: int = 1000, offset: int = 0
    ) -> list[SourceRecord]:
        """Return monitored sources, highest η first."""
        ...

    def lightcurve(self, source_id: int) -> list[PhotometryRecord]:
        """Return a source's measurements in time order (upper limits included)."""
        ...

    def measured_images(self) -> set[str]:
        """Return the image paths that already have photometry stored."""
        ...


# -- SQL ----------------------------------------------------------------------------------
def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _mosaic(row: Mapping[str, Any], inputs: tuple[MosaicInputRecord, ...] = ()) -> MosaicRecord:
    return MosaicRecord(**{**row, "inputs": inputs})


def _source(row: Mapping[str, Any]) -> SourceRecord:
    values = dict(row)
    values["n"] = values.pop("n_meas")
    return SourceRecord(**values)


class SqlMosaicStore(SqlStore):
    """Mosaics and their inputs in the shared SQL database."""

    def add(
        self,
        *,
        name: str,
        path: str | PathLike[str],
        weight_path: str | PathLike[str],
        noise_path: str | PathLike[str],
        png_path: str | PathLike[str] | None,
        start_time: datetime | None,
        end_time: datetime | None,
        ra_deg: float | None,
        dec_deg: float | None,
        qa: Mapping[str, Any],
        qa_passed: bool,
        inputs: Sequence[NewMosaicInput],
        run_id: int | None = None,
    ) -> MosaicRecord:
        """Register a mosaic and its inputs; a mosaic of the same name is replaced in place.

        Parameters
        ----------
        name : str
            Unique product name (rebuilding a mosaic replaces its row).
        path, weight_path, noise_path, png_path : path-like
            The files written (absolute).
        start_time, end_time : datetime, optional
            First and last input start times (aware).
        ra_deg, dec_deg : float, optional
            Centre of the mosaic grid.
        qa : Mapping
            QA figures (JSON-compatible; non-finite numbers are stored as null).
        qa_passed : bool
            Overall QA verdict.
        inputs : sequence of NewMosaicInput
            The images combined (``MosaicInputRecord`` or science ``MosaicInput``).
        run_id : int, optional
            The run that made it.

        Returns
        -------
        MosaicRecord
            The stored row with its inputs.
        """
        now = utcnow()
        clean_qa = {
            k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in dict(qa).items()
        }
        values = {
            "name": name,
            "path": str(path),
            "weight_path": str(weight_path),
            "noise_path": str(noise_path),
            "png_path": None if png_path is None else str(png_path),
            "start_time": start_time,
            "end_time": end_time,
            "ra_deg": ra_deg,
            "dec_deg": dec_deg,
            "n_inputs": len(inputs),
            "qa_passed": bool(qa_passed),
            "qa": clean_qa,
            "run_id": run_id,
            "created_at": now,
        }
        with self.write() as conn:
            mosaic_id = conn.execute(
                sa.select(mosaics.c.id).where(mosaics.c.name == name)
            ).scalar_one_or_none()
            if mosaic_id is None:
                mosaic_id = conn.execute(
                    sa.insert(mosaics).returning(mosaics.c.id), values
                ).scalar_one()
            else:  # rebuilt: same id, so links to it stay valid
                conn.execute(sa.update(mosaics).where(mosaics.c.id == mosaic_id).values(**values))
                conn.execute(sa.delete(mosaic_inputs).where(mosaic_inputs.c.mosaic_id == mosaic_id))
            if inputs:
                conn.execute(
                    sa.insert(mosaic_inputs),
                    [
                        {
                            "mosaic_id": mosaic_id,
                            "image_path": str(i.image_path),
                            "pb_path": str(i.pb_path),
                            "rms_jy": float(i.rms_jy),
                            "image_id": getattr(i, "image_id", None),
                        }
                        for i in inputs
                    ],
                )
        record = self.get(mosaic_id)
        assert record is not None  # just written
        return record

    def _inputs(self, conn: sa.Connection, mosaic_id: int) -> tuple[MosaicInputRecord, ...]:
        rows = conn.execute(
            sa.select(
                mosaic_inputs.c.image_path,
                mosaic_inputs.c.pb_path,
                mosaic_inputs.c.rms_jy,
                mosaic_inputs.c.image_id,
            )
            .where(mosaic_inputs.c.mosaic_id == mosaic_id)
            .order_by(mosaic_inputs.c.id)
        ).mappings()
        return tuple(MosaicInputRecord(**r) for r in rows)

    def get(self, mosaic_id: int) -> MosaicRecord | None:
        """Return one mosaic with its inputs, or ``None``."""
        with self.read() as conn:
            row = (
                conn.execute(sa.select(mosaics).where(mosaics.c.id == mosaic_id)).mappings().first()
            )
            if row is None:
                return None
            return _mosaic(row, self._inputs(conn, mosaic_id))

    def list(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 100
    ) -> list[MosaicRecord]:
        """Return mosaics overlapping [since, until], newest start first, with their inputs."""
        stmt = sa.select(mosaics).order_by(mosaics.c.start_time.desc(), mosaics.c.id.desc())
        if since is not None:
            stmt = stmt.where(sa.or_(mosaics.c.end_time >= since, mosaics.c.end_time.is_(None)))
        if until is not None:
            stmt = stmt.where(sa.or_(mosaics.c.start_time <= until, mosaics.c.start_time.is_(None)))
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit)).mappings().all()
            return [_mosaic(r, self._inputs(conn, r["id"])) for r in rows]


class SqlSourceStore(SqlStore):
    """Monitored sources and forced photometry in the shared SQL database."""

    def add_sources(self, new: Sequence[NewSource]) -> list[SourceRecord]:
        """Monitor these positions; names already monitored are kept unchanged.

        Takes :class:`NewSource` values or science ``SkyPosition`` values as they are
        (``origin`` and ``catalog_flux_jy`` are optional attributes).

        Returns
        -------
        list of SourceRecord
            The records of all the names given, in the order given.
        """
        now = utcnow()
        with self.write() as conn:
            known = set(
                conn.execute(
                    sa.select(sources.c.name).where(sources.c.name.in_([s.name for s in new]))
                ).scalars()
            )
            fresh = []
            for s in new:
                if s.name in known:
                    continue
                known.add(s.name)
                fresh.append(
                    {
                        "name": s.name,
                        "ra_deg": float(s.ra_deg) % 360.0,
                        "dec_deg": float(s.dec_deg),
                        "origin": getattr(s, "origin", "catalog"),
                        "catalog_flux_jy": getattr(s, "catalog_flux_jy", None),
                        "n_meas": 0,
                        "n_upper_limits": 0,
                        "sum_w": 0.0,
                        "wmean": 0.0,
                        "wm2": 0.0,
                        "mean": 0.0,
                        "m2": 0.0,
                        "eta": 0.0,
                        "v": 0.0,
                        "candidate": False,
                        "last_time": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            if fresh:
                conn.execute(sa.insert(sources), fresh)
            rows = conn.execute(
                sa.select(sources).where(sources.c.name.in_([s.name for s in new]))
            ).mappings()
            by_name = {r["name"]: _source(r) for r in rows}
        return [by_name[s.name] for s in new]

    def add_photometry(
        self,
        *,
        image_path: str | PathLike[str],
        time: datetime | None,
        rows: Sequence[Measurement],
        accumulate: Accumulate,
        image_id: int | None = None,
    ) -> int:
        """Store one image's forced measurements and update each source's metrics.

        Runs in one write transaction: each source's stored running state goes
        through ``accumulate`` with the new flux and error, and the result is
        written back. A (source, image) pair already stored is skipped, so a
        retried stage never counts an image twice.

        Parameters
        ----------
        image_path : path-like
            The image measured (absolute path; the key for idempotence).
        time : datetime, optional
            Observation time of the image (aware).
        rows : sequence of Measurement
            Measurements by source name (``PhotometryRow`` or science
            ``ForcedMeasurement``); every name must be monitored.
        accumulate : Accumulate
            ``contimg.science.variability.LightCurveAccumulator`` (thresholds included).
        image_id : int, optional
            The image's id in the ``images`` table, when known.

        Returns
        -------
        int
            Number of measurements added (0 when the image was already measured).

        Raises
        ------
        KeyError
            A row names a source that is not monitored (nothing is written).
        """
        image = str(image_path)
        now = utcnow()
        names = [r.name for r in rows]
        added = 0
        with self.write() as conn:
            # Lock in id order so two images sharing sources never deadlock (PostgreSQL).
            stmt = self.lock_rows(
                sa.select(sources).where(sources.c.name.in_(names)).order_by(sources.c.id),
                skip_locked=False,
            )
            current = {r["name"]: _source(r) for r in conn.execute(stmt).mappings()}
            missing = sorted(set(names) - set(current))
            if missing:
                raise KeyError(f"not monitored: {', '.join(missing)}")
            done = set(
                conn.execute(
                    sa.select(photometry.c.source_id).where(photometry.c.image_path == image)
                ).scalars()
            )
            for row in rows:
                src = current[row.name]
                if src.id in done:
                    continue
                done.add(src.id)
                conn.execute(
                    sa.insert(photometry),
                    {
                        "source_id": src.id,
                        "image_path": image,
                        "image_id": image_id,
                        "time": time,
                        "flux_jy": float(row.flux_jy),
                        "flux_err_jy": float(row.flux_err_jy),
                        "local_rms_jy": float(row.local_rms_jy),
                        "snr": float(row.snr),
                        "upper_limit": bool(row.upper_limit),
                        "limit_jy": float(row.limit_jy),
                        "created_at": now,
                    },
                )
                state = accumulate(src, float(row.flux_jy), float(row.flux_err_jy))
                last = (
                    src.last_time
                    if time is None or (src.last_time and src.last_time > time)
                    else time
                )
                conn.execute(
                    sa.update(sources)
                    .where(sources.c.id == src.id)
                    .values(
                        n_meas=state.n,
                        n_upper_limits=src.n_upper_limits + int(bool(row.upper_limit)),
                        sum_w=state.sum_w,
                        wmean=state.wmean,
                        wm2=state.wm2,
                        mean=state.mean,
                        m2=state.m2,
                        eta=state.eta,
                        v=_finite_or_none(state.v),
                        candidate=bool(state.candidate),
                        last_time=last,
                        updated_at=now,
                    )
                )
                added += 1
        return added

    def get(self, source_id: int) -> SourceRecord | None:
        """Return one source, or ``None``."""
        with self.read() as conn:
            row = (
                conn.execute(sa.select(sources).where(sources.c.id == source_id)).mappings().first()
            )
        return None if row is None else _source(row)

    def by_name(self, name: str) -> SourceRecord | None:
        """Return one source by name, or ``None``."""
        with self.read() as conn:
            row = conn.execute(sa.select(sources).where(sources.c.name == name)).mappings().first()
        return None if row is None else _source(row)

    def list(
        self, *, candidates_only: bool = False, limit: int = 1000, offset: int = 0
    ) -> list[SourceRecord]:
        """Return monitored sources, candidates and highest η first."""
        stmt = sa.select(sources).order_by(
            sources.c.candidate.desc(), sources.c.eta.desc(), sources.c.id
        )
        if candidates_only:
            stmt = stmt.where(sources.c.candidate.is_(True))
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).mappings().all()
        return [_source(r) for r in rows]

    def lightcurve(self, source_id: int) -> list[PhotometryRecord]:
        """Return a source's measurements, oldest first (upper limits included)."""
        stmt = (
            sa.select(*(photometry.c[f.name] for f in fields(PhotometryRecord)))
            .where(photometry.c.source_id == source_id)
            .order_by(photometry.c.time, photometry.c.id)
        )
        with self.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [PhotometryRecord(**r) for r in rows]

    def measured_images(self) -> set[str]:
        """Return the image paths that already have photometry."""
        with self.read() as conn:
            return set(conn.execute(sa.select(photometry.c.image_path).distinct()).scalars())


_PHOT_FIELDS = tuple(
    f
    for f in PhotometryRecord.__dataclass_fields__.values()  # type: ignore[attr-defined]
)
