"""Timers: fired by the clock, only for due instances, exactly once, none lost."""

import threading

import pytest
from sqlalchemy import func, select

from engine import AuditAction, WorkflowEngine, worker
from engine.models import AuditEvent, Timer
from tests.conftest import FIXTURES

APPROVAL = {"approval.bpmn": (FIXTURES / "approval.bpmn").read_bytes()}


@pytest.fixture
def approvals(engine):
    engine.deploy(APPROVAL, name="approval")
    return engine


def escalations(sa_engine, instance_id=None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == AuditAction.DEADLINE_BREACHED)
    if instance_id:
        query = query.where(AuditEvent.instance_id == instance_id)
    with sa_engine.connect() as connection:
        return connection.scalar(query)


def test_timer_row_holds_the_due_time(approvals, sa_engine, clock):
    started = approvals.start("approval", {"amount": 1})
    with sa_engine.connect() as connection:
        rows = connection.execute(select(Timer.element_id, Timer.due_at)).all()
    assert rows == [("Reminder", clock.now().replace(hour=11))]
    assert started.deadline("approval").due_at == clock.now().replace(hour=11)


def test_nothing_fires_before_the_due_time(approvals, clock):
    approvals.start("approval", {"amount": 1})
    clock.advance(hours=1, minutes=59)
    assert approvals.fire_due_timers() == 0


def test_due_timer_fires_once_and_escalates(approvals, sa_engine, clock):
    started = approvals.start("approval", {"amount": 1})
    clock.advance(hours=2, seconds=1)
    assert approvals.fire_due_timers() == 1
    assert approvals.fire_due_timers() == 0
    names = sorted(t.name for t in approvals.instance(started.id).open_tasks)
    assert names == ["Approve", "Chase approver"]  # non-interrupting: the work goes on
    assert escalations(sa_engine, started.id) == 1
    deadline = approvals.instance(started.id).deadline("approval")
    assert deadline.met is False and deadline.breached_at == clock.now()


def test_completing_in_time_meets_nothing_fires(approvals, clock):
    started = approvals.start("approval", {"amount": 1})
    clock.advance(hours=1)
    approvals.complete_user_task(started.open_tasks[0].id, {"approved": True}, user="m")
    clock.advance(hours=5)
    assert approvals.fire_due_timers() == 0
    assert approvals.instance(started.id).status == "completed"


def test_sweep_wakes_only_due_instances(approvals, clock, monkeypatch):
    early = [approvals.start("approval", {"amount": 1}).id for _ in range(3)]
    clock.advance(hours=1)
    later = [approvals.start("approval", {"amount": 1}).id for _ in range(5)]
    clock.advance(hours=1, seconds=1)  # only the first three are due
    woken = []
    real_wake = WorkflowEngine.wake
    monkeypatch.setattr(WorkflowEngine, "wake",
                        lambda self, iid: woken.append(iid) or real_wake(self, iid))
    assert worker.sweep(approvals) == 3
    assert sorted(woken) == sorted(early)
    assert not set(woken) & set(later)


def test_two_workers_at_once_fire_each_timer_once(approvals, sa_engine, clock):
    ids = [approvals.start("approval", {"amount": 1}).id for _ in range(6)]
    clock.advance(hours=3)
    other = WorkflowEngine(sa_engine, clock)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep(engine):
        try:
            barrier.wait(timeout=10)
            results.append(worker.sweep(engine))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(e,)) for e in (approvals, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(results) == 6
    assert escalations(sa_engine) == 6
    for instance_id in ids:
        assert escalations(sa_engine, instance_id) == 1


def test_worker_killed_mid_sweep_loses_nothing(approvals, sa_engine, clock, monkeypatch):
    ids = [approvals.start("approval", {"amount": 1}).id for _ in range(3)]
    clock.advance(hours=3)
    real_advance = WorkflowEngine._save
    calls = []

    def dying_save(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # as abrupt as a signal, mid-transaction
        return real_advance(self, *args, **kwargs)

    monkeypatch.setattr(WorkflowEngine, "_save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        worker.sweep(approvals)
    monkeypatch.setattr(WorkflowEngine, "_save", real_advance)
    assert escalations(sa_engine) == 1  # the first instance committed, nothing half-done
    assert worker.sweep(WorkflowEngine(sa_engine, clock)) == 2
    assert [escalations(sa_engine, i) for i in ids] == [1, 1, 1]


def test_run_loop_sleeps_until_the_next_due_time(approvals, clock):
    approvals.start("approval", {"amount": 1})
    stop = threading.Event()
    waits = []

    def fake_wait(seconds):
        waits.append(seconds)
        clock.advance(seconds=seconds)
        if len(waits) == 2:
            stop.set()
        return stop.is_set()

    worker.run(approvals, stop=stop, max_interval=10_000, wait=fake_wait)
    assert waits[0] == pytest.approx(2 * 3600)  # straight to the reminder, no polling
    assert approvals.next_timer_due() is None or waits[1] > 0
