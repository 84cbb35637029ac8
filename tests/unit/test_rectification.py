"""The rectification flow (R-3.4): a responsible person, a deadline with a reminder and an
escalation, verification with bounded reopening — straight through and reloaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import AuditAction, InstanceStatus, InvalidTaskData, WorkflowEngine
from tests.conftest import FACT_STEPS, read_files
from tests.drivers import CaseDriver

START = {"problem": "楼道照明维修后仍有两盏不亮 Two stairwell lights still out after repair",
         "source": "spot_check", "source_reference": "SR-DEMO-005", "responsible": "tech_chen",
         "deadline": "2026-01-08"}
DONE = {"plan": "更换镇流器 Replace the ballasts", "evidence": "已更换并测试 Replaced and tested",
        "completed_at": "2026-01-07T16:00"}
# 2026-01-08 ends at 23:59:59 in Shanghai (UTC+8): 15:59:59 UTC.
DEADLINE_AT = datetime(2026, 1, 8, 15, 59, 59, tzinfo=UTC)


class Rectification(CaseDriver):
    def __init__(self, sa_engine, clock, mode):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        self._engine = WorkflowEngine(sa_engine, clock, services=FACT_STEPS)
        self._engine.deploy(read_files("rectification.bpmn"), name="rectification")
        self.id = self._engine.start("rectification", START, business_key="RC-1", user="sup_zhao").id

    @property
    def engine(self):
        return self._engine if self.mode == "straight" else WorkflowEngine(
            self.sa_engine, self.clock, services=FACT_STEPS, instance_cache_size=0)


@pytest.fixture(params=["straight", "reload"])
def case(request, sa_engine, clock):
    return Rectification(sa_engine, clock, request.param)


def test_rectified_and_verified_in_time(case):
    rectify = case.instance.open_tasks[0]
    assert (rectify.element_id, rectify.assignee) == ("Task_Rectify", "tech_chen")
    assert rectify.due_at == DEADLINE_AT
    case.do("Task_Rectify", DONE, "tech_chen")
    case.do("Task_Verify", {"verification": "passed"}, "sup_zhao")
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Closed")
    assert instance.deadline("rectification").met is True
    assert case.engine.next_timer_due() is None


def test_reminder_the_day_before_then_escalation_on_breach(case, clock):
    clock.set(DEADLINE_AT - timedelta(days=1, seconds=1))
    assert case.engine.fire_due_timers() == 0
    clock.advance(seconds=2)
    assert case.engine.fire_due_timers() == 1
    assert case.open() == ["Task_Rectify"]  # a reminder, not a new task
    reminders = [e for e in case.engine.history(case.id) if e.action == AuditAction.NOTIFIED]
    assert [(e.element_id, e.data["to"]) for e in reminders] == [("EndEvent_Reminded", "tech_chen")]
    [notice] = case.engine.notices("tech_chen")
    assert (notice.instance_id, notice.process_key, notice.at) == (case.id, "rectification", clock.now())
    assert case.engine.notices("sup_zhao") == []
    clock.set(DEADLINE_AT + timedelta(seconds=1))
    assert case.engine.fire_due_timers() == 1
    assert case.open() == ["Task_Escalate", "Task_Rectify"]
    assert case.instance.deadline("rectification").met is False
    case.do("Task_Escalate", {"action_taken": "约谈责任人 Talked to the technician"}, "mgr_wu")
    case.do("Task_Rectify", DONE, "tech_chen")
    case.do("Task_Verify", {"verification": "passed"}, "sup_zhao")
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Closed")
    assert instance.deadline("rectification").met is False  # late stays late


def test_timer_due_exactly_now_waits_for_the_next_second(case, clock):
    clock.set(DEADLINE_AT - timedelta(days=1))
    assert case.engine.fire_due_timers() == 0  # the library fires strictly after the due time


def test_reopened_at_most_three_times_then_the_manager_decides(case):
    for round_ in range(3):
        case.do("Task_Rectify", DONE, "tech_chen")
        if round_ == 0:
            with pytest.raises(InvalidTaskData) as caught:
                case.do("Task_Verify", {"verification": "reopen"}, "sup_zhao")
            assert list(caught.value.errors) == ["verification_note"]
        case.do("Task_Verify", {"verification": "reopen", "verification_note": f"第{round_ + 1}次未到位"},
                "sup_zhao")
    assert case.open() == ["Task_ManagerDecision"]
    case.do("Task_ManagerDecision", {"decision": "更换供应商 Change supplier"}, "mgr_wu")
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.deadline("rectification").met is True  # decided before the deadline


def test_start_form_requires_a_responsible_person_and_a_deadline(engine):
    engine.deploy(read_files("rectification.bpmn"), name="rectification")
    with pytest.raises(InvalidTaskData) as caught:
        engine.start("rectification", {"problem": "something wrong", "source": "spot_check"})
    assert set(caught.value.errors) == {"responsible", "deadline"}
