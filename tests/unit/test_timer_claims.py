"""Timer workers share the due instances: SQLite leases (respected while their holder may be
alive, taken over when it has expired or its process is gone) and PostgreSQL row locks
(skipped, not waited for; released when the holder's connection dies)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest
from sqlalchemy import func, select

from engine import AuditAction, ConcurrentUpdate, WorkflowEngine, timer_claims, worker
from engine.models import AuditEvent, ProcessInstance, TimerLease
from engine.timer_claims import LEASE
from tests import interleave
from tests.unit.test_timers import APPROVAL, escalations


@pytest.fixture
def overdue(engine, clock):
    """Six approvals whose escalation timer is due."""
    engine.deploy(APPROVAL, name="approval")
    ids = [engine.start("approval", {"amount": 1}).id for _ in range(6)]
    clock.advance(hours=3)
    return ids


def lease(sa_engine, instance_ids, *, host, pid, expires_at):
    with sa_engine.begin() as connection:
        connection.execute(TimerLease.__table__.insert(), [
            {"instance_id": i, "host": host, "pid": pid, "expires_at": expires_at} for i in instance_ids])


def leases(sa_engine) -> int:
    with sa_engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(TimerLease))


def fired(sa_engine) -> set[str]:
    with sa_engine.connect() as connection:
        return set(connection.scalars(select(AuditEvent.instance_id).where(
            AuditEvent.action == AuditAction.DEADLINE_BREACHED)))


def a_finished_process_id() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# Leases are SQLite's; PostgreSQL workers lock rows instead.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@sqlite_only
def test_a_live_workers_lease_is_left_alone_until_it_expires(engine, sa_engine, clock, overdue):
    held = overdue[:2]
    lease(sa_engine, held, host="worker-2.example", pid=4242, expires_at=clock.now() + LEASE)

    assert worker.sweep(engine) == 4
    assert fired(sa_engine) == set(overdue[2:])
    assert leases(sa_engine) == 2  # the other worker's claims are untouched

    clock.advance(seconds=LEASE.total_seconds() + 1)  # that worker never came back
    assert worker.sweep(engine) == 2
    assert fired(sa_engine) == set(overdue)
    assert leases(sa_engine) == 0
    assert [escalations(sa_engine, i) for i in overdue] == [1] * 6


@sqlite_only
def test_a_lease_of_a_process_gone_from_this_host_is_taken_over_at_once(engine, sa_engine, clock,
                                                                        overdue):
    here = socket.gethostname()
    lease(sa_engine, overdue[:2], host=here, pid=a_finished_process_id(),
          expires_at=clock.now() + LEASE)
    lease(sa_engine, overdue[2:3], host=here, pid=os.getppid(),  # alive: our parent process
          expires_at=clock.now() + LEASE)

    assert worker.sweep(engine) == 5
    assert fired(sa_engine) == set(overdue) - {overdue[2]}


@sqlite_only
def test_firing_gives_up_the_lease_with_the_work(engine, sa_engine, clock, overdue):
    assert engine.fire_due_timers(limit=2) == 2
    assert leases(sa_engine) == 0
    assert len(fired(sa_engine)) == 2


@sqlite_only
def test_an_instance_that_cannot_fire_is_released_for_the_next_sweep(engine, sa_engine, clock,
                                                                      overdue, monkeypatch):
    from engine import EngineError

    def broken(self, *args, **kwargs):
        raise EngineError("a script failed")

    reported = []
    monkeypatch.setattr(WorkflowEngine, "_save", broken)
    assert engine.fire_due_timers(on_error=lambda i, exc: reported.append(i)) == 0
    assert sorted(reported) == sorted(overdue)
    assert leases(sa_engine) == 0  # nothing is held back until a lease expires
    monkeypatch.undo()
    assert worker.sweep(engine) == 6


@postgres_only
def test_an_instance_locked_by_another_worker_is_skipped_not_waited_for(engine, sa_engine, clock,
                                                                         overdue):
    held = overdue[0]
    other_worker = sa_engine.connect()
    transaction = other_worker.begin()
    other_worker.execute(select(ProcessInstance.id).where(ProcessInstance.id == held).with_for_update())
    results = []
    sweeping = threading.Thread(target=lambda: results.append(worker.sweep(engine)))
    sweeping.start()
    sweeping.join(timeout=60)  # a sweep that waited for the lock would still be blocked here
    try:
        assert not sweeping.is_alive(), "the sweep waited for another worker's lock"
        assert results == [5]
        assert fired(sa_engine) == set(overdue) - {held}
    finally:
        transaction.rollback()  # the other worker dies: its lock goes with its connection
        other_worker.close()
        sweeping.join(timeout=60)
    assert worker.sweep(engine) == 1
    assert [escalations(sa_engine, i) for i in overdue] == [1] * 6



@postgres_only
def test_a_timer_firing_and_a_completion_of_the_same_case_do_not_deadlock(engine, sa_engine, clock,
                                                                            overdue, monkeypatch):
    """The worker locks the instance it fires; a completion of its task meanwhile must not
    end in a deadlock (the head of the audit chain, then the instance row, against the
    instance row, then the head): one of them waits for the other and loses cleanly."""
    case = overdue[0]
    task_id = engine.instance(case).open_tasks[0].id
    taken, go = threading.Event(), threading.Event()
    real_take = timer_claims.take

    def take_then_wait(session, instance_id):
        instance = real_take(session, instance_id)
        taken.set()
        assert go.wait(timeout=30)
        return instance

    monkeypatch.setattr(timer_claims, "take", take_then_wait)
    outcomes: dict[str, object] = {}
    firing = interleave.start(outcomes, "timer", lambda: engine.wake(case))
    assert taken.wait(timeout=30)
    completing = interleave.start(outcomes, "completion", lambda: WorkflowEngine(sa_engine, clock)
                                  .complete_user_task(task_id, {"approved": True}, user="li"))
    interleave.wait_until_blocked(sa_engine, completing)  # it waits for a lock the firing holds
    go.set()
    firing.join(timeout=60)
    completing.join(timeout=60)
    assert outcomes["timer"] is True, outcomes
    assert isinstance(outcomes["completion"], ConcurrentUpdate), outcomes
    assert escalations(sa_engine, case) == 1
    assert engine.complete_user_task(task_id, {"approved": True}, user="li").id == case  # on retry
