"""Customer feedback (R-4.1 … R-4.3) on the engine alone: receipt by channel, classification
with urgency, a reply against the reply deadline, the owner's verdict with a reminder, a
timeout and bounded reopening — straight through and reloaded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import AuditAction, InstanceStatus, InvalidTaskData, WorkflowEngine
from tests.conftest import FACT_STEPS, read_files
from tests.drivers import CaseDriver

FILES = read_files("feedback.bpmn", "rectification.bpmn")
RECORD = "propflow.feedback.record"
ONLINE = {"channel": "online", "owner_id": "owner_wang", "subject": "电梯噪音 Lift noise",
          "content": "3 号楼电梯运行噪音很大 The lift in building 3 is very noisy"}
URGENT_COMPLAINT = {"category": "complaint", "urgency": "urgent"}
REPLY = {"handling_note": "维保单位已检查电梯 The maintainer checked the lift",
         "reply": "已更换导靴，噪音已消除 Guide shoes replaced, the noise is gone"}
NOT_SATISFIED = {"reply_satisfied": "no", "owner_comment": "晚上仍有噪音 Still noisy at night"}


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


class Feedback(CaseDriver):
    """Drives one feedback through the engine as customer service, the owner and the
    supervisor would; the application's service tasks are fakes that remember their calls."""

    def __init__(self, sa_engine, clock, mode: str):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        self.records: list[tuple[str, dict]] = []
        self._engine = self._new_engine()
        self._engine.deploy(FILES, name="feedback")
        self.id: str | None = None

    def _record(self, call):
        self.records.append((call.element_id, call.variables))
        return {}

    @staticmethod
    def _rectify(call):
        found = call.variables
        return {"rectification_id": call.start("rectification", {
            "problem": f"{found['subject']}: {found['handling_note']}", "source": "complaint",
            "source_reference": call.business_key, "responsible": found["responsible"],
            "deadline": found["rectify_by"]}, business_key=f"RC-{call.business_key}")}

    def _new_engine(self, **options) -> WorkflowEngine:
        services = {**FACT_STEPS, RECORD: self._record, "propflow.feedback.rectify": self._rectify}
        return WorkflowEngine(self.sa_engine, self.clock, services=services, **options)

    @property
    def engine(self) -> WorkflowEngine:
        return self._engine if self.mode == "straight" else self._new_engine(instance_cache_size=0)

    def receive(self, user: str = "owner_wang", **changes) -> None:
        self.id = self.engine.start("feedback", {**ONLINE, **changes}, business_key="FB-1", user=user).id


    def data(self, element_id: str) -> dict:
        return self.engine.task(self.task(element_id).id).data


    def classify(self, **answers) -> None:
        self.do("Task_Classify", answers or URGENT_COMPLAINT, "cs_li")

    def reply(self, **changes) -> None:
        self.do("Task_Handle", {**REPLY, **changes}, "cs_li")

    def verdict(self, answer: dict):
        return self.do("Task_OwnerVerdict", answer, "owner_wang")

    def history(self, action: AuditAction):
        return [e for e in self.engine.history(self.id) if e.action == action]

    def recorded(self) -> list[str]:
        return [element_id for element_id, _ in self.records]


@pytest.fixture(params=["straight", "reload"])
def case(request, sa_engine, clock):
    return Feedback(sa_engine, clock, request.param)


def test_urgent_complaint_online_comes_first_and_is_answered_in_four_hours(case, clock):
    start = clock.now()
    case.receive()
    classify = case.task("Task_Classify")
    assert (classify.candidate_groups, classify.due_at) == (("customer_service",), start + hours(24))
    assert [f.id for f in classify.form.fields if f.readonly] == ["channel", "subject", "content"]
    case.classify()
    handle = case.engine.user_tasks(process_key="feedback")[0]
    assert (handle.element_id, handle.priority, handle.due_at) == ("Task_Handle", "urgent", start + hours(4))
    assert handle.candidate_groups == ("customer_service", "service_supervisor")
    clock.advance(hours(1))
    case.reply()
    verdict = case.task("Task_OwnerVerdict")
    assert (verdict.assignee, verdict.candidate_groups) == ("owner_wang", ("owner",))
    assert case.data("Task_OwnerVerdict")["reply"] == REPLY["reply"]
    deadline = case.instance.deadline("reply")
    assert (deadline.due_at, deadline.reached_at, deadline.met) == (start + hours(4), start + hours(1), True)
    done = case.verdict({"reply_satisfied": "yes"})
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Resolved")
    assert case.recorded() == ["Task_RecordReceived", "Task_RecordClassified", "Task_RecordReply",
                               "Task_RecordVerdict"]
    received, classified, replied, verdict_given = (variables for _, variables in case.records)
    assert (received["channel"], received.get("category")) == ("online", None)
    assert (classified["category"], classified["urgency"]) == ("complaint", "urgent")
    assert replied["reply"] == REPLY["reply"] and "reply_satisfied" not in replied
    assert verdict_given["reply_satisfied"] == "yes"
    assert case.engine.next_timer_due() is None


def test_normal_feedback_by_phone_is_due_within_a_day(case, clock):
    start = clock.now()
    case.receive(user="cs_li", channel="phone")
    case.classify(category="suggestion", urgency="normal")
    handle = case.task("Task_Handle")
    assert (handle.priority, handle.due_at) == ("normal", start + hours(24))
    assert case.instance.deadline("reply").due_at == start + hours(24)
    assert case.engine.user_tasks(priority="urgent") == []


def test_a_letter_needs_the_date_it_was_written(case):
    with pytest.raises(InvalidTaskData) as caught:
        case.receive(user="cs_li", channel="letter")
    assert list(caught.value.errors) == ["letter_date"]
    case.receive(user="cs_li", channel="letter", letter_date="2026-01-02")
    assert case.instance.variables["letter_date"] == "2026-01-02"
    assert case.records[-1][1]["channel"] == "letter"


def test_not_satisfied_twice_goes_to_the_supervisor_for_the_last_word(case):
    case.receive()
    case.classify()
    case.reply()
    with pytest.raises(InvalidTaskData) as caught:
        case.verdict({"reply_satisfied": "no"})
    assert list(caught.value.errors) == ["owner_comment"]
    case.verdict(NOT_SATISFIED)
    again = case.data("Task_Handle")  # the owner's comment is shown, the last answers are cleared
    assert again["owner_comment"] == NOT_SATISFIED["owner_comment"]
    assert again["previous_reply"] == REPLY["reply"]
    assert (again["reply"], again["handling_note"], again["needs_rectification"]) == ("", "", False)
    with pytest.raises(InvalidTaskData) as caught:
        case.reply(handling_note="", reply="")
    assert set(caught.value.errors) == {"handling_note", "reply"}
    case.reply(reply="已加装隔音垫 Sound insulation fitted")
    assert case.data("Task_OwnerVerdict")["reply_satisfied"] == ""
    case.verdict(NOT_SATISFIED)
    review = case.task("Task_SupervisorReview")
    assert review.candidate_groups == ("service_supervisor",)
    assert case.data("Task_SupervisorReview")["reply_satisfied"] == "no"
    done = case.do("Task_SupervisorReview", {"final_reply": "已委托第三方检测 An independent test is booked"},
                   "sup_zhao")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_ClosedBySupervisor")
    assert case.recorded() == ["Task_RecordReceived", "Task_RecordClassified", "Task_RecordReply",
                               "Task_RecordVerdict", "Task_RecordReply", "Task_RecordVerdict",
                               "Task_RecordClosed"]
    assert [v.get("reply_satisfied") for e, v in case.records if e == "Task_RecordVerdict"] == ["no", "no"]
    assert case.records[-1][1]["final_reply"].startswith("已委托")
    notified = [(e.element_id, e.data["to"]) for e in case.history(AuditAction.NOTIFIED)]
    assert notified == [("EndEvent_ClosedBySupervisor", "owner_wang")]
    assert case.instance.deadline("reply").met is True


def test_a_reopening_after_the_deadline_keeps_the_first_reply_result(case, clock):
    """The subprocess is entered again with the same reply_due, already past: its timer
    fires at once, the deadline row keeps the first reply's result and no follow-up task
    is created; the history still shows that firing."""
    start = clock.now()
    case.receive()
    case.classify()
    clock.advance(hours(2))
    case.reply()
    clock.advance(hours(10))
    case.verdict(NOT_SATISFIED)
    assert case.open() == ["Task_Handle"]
    assert case.task("Task_Handle").due_at == start + hours(4)  # overdue at once: sorts first
    deadline = case.instance.deadline("reply")
    assert (deadline.reached_at, deadline.breached_at, deadline.met) == (start + hours(2), None, True)
    assert len(case.history(AuditAction.DEADLINE_BREACHED)) == 1
    assert case.engine.fire_due_timers() == 0
    case.reply()
    case.verdict({"reply_satisfied": "yes"})
    assert case.instance.end_event_id == "EndEvent_Resolved"
    assert len(case.history(AuditAction.DEADLINE_REACHED)) == 1


def test_a_needed_rectification_is_started_for_the_named_person(case):
    case.receive()
    case.classify()
    with pytest.raises(InvalidTaskData) as caught:
        case.reply(needs_rectification=True)
    assert set(caught.value.errors) == {"responsible", "rectify_by"}
    case.reply(needs_rectification=True, responsible="tech_chen", rectify_by="2026-01-09")
    rectifications = case.engine.find_instances(process_key="rectification")
    assert len(rectifications) == 1
    rectification = case.engine.instance(rectifications[0])
    assert rectification.business_key == "RC-FB-1"
    names = ("source", "source_reference", "responsible", "deadline")
    started = {name: rectification.variables[name] for name in names}
    assert started == {"source": "complaint", "source_reference": "FB-1", "responsible": "tech_chen",
                       "deadline": "2026-01-09"}
    assert rectification.open_tasks[0].assignee == "tech_chen"
    assert case.instance.variables["rectification_id"] == rectification.id
    assert case.open() == ["Task_OwnerVerdict"]


def test_owner_reminded_after_three_days_and_closed_after_seven(case, clock):
    case.receive()
    case.classify()
    case.reply()
    clock.advance(timedelta(days=3, seconds=1))
    assert case.engine.fire_due_timers() == 1
    reminders = [(e.element_id, e.data["to"]) for e in case.history(AuditAction.NOTIFIED)]
    assert reminders == [("EndEvent_OwnerReminded", "owner_wang")]
    assert case.open() == ["Task_OwnerVerdict"]  # a reminder, the question stays open
    clock.advance(timedelta(days=4) - timedelta(seconds=2))
    assert case.engine.fire_due_timers() == 0
    clock.advance(timedelta(seconds=2))
    assert case.engine.fire_due_timers() == 1
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_NoAnswer")
    assert case.recorded()[-1] == "Task_RecordNoAnswer"
    assert "reply_satisfied" not in case.records[-1][1]


def test_an_overdue_reply_is_followed_up_by_the_supervisor(case, clock):
    start = clock.now()
    case.receive()
    case.classify()
    clock.advance(hours(4))
    assert case.engine.fire_due_timers() == 0  # due at 4 h: fires strictly after
    clock.advance(timedelta(seconds=1))
    assert case.engine.fire_due_timers() == 1
    assert case.open() == ["Task_Handle", "Task_ReplyOverdue"]
    assert case.task("Task_ReplyOverdue").candidate_groups == ("service_supervisor",)
    breached = case.instance.deadline("reply")
    assert (breached.due_at, breached.breached_at, breached.met) == (
        start + hours(4), start + hours(4) + timedelta(seconds=1), False)
    with pytest.raises(InvalidTaskData):
        case.do("Task_ReplyOverdue", {}, "sup_zhao")
    case.do("Task_ReplyOverdue", {"overdue_note": "已致电业主致歉 Called the owner"}, "sup_zhao")
    case.reply()
    case.verdict({"reply_satisfied": "yes"})
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Resolved")
    assert instance.deadline("reply").met is False  # late stays late
