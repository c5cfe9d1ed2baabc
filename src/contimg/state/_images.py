"""Images with their QA, and the sources found in them (revision ``0003_images``).

Tables
------
``images``
    One row per image product set (unique ``name``, normally the group id): every path the
    imaging call made, beam, frequency, phase centre, the calibration set applied, the QA
    figures (rms, peak, dynamic range, 5-sigma count, cross-match flux ratio and offsets) and
    the verdict, plus the whole QA record as JSON.
``image_sources``
    The per-image catalogue from the source finder (primary-beam corrected fluxes).

Verdicts: ``good`` or ``bad`` once the image is assessed; ``pending`` from the image's
registration (``record``, as soon as it is made) until its assessment (source finding,
cross-match, QA) is recorded (``record_assessment``); ``unknown`` when nothing judged it.
Only ``good`` images are mosaicked.

Re-imaging a group replaces its row's values (keeping its id) and its catalogue in one
transaction (``record``), so a reader never sees an image with a stale catalogue. Recording
an assessment replaces the QA figures, verdict and catalogue the same way, and leaves
``created_at`` (when the image was registered) alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from contimg.state._base import JSONValue, SqlStore, UTCDateTime, id_column, ref_column, utcnow
from contimg.state.schema import metadata

__all__ = [
    "ImageRecord",
    "ImageSourceRecord",
    "ImageStore",
    "NewAssessment",
    "NewImage",
    "SqlImageStore",
    "image_sources",
    "images",
]

_PATH = sa.String(1024)

images = sa.Table(
    "images",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("group_id", sa.String(64)),
    sa.Column("ms_path", _PATH, nullable=False),
    sa.Column("image_path", _PATH, nullable=False),
    sa.Column("pbcor_path", _PATH, nullable=False),
    sa.Column("pb_path", _PATH, nullable=False),
    sa.Column("psf_path", _PATH),
    sa.Column("residual_path", _PATH),
    sa.Column("model_path", _PATH),
    sa.Column("png_path", _PATH),
    sa.Column("catalogue_path", _PATH),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("frequency_hz", sa.Float, nullable=False),
    sa.Column("bmaj_arcsec", sa.Float, nullable=False),
    sa.Column("bmin_arcsec", sa.Float, nullable=False),
    sa.Column("bpa_deg", sa.Float, nullable=False),
    sa.Column("cell_arcsec", sa.Float, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("ra_deg", sa.Float, nullable=False),
    sa.Column("dec_deg", sa.Float, nullable=False),
    sa.Column("obs_time", UTCDateTime),
    sa.Column("calibration_set", sa.String(200)),
    sa.Column("rms_jy", sa.Float),
    sa.Column("peak_jy", sa.Float),
    sa.Column("dynamic_range", sa.Float),
    sa.Column("n_sources", sa.Integer),
    sa.Column("n_matched", sa.Integer),
    sa.Column("flux_ratio", sa.Float),
    sa.Column("ra_offset_arcsec", sa.Float),
    sa.Column("dec_offset_arcsec", sa.Float),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("qa", JSONValue, nullable=False),
    ref_column("run_id", "runs.id", ondelete="SET NULL"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "group_id"),
    sa.Index(None, "created_at"),
)

image_sources = sa.Table(
    "image_sources",
    metadata,
    id_column(),
    ref_column("image_id", "images.id", ondelete="CASCADE", nullable=False),
    sa.Column("ra_deg", sa.Float, nullable=False),
    sa.Column("dec_deg", sa.Float, nullable=False),
    sa.Column("ra_err_arcsec", sa.Float, nullable=False),
    sa.Column("dec_err_arcsec", sa.Float, nullable=False),
    sa.Column("peak_jy", sa.Float, nullable=False),
    sa.Column("peak_err_jy", sa.Float, nullable=False),
    sa.Column("flux_jy", sa.Float, nullable=False),
    sa.Column("flux_err_jy", sa.Float, nullable=False),
    sa.Column("maj_arcsec", sa.Float, nullable=False),
    sa.Column("min_arcsec", sa.Float, nullable=False),
    sa.Column("pa_deg", sa.Float, nullable=False),
    sa.Column("rms_jy", sa.Float, nullable=False),
    sa.Column("pb", sa.Float, nullable=False),
    sa.Index(None, "image_id"),
)

_SOURCE_FIELDS = (
    "ra_deg",
    "dec_deg",
    "ra_err_arcsec",
    "dec_err_arcsec",
    "peak_jy",
    "peak_err_jy",
    "flux_jy",
    "flux_err_jy",
    "maj_arcsec",
    "min_arcsec",
    "pa_deg",
    "rms_jy",
    "pb",
)


@dataclass(frozen=True)
class NewImage:
    """What a workflow records about one image (paths absolute; QA optional)."""

    name: str
    ms_path: str
    image_path: str
    pbcor_path: str
    pb_path: str
    backend: str
    frequency_hz: float
    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float
    cell_arcsec: float
    size: int
    ra_deg: float
    dec_deg: float
    verdict: str = "unknown"
    group_id: str | None = None
    psf_path: str | None = None
    residual_path: str | None = None
    model_path: str | None = None
    png_path: str | None = None
    catalogue_path: str | None = None
    obs_time: datetime | None = None
    calibration_set: str | None = None
    rms_jy: float | None = None
    peak_jy: float | None = None
    dynamic_range: float | None = None
    n_sources: int | None = None
    n_matched: int | None = None
    flux_ratio: float | None = None
    ra_offset_arcsec: float | None = None
    dec_offset_arcsec: float | None = None
    qa: Mapping[str, Any] | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class NewAssessment:
    """What the assessment of a registered image records (source finding, cross-match, QA)."""

    verdict: str
    catalogue_path: str | None = None
    rms_jy: float | None = None
    peak_jy: float | None = None
    dynamic_range: float | None = None
    n_sources: int | None = None
    n_matched: int | None = None
    flux_ratio: float | None = None
    ra_offset_arcsec: float | None = None
    dec_offset_arcsec: float | None = None
    qa: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ImageRecord(NewImage):
    """A stored image row."""

    id: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class ImageSourceRecord:
    """A stored catalogue entry (same fields as the science ``FoundSource``)."""

    id: int
    image_id: int
    ra_deg: float
    dec_deg: float
    ra_err_arcsec: float
    dec_err_arcsec: float
    peak_jy: float
    peak_err_jy: float
    flux_jy: float
    flux_err_jy: float
    maj_arcsec: float
    min_arcsec: float
    pa_deg: float
    rms_jy: float
    pb: float


class ImageStore(Protocol):
    """What the rest of the code may ask of the image store."""

    def record(self, image: NewImage, sources: Iterable[Any] = ()) -> ImageRecord:
        """Insert or replace an image (by name) and its catalogue."""
        ...

    def record_assessment(
        self, image_id: int, assessment: NewAssessment, sources: Iterable[Any] = ()
    ) -> ImageRecord:
        """Set a registered image's QA figures and verdict; replace its catalogue."""
        ...

    def get(self, image_id: int) -> ImageRecord | None:
        """Return one image by id."""
        ...

    def get_by_name(self, name: str) -> ImageRecord | None:
        """Return one image by name."""
        ...

    def list_images(
        self,
        *,
        group_id: str | None = None,
        verdict: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        oldest_first: bool = False,
        limit: int = 100,
    ) -> list[ImageRecord]:
        """Return images, newest first (or oldest first), optionally in an observing-time range."""
        ...

    def sources(self, image_id: int) -> list[ImageSourceRecord]:
        """Return an image's catalogue, brightest first."""
        ...


def _finite(value: Any) -> Any:
    """NaN/inf become NULL (JSON and SQL both refuse NaN here)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _source_values(source: Any) -> dict[str, float]:
    get = source.__getitem__ if isinstance(source, Mapping) else source.__getattribute__
    return {name: float(get(name)) for name in _SOURCE_FIELDS}


def _image(row: Mapping[str, Any]) -> ImageRecord:
    names = {f.name for f in fields(ImageRecord)}
    values = {k: v for k, v in row.items() if k in names}
    values["qa"] = dict(values.get("qa") or {})
    return ImageRecord(**values)


def _clean_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if isinstance(value, PathLike):
        return str(Path(value))
    if is_dataclass(value) and not isinstance(value, type):
        return _clean_json(asdict(value))
    return _finite(value)


class SqlImageStore(SqlStore):
    """SQL implementation of :class:`ImageStore`."""

    def record(self, image: NewImage, sources: Iterable[Any] = ()) -> ImageRecord:
        """Insert or replace the image called ``image.name`` and its catalogue.

        Parameters
        ----------
        image : NewImage
            The image row.
        sources : iterable
            Catalogue entries: objects or mappings with the ``image_sources`` fields (the
            science ``FoundSource`` fits as it is).

        Returns
        -------
        ImageRecord
            The stored row.
        """
        values = {f.name: getattr(image, f.name) for f in fields(NewImage)}
        values = {k: _finite(v) for k, v in values.items()}
        values["qa"] = _clean_json(dict(image.qa or {}))
        rows = [_source_values(s) for s in sources]
        with self.write() as conn:
            found = conn.execute(sa.select(images.c.id).where(images.c.name == image.name)).first()
            if found is None:
                image_id = conn.execute(
                    sa.insert(images).values(created_at=utcnow(), **values).returning(images.c.id)
                ).scalar_one()
            else:
                # Same id (other tables may refer to it), new values, new catalogue.
                image_id = found[0]
                conn.execute(sa.delete(image_sources).where(image_sources.c.image_id == image_id))
                conn.execute(
                    sa.update(images)
                    .where(images.c.id == image_id)
                    .values(created_at=utcnow(), **values)
                )
            if rows:
                conn.execute(sa.insert(image_sources), [{"image_id": image_id, **r} for r in rows])
            row = conn.execute(sa.select(images).where(images.c.id == image_id)).mappings().one()
        return _image(row)

    def record_assessment(
        self, image_id: int, assessment: NewAssessment, sources: Iterable[Any] = ()
    ) -> ImageRecord:
        """Set the QA figures, verdict and catalogue of a registered image, in one transaction.

        Every field of ``assessment`` replaces the row's value and ``sources`` replace its
        catalogue, so recording the same assessment again leaves one copy of it. The image's
        other values, ``created_at`` included, are left as they are.

        Parameters
        ----------
        image_id : int
            The image, as :meth:`record` returned it.
        assessment : NewAssessment
            The QA figures, verdict, QA record and catalogue file.
        sources : iterable
            Catalogue entries, as for :meth:`record`.

        Returns
        -------
        ImageRecord
            The updated row.

        Raises
        ------
        KeyError
            If no image has that id.
        """
        values = {f.name: _finite(getattr(assessment, f.name)) for f in fields(NewAssessment)}
        values["qa"] = _clean_json(dict(assessment.qa or {}))
        rows = [_source_values(s) for s in sources]
        with self.write() as conn:
            updated = conn.execute(
                sa.update(images).where(images.c.id == image_id).values(**values)
            ).rowcount
            if not updated:
                raise KeyError(f"no image with id {image_id}")
            conn.execute(sa.delete(image_sources).where(image_sources.c.image_id == image_id))
            if rows:
                conn.execute(sa.insert(image_sources), [{"image_id": image_id, **r} for r in rows])
            row = conn.execute(sa.select(images).where(images.c.id == image_id)).mappings().one()
        return _image(row)

    def get(self, image_id: int) -> ImageRecord | None:
        """Return one image by id, or ``None``."""
        with self.read() as conn:
            row = conn.execute(sa.select(images).where(images.c.id == image_id)).mappings().first()
        return None if row is None else _image(row)

    def get_by_name(self, name: str) -> ImageRecord | None:
        """Return one image by name, or ``None``."""
        with self.read() as conn:
            row = conn.execute(sa.select(images).where(images.c.name == name)).mappings().first()
        return None if row is None else _image(row)

    def list_images(
        self,
        *,
        group_id: str | None = None,
        verdict: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        oldest_first: bool = False,
        limit: int = 100,
    ) -> list[ImageRecord]:
        """Return images, newest first (or oldest first), optionally of one group or verdict.

        ``since``/``until`` bound the observing time (``obs_time``, inclusive) and
        ``oldest_first`` orders by it; otherwise images come newest registered first.
        """
        if oldest_first:
            order = (images.c.obs_time.asc(), images.c.id.asc())
        else:
            order = (images.c.created_at.desc(), images.c.id.desc())
        stmt = sa.select(images).order_by(*order)
        if since is not None:
            stmt = stmt.where(images.c.obs_time >= since)
        if until is not None:
            stmt = stmt.where(images.c.obs_time <= until)
        if group_id is not None:
            stmt = stmt.where(images.c.group_id == group_id)
        if verdict is not None:
            stmt = stmt.where(images.c.verdict == verdict)
        with self.read() as conn:
            rows = conn.execute(stmt.limit(limit)).mappings().all()
        return [_image(r) for r in rows]

    def sources(self, image_id: int) -> list[ImageSourceRecord]:
        """Return the catalogue of one image, brightest (peak) first."""
        stmt = (
            sa.select(image_sources)
            .where(image_sources.c.image_id == image_id)
            .order_by(image_sources.c.peak_jy.desc())
        )
        with self.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [ImageSourceRecord(**dict(r)) for r in rows]
