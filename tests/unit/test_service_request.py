"""Every scenario of the service-request flow, run two ways: straight through (the
engine keeps the workflow in memory between steps) and reloaded (a fresh engine that
deserializes from the database before every step), on each database. The application's
record functions (dispatch, score) and the rectification a follow-up starts are fakes that
remember what they were given."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import InstanceStatus, InvalidTaskData, ServiceCall, WorkflowEngine
from engine.models import AuditAction
from tests.conftest import FACT_STEPS, SERVICE_REQUEST_FILES, read_files
from tests.drivers import CaseDriver

REQUEST = {
    "channel": "online", "owner_id": "owner_wang", "owner_name": "王先生",
    "contact_phone": "13800000000", "building": "3", "unit": "1201",
    "service_type": "facility", "description": "单元门禁卡失灵 The entrance card reader is broken",
}
WORK = {"Task_WorkFacility": {"sop_safety_zone": True, "sop_inspect_parts": True,
                              "sop_function_test": True, "sop_site_clean": True},
        "Task_WorkPlumbing": {"sop_shut_valve": True, "sop_protect_floor": True,
                              "sop_pressure_test": True, "sop_site_clean": True}}
RECORD = {"work_content": "更换读卡器 Replaced the reader", "work_started_at": "2026-01-05T14:00",
          "work_finished_at": "2026-01-05T14:40", "materials": "读卡器 x1"}
DISPATCHED, SCORED = "propflow.service_request.dispatched", "propflow.satisfaction.record"
RECTIFY = "propflow.satisfaction.rectify"
FILES = (*SERVICE_REQUEST_FILES, "rectification.bpmn")  # a low-score follow-up may start one
RECTIFICATION = {"responsible": "tech_chen", "rectify_by": "2026-01-09"}


def recording_services(calls: list[ServiceCall]) -> dict:
    """Fakes for the application's functions: the record functions remember their call and set
    nothing; the rectify function also starts the rectification, as the application does. Every
    engine that runs a request past dispatch or rating needs them: a topic without a function
    waits for an external worker that never comes."""

    def record(call: ServiceCall) -> None:
        calls.append(call)

    def rectify(call: ServiceCall) -> dict:
        calls.append(call)
        found = call.variables
        return {"last_rectification": call.start("rectification", {
            "problem": f"低分回访 Low score {found['satisfaction']}: {found['follow_up_result']}",
            "source": "satisfaction", "source_reference": call.business_key,
            "responsible": found["responsible"], "deadline": found["rectify_by"]},
            business_key=f"RC-{call.business_key}")}

    return {**FACT_STEPS, DISPATCHED: record, SCORED: record, RECTIFY: rectify}


class Case(CaseDriver):
    """Drives one request through the engine as the people in each lane would."""

    def __init__(self, sa_engine, clock, mode: str, *, record: bool = True):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        self.calls: list[ServiceCall] = []
        self.services = recording_services(self.calls) if record else {}
        self._engine = WorkflowEngine(sa_engine, clock, services=self.services)
        self._engine.deploy(read_files(*FILES), name="service request")
        self.id: str | None = None

    @property
    def engine(self) -> WorkflowEngine:
        if self.mode == "straight":
            return self._engine
        return WorkflowEngine(self.sa_engine, self.clock, services=self.services, instance_cache_size=0)

    def submit(self, **changes) -> None:
        started = self.engine.start("service_request", {**REQUEST, **changes},
                                    business_key="SR-0001", user="owner_wang")
        self.id = started.id


    def intake(self, priority: str | None = None, after: timedelta = timedelta(minutes=20)):
        self.do("Task_Register", {"registration_note": "已电话核实 Verified by phone"}, "cs_li")
        review = {"decision": "approve"}
        if priority:
            review["priority"] = priority
        self.do("Task_Review", review, "sup_zhao")
        self.clock.advance(after)
        self.do("Task_Confirm", {"confirmed_time": "2026-01-05T14:00", "confirmed_by_phone": True},
                "cs_li")

    def execute(self, work_task: str = "Task_WorkFacility", accept: bool = True):
        self.do("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao")
        self.work(work_task)
        if accept:
            self.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
            self.rate()

    def rate(self, score: int = 5):
        self.do("Task_Rate", {"satisfaction": score, "satisfaction_comment": "满意 Satisfied"},
                "owner_wang")

    def work(self, work_task: str = "Task_WorkFacility"):
        self.do(work_task, WORK[work_task], "tech_chen")
        self.do("Task_Record", RECORD, "tech_chen")

    def recorded(self) -> list[str]:
        return [call.topic for call in self.calls]

    def history(self, action: AuditAction | None = None):
        entries = self.engine.history(self.id)
        return [e for e in entries if action is None or e.action == action]


@pytest.fixture(params=["straight", "reload"])
def case(request, sa_engine, clock):
    return Case(sa_engine, clock, request.param)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_happy_path(case, clock):
    start = clock.now()
    case.submit()
    assert case.open() == ["Task_Register"]
    register = case.task("Task_Register")
    assert register.candidate_groups == ("customer_service",)
    assert register.due_at == start + hours(24)
    assert register.lane == "客服 Customer service"
    assert [f.id for f in register.form.fields][:2] == ["description", "contact_phone"]
    case.intake()
    assert case.instance.variables["priority"] == "normal"
    case.execute()
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.end_event_id == "EndEvent_Closed"
    response, handling = instance.deadline("response"), instance.deadline("handling")
    assert (response.due_at, response.reached_at, response.met) == (
        start + hours(24), start + timedelta(minutes=20), True)
    assert (handling.due_at, handling.met) == (start + timedelta(days=3), True)
    completed = [(e.element_id, e.actor) for e in case.history(AuditAction.TASK_COMPLETED)]
    assert completed == [
        ("Task_Register", "cs_li"), ("Task_Review", "sup_zhao"), ("Task_Confirm", "cs_li"),
        ("Task_Dispatch", "sup_zhao"), ("Task_WorkFacility", "tech_chen"),
        ("Task_Record", "tech_chen"), ("Task_Acceptance", "owner_wang"), ("Task_Rate", "owner_wang")]
    assert case.fire() == 0 and case.engine.next_timer_due() is None


def test_the_dispatch_and_the_score_are_recorded_for_the_dashboard(case):
    case.submit()
    case.intake()
    case.do("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao")
    [dispatch] = case.calls
    assert (dispatch.topic, dispatch.element_id, dispatch.actor) == (
        DISPATCHED, "Task_RecordDispatch", "sup_zhao")
    assert (dispatch.process_key, dispatch.instance_id, dispatch.business_key) == (
        "service_request", case.id, "SR-0001")
    assert dispatch.variables["technician"] == "tech_chen"
    assert case.open() == ["Task_WorkFacility"]  # recorded within the dispatch, then on to the work
    case.work()
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    case.rate(3)
    score = case.calls[-1]
    assert (score.topic, score.element_id, score.actor) == (SCORED, "Task_RecordScore", "owner_wang")
    analysed = ("satisfaction", "satisfaction_comment", "technician", "service_type", "building")
    assert [score.variables[name] for name in analysed] == [
        3, "满意 Satisfied", "tech_chen", "facility", "3"]
    assert case.recorded() == [DISPATCHED, SCORED]
    assert case.open() == ["Task_FollowUp"]  # a low score is recorded too, then followed up
    audited = [(e.element_id, e.data["topic"], e.actor)
               for e in case.history(AuditAction.ACTIVITY_COMPLETED) if "topic" in e.data]
    assert audited == [("Task_RecordDispatch", DISPATCHED, "sup_zhao"),
                       ("Task_RecordScore", SCORED, "owner_wang")]


def test_without_the_record_functions_a_dispatched_case_waits(sa_engine, clock):
    """Why every engine that runs service requests registers both topics."""
    case = Case(sa_engine, clock, "straight", record=False)
    case.submit()
    case.intake()
    case.do("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao")
    instance = case.instance
    assert (instance.status, instance.open_tasks) == (InstanceStatus.RUNNING, ())


def test_owner_confirms_the_proposed_time_online_or_asks_for_another(case, clock):
    start = clock.now()
    case.submit()
    case.do("Task_Register", {}, "cs_li")
    case.do("Task_Review", {"decision": "approve"}, "sup_zhao")
    clock.advance(hours(1))
    case.do("Task_Confirm", {"confirmed_time": "2026-01-06T10:00"}, "cs_li")  # not by phone
    # Proposing the time answers the owner: the response deadline is met now.
    assert case.instance.deadline("response").reached_at == start + hours(1)
    ask = case.task("Task_OwnerConfirmTime")
    assert (ask.assignee, ask.candidate_groups) == ("owner_wang", ("owner",))
    with pytest.raises(InvalidTaskData) as caught:
        case.do("Task_OwnerConfirmTime", {"time_answer": "another"}, "owner_wang")
    assert caught.value.errors == {"owner_preferred_time": ["is required"]}
    case.do("Task_OwnerConfirmTime", {"time_answer": "another",
                                      "owner_preferred_time": "2026-01-07T15:00"}, "owner_wang")
    assert case.open() == ["Task_Reschedule"]
    case.do("Task_Reschedule", {"confirmed_time": "2026-01-07T15:00"}, "cs_li")
    case.do("Task_OwnerConfirmTime", {"time_answer": "accept"}, "owner_wang")
    assert case.open() == ["Task_Dispatch"]
    assert case.instance.variables["confirmed_time"] == "2026-01-07T15:00:00"


def test_work_is_offered_to_the_dispatched_technician_with_the_skill(case):
    case.submit()
    case.intake()
    case.do("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao")
    work = case.task("Task_WorkFacility")
    assert work.assignee == "tech_chen"
    assert work.candidate_groups == ("technician",)
    assert work.properties["propflow.skill"] == "facility"
    assert case.engine.user_tasks(assignee="tech_chen")[0].id == work.id


def test_rejection_needs_a_reason_and_answers_the_owner(case, clock):
    case.submit()
    case.do("Task_Register", {}, "cs_li")
    with pytest.raises(InvalidTaskData) as caught:
        case.do("Task_Review", {"decision": "reject"}, "sup_zhao")
    assert caught.value.errors == {"rejection_reason": ["is required"]}
    assert case.open() == ["Task_Review"]  # nothing was saved
    clock.advance(hours(1))
    case.do("Task_Review", {"decision": "reject", "rejection_reason": "不属于物业服务范围"}, "sup_zhao")
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.end_event_id == "EndEvent_Rejected"
    assert instance.variables["rejection_reason"] == "不属于物业服务范围"
    assert instance.deadline("response").met is True
    assert instance.deadline("handling") is None


def test_emergency_keywords_set_two_hour_deadlines(case, clock):
    start = clock.now()
    case.submit(service_type="plumbing", description="卫生间水管爆管，大量漏水 burst pipe")
    variables = case.instance.variables
    assert (variables["proposed_priority"], variables["priority"]) == ("emergency", "emergency")
    assert case.task("Task_Register").due_at == start + hours(2)
    case.intake(after=timedelta(minutes=30))
    case.clock.advance(timedelta(minutes=45))
    case.execute("Task_WorkPlumbing")
    instance = case.instance
    assert instance.deadline("response").met is True
    assert instance.deadline("handling").due_at == start + hours(2)
    assert instance.deadline("handling").reached_at == start + timedelta(minutes=75)
    assert instance.deadline("handling").met is True


@pytest.mark.parametrize(("service_type", "description", "priority"), [
    ("plumbing", "洗手盆下水慢 The basin drains slowly", "high"),  # FEEL list "plumbing","electrical"
    ("electrical", "走廊灯不亮 Corridor light is out", "high"),
    ("cleaning", "楼道需要清扫 Stairwell needs sweeping", "low"),
    ("other", "想咨询停车位 Asking about parking", "normal"),
    ("cleaning", "有燃气味道 Smell of GAS in the hall", "emergency"),  # keywords, any case
])
def test_decision_table_proposes_the_priority(case, service_type, description, priority):
    case.submit(service_type=service_type, description=description)
    assert case.instance.variables["proposed_priority"] == priority


def test_supervisor_can_reclassify_as_emergency(case, clock):
    start = clock.now()
    case.submit()
    case.intake(priority="emergency")
    assert case.instance.variables["proposed_priority"] == "normal"
    assert case.task("Task_Dispatch").due_at == start + hours(2)
    assert case.instance.deadline("handling").due_at == start + hours(2)


def test_rework_loop_returns_to_the_same_technician(case):
    case.submit()
    case.intake()
    case.execute(accept=False)
    with pytest.raises(InvalidTaskData) as caught:
        case.do("Task_Acceptance", {"acceptance": "rework"}, "owner_wang")
    assert caught.value.errors == {"acceptance_comment": ["is required"]}
    case.do("Task_Acceptance", {"acceptance": "rework", "acceptance_comment": "仍然刷不开"}, "owner_wang")
    assert case.open() == ["Task_WorkFacility"]
    assert case.task("Task_WorkFacility").assignee == "tech_chen"
    case.work()
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    case.rate()
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["rework_count"] == 1
    assert case.recorded() == [DISPATCHED, SCORED]  # rework goes back to the work, not the dispatch


def test_rework_is_bounded_and_then_goes_to_the_supervisor(case):
    case.submit()
    case.intake()
    case.execute(accept=False)
    for attempt in range(3):
        case.do("Task_Acceptance", {"acceptance": "rework", "acceptance_comment": f"第{attempt + 1}次"},
                "owner_wang")
        if attempt < 2:
            case.work()
    assert case.open() == ["Task_Dispute"]
    case.do("Task_Dispute", {"resolution": "更换供应商后关闭 Closed after changing supplier"}, "sup_zhao")
    case.rate(2)
    case.do("Task_FollowUp", {"follow_up_result": "业主对返工次数不满 Unhappy about the reworks"},
            "cs_li")
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["rework_count"] == 3
    assert instance.deadline("handling").reached_at is not None


def test_response_breach_at_24_hours_escalates_without_stopping_the_work(case, clock):
    start = clock.now()
    case.submit()
    clock.advance(hours(24) - timedelta(seconds=1))
    assert case.fire() == 0
    clock.advance(timedelta(seconds=2))
    assert case.fire() == 1
    assert case.open() == ["Task_Register", "Task_ResponseOverdue"]
    escalation = case.task("Task_ResponseOverdue")
    assert escalation.candidate_groups == ("service_supervisor",)
    breached = case.instance.deadline("response")
    assert (breached.due_at, breached.breached_at, breached.met) == (
        start + hours(24), start + hours(24) + timedelta(seconds=1), False)
    assert case.fire() == 0  # fired once, not again
    case.do("Task_ResponseOverdue", {"action_taken": "已致电业主道歉 Called the owner"}, "sup_zhao")
    case.intake(priority="low")
    case.execute()
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.deadline("response").met is False  # late is late, even when done
    assert instance.deadline("handling").met is True  # low priority: 7 days
    assert instance.variables["priority"] == "low"
    assert len(case.history(AuditAction.DEADLINE_BREACHED)) == 1


def test_emergency_response_breach_at_2_hours(case, clock):
    case.submit(service_type="electrical", description="整栋楼停电 Power out in the whole building")
    case.do("Task_Register", {}, "cs_li")
    clock.advance(hours(2) + timedelta(seconds=1))
    assert case.fire() == 1
    assert case.open() == ["Task_ResponseOverdue", "Task_Review"]
    assert case.instance.deadline("response").met is False


def test_emergency_handling_breach(case, clock):
    case.submit(service_type="plumbing", description="地下室漏水 Basement flooding, water leak")
    case.intake(after=timedelta(minutes=30))
    case.do("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao")
    clock.advance(hours(1) + timedelta(minutes=31))
    assert case.fire() == 1
    assert case.open() == ["Task_HandlingOverdue", "Task_WorkPlumbing"]
    case.do("Task_HandlingOverdue", {"action_taken": "增派人员 Sent a second technician"}, "sup_zhao")
    case.work("Task_WorkPlumbing")
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    case.rate()
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.deadline("response").met is True
    assert instance.deadline("handling").met is False


def test_handling_deadline_already_past_fires_as_the_phase_starts(case, clock):
    """Deadlines count from submission: a phase that starts after its deadline
    escalates at once instead of giving itself a fresh window."""
    case.submit()
    clock.advance(hours(25))
    case.fire()
    case.intake(priority="high")  # high: handled within one day of submission
    assert case.open() == ["Task_Dispatch", "Task_HandlingOverdue", "Task_ResponseOverdue"]
    handling = case.instance.deadline("handling")
    assert handling.met is False
    assert handling.due_at == case.instance.started_at + hours(24)  # recorded although never waited on


def test_late_escalation_does_not_overwrite_the_case_data(case, clock):
    """The escalation branch finishes last; the case's own data must win."""
    case.submit()
    clock.advance(hours(25))
    case.fire()
    case.intake(priority="low")
    case.execute()
    case.do("Task_ResponseOverdue", {"action_taken": "已复盘 Reviewed"}, "sup_zhao")
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.end_event_id == "EndEvent_Closed"
    assert instance.variables["priority"] == "low"
    assert instance.variables["acceptance"] == "accepted"


def test_rating_is_checked(case):
    case.submit()
    case.intake()
    case.execute(accept=False)
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    for score in (0, 6, "five"):
        with pytest.raises(InvalidTaskData) as caught:
            case.do("Task_Rate", {"satisfaction": score}, "owner_wang")
        assert list(caught.value.errors) == ["satisfaction"]
    case.do("Task_Rate", {"satisfaction": "4"}, "owner_wang")
    assert case.instance.variables["satisfaction"] == 4


def test_unrated_case_closes_after_seven_days(case, clock):
    case.submit()
    clock.advance(hours(25))  # a response escalation first: its branch ends before the case
    case.fire()
    case.do("Task_ResponseOverdue", {"action_taken": "已致歉 Apologised"}, "sup_zhao")
    case.intake(priority="low")
    case.execute(accept=False)
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert case.fire() == 1  # the reminder, due after two days
    assert case.open() == ["Task_Rate"]
    assert case.fire() == 0
    clock.advance(timedelta(seconds=2))
    assert case.fire() == 1
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.end_event_id == "EndEvent_Unrated"  # the interrupting timer carries the case
    assert "satisfaction" not in instance.variables
    assert case.recorded() == [DISPATCHED]  # no score to record


def test_owner_is_reminded_to_rate_after_two_days(case, clock):
    case.submit()
    case.intake()
    case.execute(accept=False)
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    clock.advance(timedelta(days=2, seconds=1))
    assert case.fire() == 1
    reminders = case.history(AuditAction.NOTIFIED)
    assert [(e.element_id, e.data["to"]) for e in reminders] == [("EndEvent_RatingReminded", "owner_wang")]
    assert case.open() == ["Task_Rate"]  # still waiting for the rating
    case.rate(5)
    assert case.instance.end_event_id == "EndEvent_Closed"


@pytest.mark.parametrize(("score", "followed_up"), [(1, True), (3, True), (4, False), (5, False)])
def test_scores_below_four_are_followed_up_by_customer_service(case, score, followed_up):
    case.submit()
    case.intake()
    case.execute(accept=False)
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    case.rate(score)
    if followed_up:
        follow_up = case.task("Task_FollowUp")
        assert follow_up.candidate_groups == ("customer_service",)
        case.do("Task_FollowUp", {"follow_up_result": "已致电 Called", "needs_rectification": False,
                                  "follow_up_action": "已道歉 Apologised"}, "cs_li")
    instance = case.instance
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.end_event_id == ("EndEvent_FollowedUp" if followed_up else "EndEvent_Closed")
    assert [c.variables["satisfaction"] for c in case.calls if c.topic == SCORED] == [score]
    assert RECTIFY not in case.recorded()  # not ticked: no rectification
    assert case.engine.find_instances(process_key="rectification") == []


def follow_up_a_low_score(case, score: int = 2):
    case.submit()
    case.intake()
    case.execute(accept=False)
    case.do("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang")
    case.rate(score)
    assert case.open() == ["Task_FollowUp"]


def test_a_ticked_rectification_needs_a_responsible_person_and_a_date(case):
    follow_up_a_low_score(case)
    with pytest.raises(InvalidTaskData) as caught:
        case.do("Task_FollowUp", {"follow_up_result": "维修工态度差 The technician was rude",
                                  "needs_rectification": True}, "cs_li")
    assert set(caught.value.errors) == {"responsible", "rectify_by"}
    assert case.open() == ["Task_FollowUp"]
    assert case.engine.find_instances(process_key="rectification") == []


def test_a_follow_up_that_needs_a_rectification_starts_one(case):
    follow_up_a_low_score(case, score=2)
    case.do("Task_FollowUp", {"follow_up_result": "维修工态度差 The technician was rude",
                              "needs_rectification": True, **RECTIFICATION}, "cs_li")
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_FollowedUp")
    assert case.recorded() == [DISPATCHED, SCORED, RECTIFY]
    assert (case.calls[-1].element_id, case.calls[-1].actor) == ("Task_StartRectification", "cs_li")
    [rectification_id] = case.engine.find_instances(process_key="rectification")
    rectification = case.engine.instance(rectification_id)
    names = ("problem", "source", "source_reference", "responsible", "deadline")
    assert {name: rectification.variables[name] for name in names} == {
        "problem": "低分回访 Low score 2: 维修工态度差 The technician was rude", "source": "satisfaction",
        "source_reference": "SR-0001", "responsible": "tech_chen", "deadline": "2026-01-09"}
    assert rectification.business_key == "RC-SR-0001"
    assert [(t.element_id, t.assignee) for t in rectification.open_tasks] == [("Task_Rectify", "tech_chen")]
    assert instance.variables["last_rectification"] == rectification_id


def test_start_form_is_enforced(case, sa_engine):
    with pytest.raises(InvalidTaskData) as caught:
        case.engine.start("service_request", {**REQUEST, "channel": "fax", "contact_phone": "1"})
    assert set(caught.value.errors) == {"channel", "contact_phone"}
    assert case.engine.find_instances() == []


def test_cancel_closes_all_work(case):
    case.submit()
    cancelled = case.engine.cancel(case.id, user="sup_zhao", reason="业主撤回 Withdrawn")
    assert cancelled.status == InstanceStatus.CANCELLED
    assert cancelled.open_tasks == ()
    assert case.engine.user_tasks() == []
    assert case.engine.next_timer_due() is None


def test_a_cases_rows_read_twice_in_one_transaction_are_the_same_deadlines(service_request):
    """Two saves of one case in one transaction (two messages delivered to it at once) read
    its derived rows twice: the deadlines the session already holds are the ones used, with
    the first save's changes, not copies from the row."""
    from engine import facade

    started = service_request.start("service_request", {**REQUEST, "description": "水管爆管 burst pipe"})
    with service_request._unit_of_work() as session:
        first = facade._existing_rows(session, started.id, with_deadlines=True)
        assert sorted(first.deadlines) == ["response"] and first.user_tasks
        assert first.candidates[next(iter(first.user_tasks))] == [("group", "customer_service")]
        first.deadlines["response"].met = False
        second = facade._existing_rows(session, started.id, with_deadlines=True)
        assert second.deadlines["response"] is first.deadlines["response"]
        assert second.deadlines["response"].met is False
    assert service_request.instance(started.id).deadline("response").met is False  # written at commit
