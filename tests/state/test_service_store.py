"""The service store (revision 0006_service) on every backend: claims, leases, heartbeats."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from contimg.state import SqlStateRepository
from contimg.state._service import ClaimState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _complete_group(repo: SqlStateRepository, t0: datetime, *, calibrator: str | None = None):
    for sb in range(16):
        result = repo.groups.index_file(
            f"/in/{t0:%Y%m%dT%H%M%S}_sb{sb:02d}.hdf5",
            subband=sb,
            timestamp=t0,
            size=1,
            dec_deg=54.6,
        )
    group = result.group
    plan = ("calibrator", "standard") if calibrator else ("standard",)
    assert repo.service.add_group(
        group, plan=plan, obs_start=t0, calibrator=calibrator, transit_at=t0 if calibrator else None
    )
    return group


def test_planning_is_idempotent_and_ready_groups_are_candidates(repo: SqlStateRepository) -> None:
    target = _complete_group(repo, T0)
    cal = _complete_group(repo, T0 + timedelta(minutes=10), calibrator="0834+555")
    assert not repo.service.add_group(target, plan=("standard",), obs_start=T0)
    assert repo.service.unplanned_groups() == []
    assert repo.service.mark_ready() == 2
    # calibrator groups first
    assert [c.group_id for c, _g in repo.service.candidates()] == [cal.group_id, target.group_id]
    assert [c.group_id for c in repo.service.pending_calibrators()] == [cal.group_id]
    assert repo.service.queue_summary().ready == 2
    assert repo.service.queue_depth() == 2


def test_a_group_is_claimed_by_exactly_one_of_many_threads(repo: SqlStateRepository) -> None:
    group = _complete_group(repo, T0)
    barrier = threading.Barrier(6)
    won: list[str] = []

    def _claim(owner: str) -> None:
        barrier.wait(timeout=30)
        if repo.service.claim(group.id, owner, lease_s=30) is not None:
            won.append(owner)

    threads = [threading.Thread(target=_claim, args=(f"o{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1
    claim = repo.service.get(group.id)
    assert claim.owner == won[0]
    assert claim.state is ClaimState.CLAIMED
    assert repo.service.candidates() == []


def test_lapsed_leases_are_taken_over_once_and_the_old_owner_is_refused(
    repo: SqlStateRepository,
) -> None:
    group = _complete_group(repo, T0)
    assert repo.service.claim(group.id, "dead", lease_s=0.2) is not None
    assert repo.service.update_claim(group.id, "dead", state=ClaimState.RUNNING, run_id=None)
    assert repo.service.take_over_expired("b", lease_s=30) is None  # not lapsed yet
    time.sleep(0.3)
    taken = repo.service.take_over_expired("b", lease_s=30)
    assert taken is not None
    assert (taken.owner, taken.takeovers, taken.state) == ("b", 1, ClaimState.RUNNING)
    assert repo.service.take_over_expired("c", lease_s=30) is None
    assert not repo.service.update_claim(group.id, "dead", state=ClaimState.DONE)
    assert repo.service.update_claim(group.id, "b", state=ClaimState.DONE)
    assert repo.service.get(group.id).state is ClaimState.DONE


def test_heartbeat_renews_claims_and_leases_and_shows_liveness(repo: SqlStateRepository) -> None:
    group = _complete_group(repo, T0)
    assert repo.service.last_heartbeat() is None
    repo.service.register_worker("w1", host="h", pid=1, slots=1)
    assert repo.service.acquire_lease("watcher", "w1", lease_s=0.2)
    assert not repo.service.acquire_lease("watcher", "w2", lease_s=30)
    repo.service.claim(group.id, "w1", lease_s=0.2)
    before = repo.service.last_heartbeat()
    assert before is not None
    repo.service.heartbeat("w1", lease_s=30, info={"active": [group.group_id]})
    time.sleep(0.3)
    assert repo.service.take_over_expired("w2", lease_s=30) is None  # renewed
    assert not repo.service.acquire_lease("watcher", "w2", lease_s=30)
    assert repo.service.last_heartbeat() >= before
    assert repo.service.workers()[0].info == {"active": [group.group_id]}
    # a dead owner: its claim and lease lapse at once
    assert repo.service.expire_owner("w1") == 1
    repo.service.set_worker_state("w1", "dead")
    assert repo.service.last_heartbeat() is None
    assert repo.service.acquire_lease("watcher", "w2", lease_s=30)
    assert repo.service.take_over_expired("w2", lease_s=30).owner == "w2"


def test_runs_for_group_find_the_group_runs(repo: SqlStateRepository) -> None:
    a = repo.create_run("standard", trigger="service", inputs={"group_id": "g1"})
    repo.create_run("standard", trigger="service", inputs={"group_id": "g2"})
    b = repo.create_run("calibrator", trigger="service", inputs={"group_id": "g1"})
    assert [r.run_id for r in repo.service.runs_for_group("g1")] == [b.id, a.id]
    assert [r.run_id for r in repo.service.runs_for_group("g1", workflow="standard")] == [a.id]
    assert repo.service.runs_for_group("g1", since=datetime.now(UTC) + timedelta(hours=1)) == []
