"""The weekly spot check (R-3.1) on the engine alone: a sample, one inspection each, a
rectification per failure — straight through and reloaded."""

from datetime import UTC, datetime

import pytest

from engine import InstanceStatus, InvalidTaskData, WorkflowEngine
from tests.conftest import FACT_STEPS, read_files

FILES = read_files("spot_check.bpmn", "rectification.bpmn")
FAILED = {"check_result": "failed", "findings": "服务记录缺少材料清单 No materials listed",
          "responsible": "tech_chen", "rectify_by": "2026-01-09"}


def services(sample):
    def pick(call):
        return {"sample": list(sample), "sample_size": len(sample)}

    def rectify(call):
        found = call.variables
        return {"last_rectification": call.start("rectification", {
            "problem": found["findings"], "source": "spot_check", "source_reference": found["item"],
            "responsible": found["responsible"], "deadline": found["rectify_by"]},
            business_key=f"RC-{found['item']}")}

    return {**FACT_STEPS, "propflow.spot_check.sample": pick, "propflow.spot_check.rectify": rectify}


@pytest.fixture(params=["straight", "reload"])
def make(request, sa_engine, clock):
    def build(sample):
        kept = WorkflowEngine(sa_engine, clock, services=services(sample))
        kept.deploy(FILES, name="quality")

        def engine():
            if request.param == "straight":
                return kept
            return WorkflowEngine(sa_engine, clock, services=services(sample), instance_cache_size=0)

        return engine

    return build


def inspect(engine, instance_id, data):
    task = engine().instance(instance_id).open_tasks[0]
    assert task.element_id == "Task_Inspect"
    return engine().complete_user_task(task.id, data, user="sup_zhao")


def test_each_sampled_request_is_inspected_and_failures_are_rectified(make):
    engine = make(["SR-1", "SR-2"])
    check = engine().start("spot_check", {}, business_key="SC-1")
    assert engine().task(check.open_tasks[0].id).data["item"] == "SR-1"
    inspect(engine, check.id, FAILED)
    second = engine().instance(check.id).open_tasks[0]
    assert engine().task(second.id).data["item"] == "SR-2"
    with pytest.raises(InvalidTaskData) as caught:  # the last answers are not carried over
        inspect(engine, check.id, {"check_result": "failed"})
    assert set(caught.value.errors) == {"findings", "responsible", "rectify_by"}
    done = inspect(engine, check.id, {"check_result": "passed", "followed_sop": True})
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Done")
    rectifications = engine().find_instances(process_key="rectification")
    assert len(rectifications) == 1
    rectification = engine().instance(rectifications[0])
    assert rectification.variables["source_reference"] == "SR-1"
    assert rectification.open_tasks[0].assignee == "tech_chen"


def test_an_empty_sample_closes_at_once(make):
    engine = make([])
    check = engine().start("spot_check", {}, business_key="SC-1")
    assert (check.status, check.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Done")


def test_started_every_monday_by_the_worker(make, clock):
    engine = make(["SR-1"])
    assert len(engine().fire_due_schedules()) == 1  # 09:00 in Shanghai is 01:00 UTC: past
    assert engine().fire_due_schedules() == []
    clock.advance(days=7)
    assert len(engine().fire_due_schedules()) == 1


def test_after_weeks_away_the_worker_starts_this_week_s_check_once(make, clock):
    engine = make(["SR-1"])
    clock.set(datetime(2026, 2, 10, 12, 0, tzinfo=UTC))  # five Mondays missed
    [started] = engine().fire_due_schedules()
    assert engine().instance(started).business_key == "spot_check-20260209-0100"
    assert engine().fire_due_schedules() == []
    assert engine().next_timer_due() == datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
