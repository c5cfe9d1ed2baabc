"""Assertions shared by the service tests: every group processed exactly once."""

from __future__ import annotations

import collections
from pathlib import Path

import sqlalchemy as sa

from contimg.state import SqlStateRepository
from contimg.state.schema import runs, stage_executions


def completed_counts(repo: SqlStateRepository) -> dict[tuple[str, str], int]:
    """(group_id, workflow) -> number of completed runs."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    with repo.read() as conn:
        for row in conn.execute(sa.select(runs.c.workflow, runs.c.inputs, runs.c.status)):
            if row.status == "completed":
                counts[(row.inputs["group_id"], row.workflow)] += 1
    return dict(counts)


def conversions(repo: SqlStateRepository) -> dict[str, int]:
    """group_id -> completed attempts of the ``convert`` stage (over every run)."""
    stmt = (
        sa.select(runs.c.inputs)
        .join(stage_executions, stage_executions.c.run_id == runs.c.id)
        .where(stage_executions.c.stage == "convert", stage_executions.c.status == "completed")
    )
    with repo.read() as conn:
        return dict(collections.Counter(r.inputs["group_id"] for r in conn.execute(stmt)))


def assert_exactly_once(repo: SqlStateRepository, group_ids: list[str], ms_dir: Path) -> None:
    """Each group: converted, one completed run per planned workflow, one conversion, one MS."""
    plans = {c.group_id: c.plan for c in repo.service.list_claims()}
    assert sorted(plans) == sorted(group_ids)
    expected = {(g, wf): 1 for g in group_ids for wf in plans[g]}
    assert completed_counts(repo) == expected
    assert conversions(repo) == dict.fromkeys(group_ids, 1)
    for gid in group_ids:
        assert repo.groups.get_group(gid).state.value == "converted"
    ms_rows = repo.ms.list_ms(limit=1000)
    assert sorted(r.group_id for r in ms_rows) == sorted(group_ids)
    # only finished Measurement Sets in ms/: no temporary or partial names
    assert sorted(p.name for p in ms_dir.iterdir()) == sorted(f"{g}.ms" for g in group_ids)
    assert {c.state.value for c in repo.service.list_claims()} == {"done"}
