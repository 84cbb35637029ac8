"""The monthly service quality meeting (R-4.4) on the engine alone: an agenda from last month's
analysis, the meeting's minutes, and a rectification per measure decided — straight through and
reloaded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import InstanceStatus, InvalidTaskData, WorkflowEngine
from tests.conftest import FACT_STEPS, read_files

FILES = read_files("improvement_meeting.bpmn", "rectification.bpmn")
FIGURES = {"requests_received": 42, "response_rate": 95, "emergency_rate": 7, "satisfaction_rate": 88,
           "breaches": 3, "low_scores": 4, "open_rectifications": 2, "complaints": 1}
AGENDA = {"period_start": "2025-12-01", "period_end": "2025-12-31",
          "agenda": "1. 超时 3 件 Three deadline breaches\n2. 低分 4 件 Four low scores\n"
                    "3. 重复问题：3 号楼电梯 Repeated: lift in building 3", **FIGURES}
HELD = {"meeting_date": "2026-01-08", "attendees": "mgr_wu, qr_lin, sup_zhao",
        "minutes": "讨论了电梯故障和响应超时 Discussed the lift and the late responses"}
LIFT = {"measure": "电梯维保改为每两周一次 Lift maintenance every two weeks", "responsible": "sup_zhao",
        "deadline": "2026-01-31"}
LINE = {"measure": "夜间报修电话安排专人值守 Staff the night repair line", "responsible": "cs_zhou",
        "deadline": "2026-02-15"}


def services(calls):
    def agenda(call):
        calls.append(("agenda", call.business_key))
        return dict(AGENDA)

    def rectify(call):
        found = call.variables
        calls.append(("rectify", found["measure"]))
        return {"last_rectification": call.start("rectification", {
            "problem": found["measure"], "source": "meeting", "source_reference": call.business_key,
            "responsible": found["responsible"], "deadline": found["deadline"]},
            business_key=f"RC-{call.business_key}-{found['measures_count'] + 1}")}

    return {**FACT_STEPS, "propflow.meeting.agenda": agenda, "propflow.meeting.rectify": rectify}


class Engines:
    """Calling it gives the engine to use next: the same one, or a fresh one that reloads every
    instance from the database. ``calls`` logs what the fake application services were asked."""

    def __init__(self, sa_engine, clock, mode):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        self.calls: list[tuple] = []
        self._kept = WorkflowEngine(sa_engine, clock, services=services(self.calls))
        self._kept.deploy(FILES, name="meeting")

    def __call__(self) -> WorkflowEngine:
        if self.mode == "straight":
            return self._kept
        return WorkflowEngine(self.sa_engine, self.clock, services=services(self.calls),
                              instance_cache_size=0)


@pytest.fixture(params=["straight", "reload"])
def make(request, sa_engine, clock):
    return Engines(sa_engine, clock, request.param)


def do(engine, instance_id, element_id, data, user="mgr_wu"):
    task = next(t for t in engine().instance(instance_id).open_tasks if t.element_id == element_id)
    return engine().complete_user_task(task.id, data, user=user)


def test_each_measure_decided_starts_a_rectification(make):
    meeting = make().start("improvement_meeting", {}, business_key="QM-1", user="mgr_wu")
    assert make.calls == [("agenda", "QM-1")]
    hold = meeting.open_tasks[0]
    assert (hold.element_id, hold.candidate_groups) == ("Task_HoldMeeting", ("manager", "quality_reviewer"))
    assert hold.due_at == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)  # seven days after the start
    shown = make().task(hold.id).data
    assert {name: shown[name] for name in AGENDA} == AGENDA
    with pytest.raises(InvalidTaskData) as caught:  # the figures are read-only
        do(make, meeting.id, "Task_HoldMeeting", {**HELD, "breaches": 0, "has_measures": True})
    assert list(caught.value.errors) == ["breaches"]
    with pytest.raises(InvalidTaskData) as caught:
        do(make, meeting.id, "Task_HoldMeeting", {**HELD, "minutes": "没问题 Fine"})
    assert list(caught.value.errors) == ["minutes"]
    echoed = {name: str(value) for name, value in FIGURES.items()}  # as a browser sends them back
    record = do(make, meeting.id, "Task_HoldMeeting", {**HELD, **echoed, "has_measures": True}).open_tasks[0]
    assert (record.element_id, record.candidate_groups) == (
        "Task_RecordMeasure", ("manager", "quality_reviewer"))
    do(make, meeting.id, "Task_RecordMeasure", {**LIFT, "another_measure": True})
    second = make().instance(meeting.id).open_tasks[0]
    assert second.element_id == "Task_RecordMeasure"
    shown = make().task(second.id).data
    assert (shown["measure"], shown["measures_count"]) == ("", 1)  # the last answers are cleared
    with pytest.raises(InvalidTaskData) as caught:
        do(make, meeting.id, "Task_RecordMeasure", {"measure": "短", "deadline": "tomorrow"})
    assert set(caught.value.errors) == {"measure", "responsible", "deadline"}
    done = do(make, meeting.id, "Task_RecordMeasure", LINE)
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Held")
    assert done.variables["measures_count"] == 2
    rectifications = [make().instance(i) for i in make().find_instances(process_key="rectification")]
    found = sorted((r.business_key, r.variables["source"], r.variables["source_reference"],
                    r.variables["responsible"], r.variables["deadline"], r.open_tasks[0].assignee)
                   for r in rectifications)
    assert found == [("RC-QM-1-1", "meeting", "QM-1", "sup_zhao", "2026-01-31", "sup_zhao"),
                     ("RC-QM-1-2", "meeting", "QM-1", "cs_zhou", "2026-02-15", "cs_zhou")]


def test_a_meeting_without_measures_ends_when_held(make):
    meeting = make().start("improvement_meeting", {}, business_key="QM-1", user="qr_lin")
    with pytest.raises(InvalidTaskData) as caught:
        do(make, meeting.id, "Task_HoldMeeting", {"minutes": HELD["minutes"]}, user="qr_lin")
    assert set(caught.value.errors) == {"meeting_date", "attendees"}
    done = do(make, meeting.id, "Task_HoldMeeting", HELD, user="qr_lin")  # has_measures defaults to false
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Held")
    assert (done.variables["has_measures"], done.variables["measures_count"]) == (False, 0)
    assert make().find_instances(process_key="rectification") == []
    assert [call[0] for call in make.calls] == ["agenda"]


def test_managers_and_reviewers_may_start_one_by_hand(make):
    for role in ("manager", "quality_reviewer"):
        assert "improvement_meeting" in [view.key for view, _ in make().startable([role])]
    assert "improvement_meeting" not in [view.key for view, _ in make().startable(["service_supervisor"])]


def test_started_on_the_fifth_of_the_month_by_the_worker(make, clock):
    started = make().fire_due_schedules()  # 5 January 10:00 in Shanghai (02:00 UTC) is past
    assert [make().instance(i).business_key for i in started] == ["improvement_meeting-20260105-0200"]
    assert make().instance(started[0]).open_tasks[0].element_id == "Task_HoldMeeting"
    assert make().fire_due_schedules() == []
    assert make().next_timer_due() == datetime(2026, 2, 5, 2, 0, tzinfo=UTC)
    clock.set(datetime(2026, 2, 5, 2, 0, tzinfo=UTC))
    started = make().fire_due_schedules()
    assert [make().instance(i).business_key for i in started] == ["improvement_meeting-20260205-0200"]
