"""The StateRepository contract, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contimg.state import (
    LogRecord,
    RunRecord,
    RunStatus,
    SqlStateRepository,
    StageStatus,
    StateRepository,
)
from contimg.state._base import id_column

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_repository_satisfies_the_protocol(repo: SqlStateRepository) -> None:
    assert isinstance(repo, StateRepository)


# -- runs -------------------------------------------------------------------
def test_create_and_get_run(repo: SqlStateRepository) -> None:
    before = datetime.now(UTC)
    run = repo.create_run(
        "standard", trigger="cli", inputs={"group": "2026-01-01T00:00:00"}, config_hash="abc"
    )
    assert run.id > 0
    assert run.status is RunStatus.PENDING
    assert run.created_at is not None
    assert before <= run.created_at <= datetime.now(UTC)
    assert repo.get_run(run.id) == run
    assert repo.get_run(run.id + 1000) is None


def test_update_run_changes_only_what_is_given(repo: SqlStateRepository) -> None:
    run = repo.create_run("standard", trigger="cli", inputs={})
    repo.update_run(run.id, status=RunStatus.RUNNING, started_at=T0)
    repo.update_run(
        run.id,
        status=RunStatus.FAILED,
        error="boom",
        ended_at=T0 + timedelta(seconds=5),
        outputs={"image": "/data/x.fits"},
    )
    got = repo.get_run(run.id)
    assert got == dataclasses.replace(
        run,
        status=RunStatus.FAILED,
        error="boom",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=5),
        outputs={"image": "/data/x.fits"},
    )
    assert got is not None
    assert got.status.finished


def test_update_unknown_run_raises(repo: SqlStateRepository) -> None:
    with pytest.raises(KeyError, match="no run"):
        repo.update_run(424242, status=RunStatus.RUNNING)


def test_resumed_from_links_runs(repo: SqlStateRepository) -> None:
    first = repo.create_run("standard", trigger="cli", inputs={})
    second = repo.create_run("standard", trigger="resume", inputs={}, resumed_from=first.id)
    assert repo.get_run(second.id).resumed_from == first.id  # type: ignore[union-attr]


def test_list_runs_newest_first_with_filters_and_pages(repo: SqlStateRepository) -> None:
    made = []
    for i in range(6):
        run = repo.create_run("standard" if i % 2 else "quicklook", trigger="cli", inputs={"i": i})
        made.append(run)
        if i == 2:
            repo.update_run(run.id, status=RunStatus.COMPLETED)
    newest_first = [r.id for r in reversed(made)]
    assert [r.id for r in repo.list_runs()] == newest_first
    pages = [repo.list_runs(limit=4, offset=o) for o in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert [r.id for p in pages for r in p] == newest_first
    assert [r.id for r in repo.list_runs(workflow="standard")] == [
        made[5].id,
        made[3].id,
        made[1].id,
    ]
    assert [r.id for r in repo.list_runs(status=RunStatus.COMPLETED)] == [made[2].id]
    assert [r.id for r in repo.list_runs(status=RunStatus.PENDING, workflow="quicklook")] == [
        made[4].id,
        made[0].id,
    ]
    assert repo.list_runs(status=RunStatus.CRASHED) == []


def test_list_runs_time_window(repo: SqlStateRepository) -> None:
    early = [repo.create_run("w", trigger="t", inputs={}) for _ in range(2)]
    cut = datetime.now(UTC)
    while datetime.now(UTC) == cut:  # make sure the next created_at is strictly later
        pass
    late = [repo.create_run("w", trigger="t", inputs={}) for _ in range(2)]
    assert {r.id for r in repo.list_runs(since=cut)} == {r.id for r in late}
    assert {r.id for r in repo.list_runs(until=cut)} == {r.id for r in early}
    # The window is timezone-correct: the same instant in another zone selects the same runs.
    cut_pst = cut.astimezone(timezone(timedelta(hours=-8)))
    assert {r.id for r in repo.list_runs(since=cut_pst)} == {r.id for r in late}


def test_naive_datetimes_are_refused(repo: SqlStateRepository) -> None:
    run = repo.create_run("w", trigger="t", inputs={})
    with pytest.raises(ValueError, match="naive"):
        repo.list_runs(since=datetime(2026, 1, 1))
    with pytest.raises(sa.exc.StatementError, match="naive"):
        repo.update_run(run.id, status=RunStatus.RUNNING, started_at=datetime(2026, 1, 1))
    assert repo.get_run(run.id).status is RunStatus.PENDING  # type: ignore[union-attr]


def test_negative_page_is_refused(repo: SqlStateRepository) -> None:
    with pytest.raises(ValueError, match="limit"):
        repo.list_runs(limit=-1)


# -- attempts ---------------------------------------------------------------
def test_attempt_life_cycle(repo: SqlStateRepository) -> None:
    run = repo.create_run("standard", trigger="cli", inputs={})
    first = repo.start_attempt(
        run.id, "convert", attempt=1, run_key="k-convert", executor="process", started_at=T0
    )
    assert first.status is StageStatus.RUNNING
    assert repo.list_attempts(run.id) == [first]
    repo.finish_attempt(
        first.id,
        status=StageStatus.FAILED,
        ended_at=T0 + timedelta(seconds=2),
        duration_s=2.0,
        cpu_s=1.5,
        peak_rss_bytes=2**40,
        error_type="OSError",
        error_message="disk",
        traceback="Traceback ...",
    )
    second = repo.start_attempt(
        run.id,
        "convert",
        attempt=2,
        run_key="k-convert",
        executor="process",
        started_at=T0 + timedelta(seconds=3),
    )
    repo.finish_attempt(
        second.id,
        status=StageStatus.COMPLETED,
        ended_at=T0 + timedelta(seconds=9),
        duration_s=6.0,
        input_bytes=10,
        output_bytes=20,
        outputs={"ms": Path("/data/a.ms")},
    )
    skipped = repo.record_skipped(run.id, "image", reason="dependency failed", at=T0)

    got = repo.list_attempts(run.id)
    assert [(a.stage, a.attempt, a.status) for a in got] == [
        ("convert", 1, StageStatus.FAILED),
        ("convert", 2, StageStatus.COMPLETED),
        ("image", 0, StageStatus.SKIPPED),
    ]
    assert got[0] == dataclasses.replace(
        first,
        status=StageStatus.FAILED,
        ended_at=T0 + timedelta(seconds=2),
        duration_s=2.0,
        cpu_s=1.5,
        peak_rss_bytes=2**40,
        error_type="OSError",
        error_message="disk",
        traceback="Traceback ...",
    )
    assert got[1].outputs == {"ms": "/data/a.ms"}  # paths are stored as strings
    assert (got[1].input_bytes, got[1].output_bytes, got[1].duration_s) == (10, 20, 6.0)
    assert got[2] == skipped
    assert skipped.skip_reason == "dependency failed"
    assert skipped.started_at == skipped.ended_at == T0
    assert repo.list_attempts(run.id + 1000) == []


def test_record_skipped_from_cache_keeps_key_and_outputs(repo: SqlStateRepository) -> None:
    run = repo.create_run("standard", trigger="cli", inputs={})
    rec = repo.record_skipped(
        run.id, "convert", reason="cached", at=T0, run_key="k1", outputs={"ms": "/a.ms"}
    )
    assert repo.list_attempts(run.id) == [rec]
    assert (rec.run_key, rec.outputs) == ("k1", {"ms": "/a.ms"})
    assert repo.find_completed_attempt("k1") is None  # a skip is not a completion


def test_finish_unknown_attempt_raises(repo: SqlStateRepository) -> None:
    with pytest.raises(KeyError, match="no stage attempt"):
        repo.finish_attempt(999, status=StageStatus.COMPLETED, ended_at=T0)


def test_attempt_for_unknown_run_violates_foreign_key(repo: SqlStateRepository) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        repo.start_attempt(31337, "x", attempt=1, run_key=None, executor=None, started_at=T0)


def test_find_completed_attempt_returns_newest(repo: SqlStateRepository) -> None:
    runs = [repo.create_run("standard", trigger="cli", inputs={}) for _ in range(3)]
    # Inserted out of time order: "newest" means latest end, not highest id.
    ends = [T0 + timedelta(minutes=5), T0 + timedelta(minutes=9), T0 + timedelta(minutes=1)]
    made = []
    for run, end in zip(runs, ends, strict=True):
        att = repo.start_attempt(
            run.id, "image", attempt=1, run_key="key-A", executor="inline", started_at=T0
        )
        repo.finish_attempt(att.id, status=StageStatus.COMPLETED, ended_at=end, outputs={"n": 1})
        made.append(att)
    newer_failure = repo.start_attempt(
        runs[0].id, "image", attempt=2, run_key="key-A", executor="inline", started_at=T0
    )
    repo.finish_attempt(
        newer_failure.id, status=StageStatus.FAILED, ended_at=T0 + timedelta(hours=1)
    )
    other = repo.start_attempt(
        runs[0].id, "image", attempt=3, run_key="key-B", executor="inline", started_at=T0
    )
    found = repo.find_completed_attempt("key-A")
    assert found is not None
    assert (found.id, found.run_id, found.ended_at) == (made[1].id, runs[1].id, ends[1])
    assert repo.find_completed_attempt("key-B") is None  # still running
    repo.finish_attempt(other.id, status=StageStatus.COMPLETED, ended_at=T0)
    assert repo.find_completed_attempt("key-B").id == other.id  # type: ignore[union-attr]
    assert repo.find_completed_attempt("missing") is None


# -- logs -------------------------------------------------------------------
def test_logs_batch_append_filters_and_order(repo: SqlStateRepository) -> None:
    run = repo.create_run("standard", trigger="cli", inputs={})
    other = repo.create_run("standard", trigger="cli", inputs={})
    batch = [
        LogRecord(
            time=T0 + timedelta(seconds=3),
            level="info",
            event="stage.completed",
            run_id=run.id,
            stage="convert",
            fields={"duration_s": 1.5},
        ),
        LogRecord(
            time=T0 + timedelta(seconds=1),
            level="info",
            event="stage.started",
            run_id=run.id,
            stage="convert",
            fields={"attempt": 1},
        ),
        LogRecord(
            time=T0 + timedelta(seconds=2),
            level="warning",
            event="stage.retry_scheduled",
            run_id=run.id,
            stage="convert",
            fields={"delay_s": 0.1, "tags": ["a", "b"]},
        ),
        LogRecord(
            time=T0 + timedelta(seconds=4),
            level="info",
            event="stage.started",
            run_id=run.id,
            stage="image",
        ),
        LogRecord(time=T0, level="info", event="other", run_id=other.id),
        LogRecord(time=T0, level="info", event="service.idle"),
    ]
    repo.append_logs(batch)
    repo.append_logs([])
    got = repo.list_logs(run.id)
    assert [r.event for r in got] == [
        "stage.started",
        "stage.retry_scheduled",
        "stage.completed",
        "stage.started",
    ]
    assert all(r.id is not None for r in got)
    assert [dataclasses.replace(r, id=None) for r in got] == [
        batch[1],
        batch[2],
        batch[0],
        batch[3],
    ]
    assert [r.event for r in repo.list_logs(run.id, level="warning")] == ["stage.retry_scheduled"]
    assert [r.stage for r in repo.list_logs(run.id, stage="image")] == ["image"]
    assert [r.event for r in repo.list_logs(run.id, level="info", stage="convert")] == [
        "stage.started",
        "stage.completed",
    ]
    page = repo.list_logs(run.id, limit=2, offset=1)
    assert [r.id for r in page] == [got[1].id, got[2].id]
    assert [r.event for r in repo.list_logs(other.id)] == ["other"]


def test_log_fields_strict_json_refuses_are_stored_as_strings(repo: SqlStateRepository) -> None:
    import numpy as np

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    run = repo.create_run("w", trigger="t", inputs={})
    fields = {
        "rms": float("nan"),
        "peak": np.float32(1.5),
        "shape": np.arange(3),
        "ms": Path("/data/a.ms"),
        "obj": Opaque(),
        "nested": [float("-inf"), {"ok": 1}],
    }
    repo.append_logs(
        [
            LogRecord(time=T0, level="info", event="qa", run_id=run.id, fields=fields),
            LogRecord(time=T0, level="info", event="plain", run_id=run.id, fields={"n": 1}),
        ]
    )
    got = repo.list_logs(run.id)
    assert [r.event for r in got] == ["qa", "plain"]  # the whole batch is kept
    assert got[0].fields == {
        "rms": "nan",
        "peak": 1.5,
        "shape": [0, 1, 2],
        "ms": "/data/a.ms",
        "obj": "<opaque>",
        "nested": ["-inf", {"ok": 1}],
    }
    assert got[1].fields == {"n": 1}


def test_large_log_batch_in_one_call(repo: SqlStateRepository) -> None:
    run = repo.create_run("standard", trigger="cli", inputs={})
    repo.append_logs(
        [
            LogRecord(
                time=T0 + timedelta(microseconds=i),
                level="debug",
                event="tick",
                run_id=run.id,
                fields={"i": i},
            )
            for i in range(2500)
        ]
    )
    got = repo.list_logs(run.id, limit=5000)
    assert [r.fields["i"] for r in got] == list(range(2500))


# -- JSON and datetimes -----------------------------------------------------
def test_json_values_round_trip_exactly(repo: SqlStateRepository) -> None:
    doc = {
        "float": 0.1,
        "big": 1e20,
        "tiny": 5e-324,
        "neg": -(2**53),
        "int": 2**62,
        "bool": True,
        "none": None,
        "text": 'ünïcødé \u2603 "quoted" \\',
        "nested": {"list": [1, [2, {}]]},
        "empty": [],
        "zero": 0.0,
    }
    run = repo.create_run("w", trigger="t", inputs=doc)
    assert repo.get_run(run.id).inputs == doc  # type: ignore[union-attr]
    assert run.inputs == doc


def test_non_finite_json_is_refused_on_every_backend(repo: SqlStateRepository) -> None:
    with pytest.raises(ValueError, match="JSON"):
        repo.create_run("w", trigger="t", inputs={"flux": float("nan")})
    assert repo.list_runs() == []


def test_datetimes_come_back_aware_utc(repo: SqlStateRepository) -> None:
    run = repo.create_run("w", trigger="t", inputs={})
    local = datetime(2026, 6, 1, 8, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    repo.update_run(run.id, status=RunStatus.RUNNING, started_at=local)
    got = repo.get_run(run.id)
    assert got is not None
    assert got.started_at is not None
    assert got.started_at == local
    assert got.started_at.utcoffset() == timedelta(0)
    assert got.started_at.hour == 3
    assert got.started_at.microsecond == 123456


# -- property: every record round-trips -----------------------------------
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_docs = st.dictionaries(_text, _json, max_size=5)
_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9, minutes=30))]
)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=_zones
)
_opt_float = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)
_opt_int = st.none() | st.integers(0, 2**62)

_PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_PROPERTY
@given(
    workflow=st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30
    ),
    inputs=_docs,
    outputs=_docs,
    status=st.sampled_from(RunStatus),
    error=st.none() | _text,
    started=st.none() | _times,
    ended=st.none() | _times,
)
def test_run_records_round_trip(
    repo: SqlStateRepository,
    workflow: str,
    inputs: dict,
    outputs: dict,
    status: RunStatus,
    error: str | None,
    started: datetime | None,
    ended: datetime | None,
) -> None:
    run = repo.create_run(workflow, trigger="hypothesis", inputs=inputs, config_hash="h")
    repo.update_run(
        run.id, status=status, outputs=outputs, error=error, started_at=started, ended_at=ended
    )
    expected: RunRecord = dataclasses.replace(
        run, status=status, outputs=outputs, error=error, started_at=started, ended_at=ended
    )
    assert repo.get_run(run.id) == expected


@_PROPERTY
@given(
    started=_times,
    ended=_times,
    status=st.sampled_from(StageStatus),
    outputs=_docs,
    duration=_opt_float,
    cpu=_opt_float,
    rss=_opt_int,
    nin=_opt_int,
    nout=_opt_int,
    message=st.none() | _text,
)
def test_attempt_records_round_trip(
    repo: SqlStateRepository,
    started: datetime,
    ended: datetime,
    status: StageStatus,
    outputs: dict,
    duration: float | None,
    cpu: float | None,
    rss: int | None,
    nin: int | None,
    nout: int | None,
    message: str | None,
) -> None:
    run = repo.create_run("w", trigger="t", inputs={})
    att = repo.start_attempt(
        run.id, "s", attempt=1, run_key="k", executor="dask", started_at=started
    )
    repo.finish_attempt(
        att.id,
        status=status,
        ended_at=ended,
        duration_s=duration,
        cpu_s=cpu,
        peak_rss_bytes=rss,
        input_bytes=nin,
        output_bytes=nout,
        outputs=outputs,
        error_message=message,
    )
    expected = dataclasses.replace(
        att,
        status=status,
        ended_at=ended,
        duration_s=duration,
        cpu_s=cpu,
        peak_rss_bytes=rss,
        input_bytes=nin,
        output_bytes=nout,
        outputs=outputs,
        error_message=message,
    )
    assert repo.list_attempts(run.id) == [expected]


@_PROPERTY
@given(
    records=st.lists(
        st.builds(
            LogRecord,
            time=_times,
            level=st.sampled_from(["debug", "info", "error"]),
            event=_text,
            stage=st.none() | _text,
            fields=_docs,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_log_records_round_trip(repo: SqlStateRepository, records: list[LogRecord]) -> None:
    run = repo.create_run("w", trigger="t", inputs={})
    records = [dataclasses.replace(r, run_id=run.id) for r in records]
    repo.append_logs(records)
    got = [dataclasses.replace(r, id=None) for r in repo.list_logs(run.id)]
    # Oldest first; equal times keep insertion order (ids ascend).
    assert got == sorted(records, key=lambda r: r.time)


# -- claims and lifecycle ---------------------------------------------------
def test_claim_one_hands_each_row_to_exactly_one_thread(repo: SqlStateRepository) -> None:
    items = sa.Table(
        "claim_items",
        sa.MetaData(),
        id_column(),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(16)),
    )
    items.create(repo.engine)
    try:
        _claim_concurrently(repo, items)
    finally:
        items.drop(repo.engine)


def _claim_concurrently(repo: SqlStateRepository, items: sa.Table) -> None:
    with repo.write() as conn:
        conn.execute(sa.insert(items), [{"state": "ready"} for _ in range(40)])
    claimed: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        mine = claimed.setdefault(name, [])
        while (
            row := repo.claim_one(
                items,
                where=items.c.state == "ready",
                values={"state": "taken", "owner": name},
                order_by=(items.c.id,),
            )
        ) is not None:
            assert row["owner"] == name
            assert row["state"] == "taken"
            mine.append(row["id"])

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(i for ids in claimed.values() for i in ids)
    assert everything == list(range(1, 41))  # each row exactly once
    with repo.read() as conn:
        owners = dict(conn.execute(sa.select(items.c.id, items.c.owner)).all())
    assert all(owners[i] == name for name, ids in claimed.items() for i in ids)


def test_closed_repository_refuses_work(state_url: str) -> None:
    from contimg.state import open_repository

    repo = open_repository(state_url)
    repo.close()
    repo.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        repo.list_runs()
