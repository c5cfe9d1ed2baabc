"""Response and request models of the REST API (the OpenAPI schema is built from these).

Records from the state store are frozen dataclasses; each model here has a
``from_record`` that picks the fields the API shows. Paths are absolute strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttemptOut",
    "CalSetOut",
    "CalTableOut",
    "GroupOut",
    "HealthOut",
    "ImageOut",
    "ImageSourceOut",
    "LogOut",
    "MosaicOut",
    "MsOut",
    "Page",
    "PhotometryOut",
    "QueueOut",
    "RunDetailOut",
    "RunOut",
    "RunSubmission",
    "SourceOut",
    "StageSummaryOut",
    "SubmittedRun",
    "WorkflowOut",
]

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class Page(_Out, Generic[T]):
    """One page of a list: the items, the page asked for, and whether more follow."""

    items: list[T]
    limit: int = Field(description="Page size asked for.")
    offset: int = Field(description="Items skipped before this page.")
    has_more: bool = Field(description="Whether a further page has items.")


class RunOut(_Out):
    """One workflow run."""

    id: int
    workflow: str
    trigger: str
    status: Literal["pending", "running", "completed", "failed", "crashed", "cancelled"]
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    config_hash: str | None = None
    resumed_from: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = Field(None, description="ended_at - started_at, when both are set.")

    @classmethod
    def from_record(cls, run: Any) -> RunOut:
        """Build from a :class:`contimg.state.RunRecord`."""
        duration = None
        if run.started_at is not None and run.ended_at is not None:
            duration = (run.ended_at - run.started_at).total_seconds()
        return cls(
            id=run.id,
            workflow=run.workflow,
            trigger=run.trigger,
            status=run.status.value,
            inputs=dict(run.inputs),
            outputs=dict(run.outputs),
            error=run.error,
            config_hash=run.config_hash,
            resumed_from=run.resumed_from,
            created_at=run.created_at,
            started_at=run.started_at,
            ended_at=run.ended_at,
            duration_s=duration,
        )


StageStatusName = Literal[
    "pending", "running", "completed", "failed", "skipped", "timed_out", "crashed"
]


class AttemptOut(_Out):
    """One stage attempt (``attempt = 0``: the stage was skipped, not attempted)."""

    id: int
    stage: str
    attempt: int
    status: StageStatusName
    executor: str | None = None
    run_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    skip_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None

    @classmethod
    def from_record(cls, rec: Any) -> AttemptOut:
        """Build from a :class:`contimg.state.StageAttemptRecord`."""
        return cls(
            id=rec.id,
            stage=rec.stage,
            attempt=rec.attempt,
            status=rec.status.value,
            executor=rec.executor,
            run_key=rec.run_key,
            started_at=rec.started_at,
            ended_at=rec.ended_at,
            duration_s=rec.duration_s,
            cpu_s=rec.cpu_s,
            peak_rss_bytes=rec.peak_rss_bytes,
            input_bytes=rec.input_bytes,
            output_bytes=rec.output_bytes,
            outputs=dict(rec.outputs),
            skip_reason=rec.skip_reason,
            error_type=rec.error_type,
            error_message=rec.error_message,
            traceback=rec.traceback,
        )


class StageSummaryOut(_Out):
    """How one stage ended in a run (the last attempt), with its summed duration."""

    stage: str
    status: StageStatusName
    attempts: int = Field(description="Real attempts (skips excluded).")
    duration_s: float = Field(description="Summed duration of the attempts.")
    error: str | None = None
    skip_reason: str | None = None


class RunDetailOut(_Out):
    """A run with its stages and every attempt."""

    run: RunOut
    stages: list[StageSummaryOut]
    attempts: list[AttemptOut]


class LogOut(_Out):
    """One structured log record."""

    id: int | None = None
    time: datetime
    level: str
    event: str
    stage: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: Any) -> LogOut:
        """Build from a :class:`contimg.state.LogRecord`."""
        return cls(
            id=rec.id,
            time=rec.time,
            level=rec.level,
            event=rec.event,
            stage=rec.stage,
            fields=dict(rec.fields),
        )


class GroupOut(_Out):
    """One subband group."""

    id: int
    group_id: str
    state: str
    n_subbands: int
    n_expected: int
    has_sb00: bool
    first_timestamp: datetime
    last_timestamp: datetime
    dec_deg: float | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class MsOut(_Out):
    """One converted Measurement Set."""

    id: int
    path: str
    group_id: str
    start_mjd: float
    mid_mjd: float
    end_mjd: float
    dec_deg: float
    n_fields: int
    status: str
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CalTableOut(_Out):
    """One table of a calibration set, in apply order."""

    index: int = Field(description="Position in the set (use it for the plot endpoint).")
    kind: str
    path: str
    interp: str
    qa: dict[str, Any] = Field(default_factory=dict)


class CalSetOut(_Out):
    """One calibration set (valid or rejected) and its tables."""

    set_id: str
    calibrator: str
    refant: str
    status: str
    transit_time: datetime
    valid_from: datetime
    valid_to: datetime
    tables: list[CalTableOut]
    reasons: list[str] = Field(default_factory=list)
    source_ms: str | None = None
    group_id: str | None = None
    run_id: int | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def from_record(cls, rec: Any) -> CalSetOut:
        """Build from a :class:`contimg.state._calibration.CalSetRecord`."""
        return cls(
            set_id=rec.set_id,
            calibrator=rec.calibrator,
            refant=rec.refant,
            status=rec.status,
            transit_time=rec.transit_time,
            valid_from=rec.valid_from,
            valid_to=rec.valid_to,
            tables=[
                CalTableOut(index=i, kind=t.kind, path=t.path, interp=t.interp, qa=dict(t.qa))
                for i, t in enumerate(rec.tables)
            ],
            reasons=list(rec.reasons),
            source_ms=rec.source_ms,
            group_id=rec.group_id,
            run_id=rec.run_id,
            provenance=dict(rec.provenance),
            created_at=rec.created_at,
        )


class ImageOut(_Out):
    """One registered image: its files, how it was made, its QA figures and verdict."""

    id: int
    name: str
    group_id: str | None = None
    run_id: int | None = None
    ms_path: str
    backend: str
    frequency_hz: float
    obs_time: datetime | None = None
    calibration_set: str | None = None
    ra_deg: float
    dec_deg: float
    size: int
    cell_arcsec: float
    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float
    verdict: str = Field(
        description="QA verdict: good or bad; pending from the image's registration until its"
        " sources are found and checked (mosaics take good only); unknown if never judged."
    )
    rms_jy: float | None = Field(None, description="Robust rms away from sources, Jy/beam.")
    peak_jy: float | None = None
    dynamic_range: float | None = None
    n_sources: int | None = Field(None, description="Sources found at >= 5 sigma.")
    n_matched: int | None = Field(None, description="Sources cross-matched to the reference.")
    flux_ratio: float | None = Field(None, description="Median measured / reference flux.")
    ra_offset_arcsec: float | None = None
    dec_offset_arcsec: float | None = None
    qa: dict[str, Any] = Field(default_factory=dict, description="Every QA figure stored.")
    created_at: datetime | None = None
    fits_url: str = Field(description="Download the restored FITS image.")
    pbcor_url: str = Field(description="Download the primary-beam corrected FITS image.")
    png_url: str | None = Field(None, description="The quicklook PNG, when one is registered.")


class ImageSourceOut(_Out):
    """One entry of an image's source catalogue."""

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
    pb: float = Field(description="Primary-beam response at the source.")


class MosaicOut(_Out):
    """One mosaic and its QA."""

    id: int
    name: str
    path: str
    png_path: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    n_inputs: int
    qa_passed: bool
    qa: dict[str, Any] = Field(default_factory=dict)
    run_id: int | None = None
    created_at: datetime


class SourceOut(_Out):
    """A monitored source with its light-curve metrics."""

    id: int
    name: str
    ra_deg: float
    dec_deg: float
    origin: str
    catalog_flux_jy: float | None = None
    n: int = Field(description="Measurements (upper limits included).")
    n_upper_limits: int
    wmean: float = Field(description="Error-weighted mean flux, Jy.")
    mean: float
    eta: float = Field(description="VAST eta (weighted reduced chi-square).")
    v: float | None = Field(None, description="Fractional variability (std / mean).")
    candidate: bool
    last_time: datetime | None = None


class PhotometryOut(_Out):
    """One forced measurement of a source."""

    id: int
    image_path: str
    image_id: int | None = None
    time: datetime | None = None
    flux_jy: float
    flux_err_jy: float
    local_rms_jy: float
    snr: float
    upper_limit: bool
    limit_jy: float


class QueueOut(_Out):
    """The streaming service's groups, by where they stand."""

    collecting: int = Field(0, description="Still receiving files.")
    ready: int = Field(0, description="Complete and unclaimed (includes those held back).")
    waiting_for_calibration: int = Field(0, description="Ready but held for a calibration set.")
    running: int = Field(0, description="Claimed: a run queued or in progress.")
    done: int = 0
    failed: int = 0


class HealthOut(_Out):
    """Is the pipeline able to work: database, disk, watcher, queue."""

    status: Literal["ok", "degraded"]
    database_ok: bool
    database_error: str | None = None
    workdir: str
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    watcher_heartbeat: datetime | None = Field(
        None, description="Last heartbeat of a live `contimg watch` process (null: none)."
    )
    watchers_live: int = Field(0, description="`contimg watch` processes running or draining.")
    queue_depth: int = Field(
        description="Groups ready or in progress (the service's backlog), "
        "or, with no service, complete groups not yet processed."
    )
    queue: QueueOut = Field(default_factory=QueueOut, description="The service's groups.")
    runs_active: int = Field(description="Runs pending or running.")
    worker_busy: bool = Field(description="Whether this server's run worker is executing.")
    write_enabled: bool = Field(description="Whether an API key is configured.")


class RunSubmission(BaseModel):
    """Start one workflow run: on a group, an MS, or explicit inputs."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(description="A registered workflow (see `contimg run --help`).")
    group: str | None = Field(None, description="Group id to process.")
    ms: str | None = Field(None, description="Measurement Set path to process.")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Further workflow inputs by name."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings overrides for this run, as {'section.key': value}.",
    )


class SubmittedRun(_Out):
    """A run accepted by the background worker."""

    run_id: int | None = Field(description="The new run (null while it waits in the queue).")
    status: Literal["submitted", "queued"]
    url: str = Field(description="Where to follow it.")


class WorkflowOut(_Out):
    """A registered workflow."""

    name: str
    description: str
    inputs: list[str]
    stages: list[str]
