"""Periodic processes: a timer start event starts a new instance each period — once per
period, even with two workers, and without a flood after downtime."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from engine import InvalidDiagram, WorkflowEngine, worker
from engine.catalogue import StartTimer
from engine.schedules import first_run, following
from tests.conftest import FIXTURES

WEEKLY = (FIXTURES / "weekly_check.bpmn").read_text()


def deploy(engine, text=WEEKLY):
    return engine.deploy({"weekly_check.bpmn": text.encode()}, name="weekly")


def instances(engine) -> list:
    return [engine.instance(i) for i in engine.find_instances(process_key="weekly_check")]


def test_each_period_starts_a_new_instance(engine, clock):
    clock.set(clock.now().replace(hour=8))  # Monday 08:00, an hour before the first run
    deploy(engine)
    assert engine.next_timer_due() == clock.now() + timedelta(hours=1)
    assert worker.sweep(engine) == 0
    clock.advance(hours=1)
    assert worker.sweep(engine) == 1
    first = instances(engine)
    assert len(first) == 1 and first[0].open_tasks[0].element_id == "Task_Check"
    assert first[0].business_key == "weekly_check-20260105-0900"
    assert first[0].variables["scheduled_for"] == "2026-01-05T09:00:00+00:00"
    assert worker.sweep(engine) == 0
    clock.advance(days=7)
    assert worker.sweep(engine) == 1
    assert len(instances(engine)) == 2


def test_downtime_catches_up_once(engine, clock):
    deploy(engine)
    clock.advance(days=30)
    assert worker.sweep(engine) == 1
    assert worker.sweep(engine) == 0
    # 30 days after Monday 5 January: the next Monday run is 9 February, 09:00.
    assert engine.next_timer_due() == clock.now().replace(month=2, day=9)


def test_two_workers_start_each_period_once(engine, sa_engine, clock):
    deploy(engine)
    other = WorkflowEngine(sa_engine, clock)
    barrier = threading.Barrier(2)
    results = []

    def run(e):
        barrier.wait(timeout=10)
        results.append(len(e.fire_due_schedules()))

    threads = [threading.Thread(target=run, args=(e,)) for e in (engine, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1]
    assert len(instances(engine)) == 1


def test_limited_cycles_stop(engine, clock):
    deploy(engine, WEEKLY.replace("R/2026", "R2/2026"))
    for _ in range(4):
        worker.sweep(engine)
        clock.advance(days=7)
    assert len(instances(engine)) == 2


def test_new_version_without_the_timer_stops_the_schedule(engine, clock):
    deploy(engine)
    worker.sweep(engine)
    plain = WEEKLY.replace('''      <bpmn:timerEventDefinition id="TimerEventDefinition_Weekly">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/2026-01-05T09:00:00+00:00/P7D</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
''', "")
    deploy(engine, plain)
    clock.advance(days=7)
    assert worker.sweep(engine) == 0
    assert engine.next_timer_due() is None


def test_unchanged_timer_keeps_its_next_run(engine, clock):
    deploy(engine)
    worker.sweep(engine)
    due = engine.next_timer_due()
    deploy(engine, WEEKLY.replace('name="Check"', 'name="Check v2"'))
    assert engine.next_timer_due() == due
    clock.advance(days=7)
    worker.sweep(engine)
    names = sorted(i.open_tasks[0].name for i in instances(engine))
    assert names == ["Check", "Check v2"]  # the new period starts on the new version


def test_timer_start_needs_a_fixed_value(engine):
    with pytest.raises(InvalidDiagram) as caught:
        deploy(engine, WEEKLY.replace("R/2026-01-05T09:00:00+00:00/P7D", "${cycle}"))
    assert caught.value.problems[0].element_id == "StartEvent_Weekly"


def test_a_monthly_cycle_follows_the_calendar():
    monthly = StartTimer("Start_Monthly", "timeCycle", "R/2026-01-01T09:00:00+08:00/P1M")
    run = first_run(monthly, datetime(2025, 12, 1, tzinfo=UTC))
    runs = [run]
    for count in range(1, 4):
        run = following(monthly, run, count, run)
        runs.append(run)
    assert [r.astimezone(UTC).strftime("%m-%d %H:%M") for r in runs] == [
        "01-01 01:00", "02-01 01:00", "03-01 01:00", "04-01 01:00"]
