"""The files/groups/ms_index stores (revision 0002_ingest), on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contimg.state import SqlStateRepository
from contimg.state._ingest import GroupState

T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
JITTER = [0, 12, -25, 7, 29, -3, 18, -14, 22, -29, 5, -8, 27, -19, 11, 3]


def _index_group(repo: SqlStateRepository, t0: datetime, subbands=range(16), **kw):
    results = []
    for sb in subbands:
        ts = t0 + timedelta(seconds=JITTER[sb])
        name = f"/in/{ts:%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5"
        results.append(
            repo.groups.index_file(name, subband=sb, timestamp=ts, size=100, dec_deg=54.57, **kw)
        )
    return results


def test_sixteen_jittered_files_make_one_complete_group(repo: SqlStateRepository) -> None:
    results = _index_group(repo, T0)
    group = results[-1].group
    assert group.group_id == "2026-01-01T00:00:00"
    assert group.state is GroupState.COMPLETE
    assert group.n_subbands == 16
    assert group.has_sb00
    assert [r.group.state for r in results[:-1]] == [GroupState.COLLECTING] * 15
    files = repo.groups.group_files(group.group_id)
    assert sorted(files) == list(range(16))
    assert files[3] == Path("/in/2026-01-01T00:00:07_sb03.hdf5")
    assert repo.groups.list_files(group.group_id)[0].dec_deg == pytest.approx(54.57)


def test_indexing_is_idempotent(repo: SqlStateRepository) -> None:
    first = _index_group(repo, T0, subbands=[0, 1])
    again = _index_group(repo, T0, subbands=[1])
    assert first[1].new
    assert not again[0].new
    assert again[0].file == first[1].file
    assert repo.groups.get_group("2026-01-01T00:00:00").n_subbands == 2


def test_consecutive_groups_stay_apart(repo: SqlStateRepository) -> None:
    _index_group(repo, T0)
    _index_group(repo, T0 + timedelta(seconds=309))
    groups = repo.groups.list_groups()
    assert [g.group_id for g in groups] == ["2026-01-01T00:00:00", "2026-01-01T00:05:09"]
    assert all(g.n_subbands == 16 for g in groups)
    assert repo.groups.list_groups(since=T0 + timedelta(seconds=100))[0].group_id.endswith("05:09")


def test_group_without_sb00_is_rekeyed_when_sb00_arrives(repo: SqlStateRepository) -> None:
    first = _index_group(repo, T0, subbands=[4])[0]
    assert first.group.group_id == "2026-01-01T00:00:29"
    early = _index_group(repo, T0, subbands=[9, 2, 5])
    # no sb00 yet: the id is the earliest timestamp seen (sb09 at -29 s)
    assert early[-1].group.group_id == "2025-12-31T23:59:31"
    assert not early[-1].group.has_sb00
    late = _index_group(repo, T0, subbands=[0])[0]
    assert late.renamed_from == "2025-12-31T23:59:31"
    assert late.group.group_id == "2026-01-01T00:00:00"
    assert repo.groups.get_group("2025-12-31T23:59:31") is None
    assert sorted(repo.groups.group_files("2026-01-01T00:00:00")) == [0, 2, 4, 5, 9]


def test_same_subband_within_tolerance_starts_a_new_group(repo: SqlStateRepository) -> None:
    repo.groups.index_file("/in/a_sb04.hdf5", subband=4, timestamp=T0, size=1, dec_deg=None)
    other = repo.groups.index_file(
        "/in/b_sb04.hdf5", subband=4, timestamp=T0 + timedelta(seconds=20), size=1, dec_deg=None
    )
    assert other.group.group_id == "2026-01-01T00:00:20"
    assert len(repo.groups.list_groups()) == 2


def test_state_transitions_are_checked(repo: SqlStateRepository) -> None:
    _index_group(repo, T0)
    gid = "2026-01-01T00:00:00"
    with pytest.raises(ValueError, match="cannot go from complete to converted"):
        repo.groups.set_state(gid, GroupState.CONVERTED)
    claimed = repo.groups.claim_next()
    assert claimed is not None
    assert claimed.state is GroupState.CONVERTING
    assert repo.groups.claim_next() is None
    failed = repo.groups.set_state(gid, GroupState.FAILED, error="corrupt file /in/x")
    assert failed.error == "corrupt file /in/x"
    repo.groups.set_state(gid, GroupState.CONVERTING)
    done = repo.groups.set_state(gid, GroupState.CONVERTED)
    assert done.state is GroupState.CONVERTED
    assert done.error is None
    with pytest.raises(KeyError):
        repo.groups.set_state("nope", GroupState.FAILED)


def test_claims_hand_out_each_group_once(repo: SqlStateRepository) -> None:
    # claim_next is SqlStore.claim_one, whose cross-thread/process exclusivity is in the contract
    for k in range(3):
        _index_group(repo, T0 + timedelta(seconds=309 * k))
    got = []
    while (g := repo.groups.claim_next()) is not None:
        got.append(g.group_id)
    assert got == [g.group_id for g in repo.groups.list_groups()]


def test_timeout_marks_incomplete_and_a_late_file_completes(repo: SqlStateRepository) -> None:
    now = datetime.now(UTC)
    _index_group(repo, T0, subbands=[s for s in range(16) if s != 6])
    assert repo.groups.expire_collecting(timeout_s=600, now=now) == []
    expired = repo.groups.expire_collecting(timeout_s=600, now=now + timedelta(seconds=601))
    assert [g.state for g in expired] == [GroupState.INCOMPLETE]
    assert repo.groups.claim_next() is None
    late = _index_group(repo, T0, subbands=[6])[0]
    assert late.group.state is GroupState.COMPLETE


def test_incomplete_groups_can_be_claimed_for_flagged_conversion(repo: SqlStateRepository) -> None:
    _index_group(repo, T0, subbands=[0, 1, 2])
    repo.groups.expire_collecting(timeout_s=1, now=datetime.now(UTC) + timedelta(seconds=5))
    assert repo.groups.claim_next() is None
    claimed = repo.groups.claim_next(include_incomplete=True)
    assert claimed is not None
    assert claimed.n_subbands == 3


def test_ms_index_register_list_status(repo: SqlStateRepository, tmp_path: Path) -> None:
    a = repo.ms.register(
        tmp_path / "a.ms",
        group_id="g1",
        start_mjd=61041.0,
        mid_mjd=61041.1,
        end_mjd=61041.2,
        dec_deg=54.57,
        n_fields=24,
        meta={"writer": "fast"},
    )
    assert a.path == tmp_path / "a.ms"
    assert a.status == "converted"
    again = repo.ms.register(
        tmp_path / "a.ms",
        group_id="g1",
        start_mjd=61041.0,
        mid_mjd=61041.1,
        end_mjd=61041.2,
        dec_deg=54.57,
        n_fields=24,
    )
    assert again.id == a.id
    assert again.created_at == a.created_at
    repo.ms.register(
        tmp_path / "b.ms",
        group_id="g2",
        start_mjd=61042.0,
        mid_mjd=61042.1,
        end_mjd=61042.2,
        dec_deg=54.57,
        n_fields=24,
    )
    assert [m.group_id for m in repo.ms.list_ms()] == ["g1", "g2"]
    assert [m.group_id for m in repo.ms.list_ms(mjd_range=(61042.0, 61043.0))] == ["g2"]
    repo.ms.set_status(tmp_path / "b.ms", "flagged")
    assert [m.group_id for m in repo.ms.list_ms(status="flagged")] == ["g2"]
    assert repo.ms.for_group("g1").path == tmp_path / "a.ms"
    assert repo.ms.get(tmp_path / "nope.ms") is None
    with pytest.raises(KeyError):
        repo.ms.set_status(tmp_path / "nope.ms", "x")
