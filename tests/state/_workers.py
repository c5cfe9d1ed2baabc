"""Process entry points for the multi-process SQLite tests (importable by spawn)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contimg.state import LogRecord, RunStatus, StageStatus, open_repository
from contimg.state._base import id_column

CLAIM_ITEMS = sa.Table(
    "claim_items",
    sa.MetaData(),
    id_column(),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(16)),
)


def write_runs(url: str, name: str, n_runs: int, barrier: Any) -> int:
    """Open (and migrate) ``url`` together with the other workers, then write runs."""
    barrier.wait(timeout=60)
    with open_repository(url) as repo:
        for i in range(n_runs):
            now = datetime.now(UTC)
            run = repo.create_run("stress", trigger=name, inputs={"i": i})
            repo.update_run(run.id, status=RunStatus.RUNNING, started_at=now)
            att = repo.start_attempt(
                run.id, "s", attempt=1, run_key=f"{name}-{i}", executor="process", started_at=now
            )
            repo.append_logs(
                [
                    LogRecord(time=now, level="info", event="tick", run_id=run.id, fields={"k": k})
                    for k in range(5)
                ]
            )
            repo.finish_attempt(att.id, status=StageStatus.COMPLETED, ended_at=datetime.now(UTC))
            repo.update_run(run.id, status=RunStatus.COMPLETED, ended_at=datetime.now(UTC))
    return n_runs


def claim_items(url: str, name: str, barrier: Any) -> list[int]:
    """Claim ``claim_items`` rows until none is left; return the ids this worker got."""
    mine: list[int] = []
    with open_repository(url) as repo:
        barrier.wait(timeout=60)
        while (
            row := repo.claim_one(
                CLAIM_ITEMS,
                where=CLAIM_ITEMS.c.state == "ready",
                values={"state": "taken", "owner": name},
                order_by=(CLAIM_ITEMS.c.id,),
            )
        ) is not None:
            mine.append(row["id"])
    return mine
