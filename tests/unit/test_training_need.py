"""Required training tracked to completion (E-3, D-1) on the engine alone, with the real
service functions and records: a need recorded by hand or by ``propflow.training.require``,
a reminder and an escalation on its due date, and completion when a passed result is
recorded at a session the need is linked to — straight through and reloaded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import AuditAction, InstanceStatus, InvalidTaskData, WorkflowEngine
from engine.models import AuditEvent, ProcessInstance
from tests.conftest import FIXTURES, read_files
from tests.drivers import CaseDriver
from web.models import Correction, Role, TrainingAttendance, TrainingNeed, User
from web.training_records import SERVICES, ResultInput, plan_session, record_results

FILES = {**read_files("training_need.bpmn"),
         "training_gap.bpmn": (FIXTURES / "training_gap.bpmn").read_bytes()}
NEED = {"staff": "tech_chen", "topic": "高空作业安全 Working at height",
        "reason": "抽查发现未系安全带 No harness seen in a spot check", "due": "2026-01-20"}
# 2026-01-20 ends at 23:59:59 in Shanghai (UTC+8): 15:59:59 UTC; the reminder is 3 days before.
DUE_AT = datetime(2026, 1, 20, 15, 59, 59, tzinfo=UTC)
REMINDER_AT = DUE_AT - timedelta(days=3)
PASSED = ResultInput(attended=True, assessment_score=86, passed=True, comment="good")


def add_staff(sa_engine) -> None:
    people = [("tech_chen", [Role.TECHNICIAN], True), ("tech_liu", [Role.TECHNICIAN], True),
              ("sup_zhao", [Role.SERVICE_SUPERVISOR], True), ("mgr_wu", [Role.MANAGER], True),
              ("tech_gone", [Role.TECHNICIAN], False), ("owner_wang", [Role.OWNER], True)]
    with Session(sa_engine) as session:
        for username, roles, active in people:
            user = User(username=username, display_name=username, password_hash="-", active=active,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC))
            user.set_roles(roles)
            session.add(user)
        session.commit()


class Need(CaseDriver):
    def __init__(self, sa_engine, clock, mode):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        add_staff(sa_engine)
        self._engine = WorkflowEngine(sa_engine, clock, services=SERVICES)
        self._engine.deploy(FILES, name="training")

    @property
    def engine(self):
        return self._engine if self.mode == "straight" else WorkflowEngine(
            self.sa_engine, self.clock, services=SERVICES, instance_cache_size=0)

    def start(self, values=None, user="mgr_wu"):
        self.id = self.engine.start("training_need", {**NEED, **(values or {})},
                                    business_key="training_need-1", user=user).id
        return self.instance

    def needs(self) -> list[TrainingNeed]:
        with Session(self.sa_engine) as session:
            return list(session.scalars(select(TrainingNeed).order_by(TrainingNeed.id)))

    def plan(self, need_ids, attendees=(), starts_at=None):
        def work(tx):
            return plan_session(tx.session, topic="安全培训 Safety", skill=None,
                                starts_at=starts_at or self.clock.now() - timedelta(hours=2), hours=2,
                                location="会议室 Room 1", trainer="mgr_wu", description=None,
                                attendees=attendees, need_ids=need_ids, by="sup_zhao",
                                now=self.clock.now()).id

        return self.engine.transaction(work, user="sup_zhao")

    def record(self, session_id, entries, by="sup_zhao"):
        return self.engine.transaction(lambda tx: record_results(tx, session_id, entries, by=by), user=by)


@pytest.fixture(params=["straight", "reload"])
def case(request, sa_engine, clock):
    return Need(sa_engine, clock, request.param)


def test_a_manager_requires_training_and_a_passed_session_completes_it(case, clock):
    started = case.start()
    [need] = case.needs()
    assert (need.username, need.source, need.raised_by, need.due) == ("tech_chen", "manager", "mgr_wu",
                                                                      date(2026, 1, 20))
    assert (need.instance_id, need.completed_at, need.session_id) == (case.id, None, None)
    assert started.variables["training_need"] == need.id
    assert started.deadline("training").due_at == DUE_AT
    assert started.open_tasks == ()
    session_id = case.plan([need.id])
    assert case.needs()[0].session_id == session_id
    clock.advance(hours=1)
    done = case.record(session_id, {"tech_chen": PASSED})
    assert (done.recorded, done.closed_needs) == (("tech_chen",), (need.id,))
    [need] = case.needs()
    assert need.completed_at == clock.now()
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Trained")
    assert instance.deadline("training").met is True
    assert instance.variables["training_session"] == session_id
    assert case.engine.next_timer_due() is None
    assert case.engine.notices("tech_chen") == []


def test_overdue_training_reminds_the_person_escalates_to_managers_then_completes(case, clock):
    case.start()
    clock.set(REMINDER_AT)
    assert case.fire() == 0  # the library fires strictly after the due time
    clock.advance(seconds=1)
    assert case.fire() == 1
    assert case.open() == []  # a reminder, not a task
    [reminder] = case.engine.notices("tech_chen")
    assert (reminder.instance_id, reminder.element_name) == (case.id, "已提醒 Reminder sent")
    clock.set(DUE_AT + timedelta(seconds=1))
    assert case.fire() == 1
    overdue = case.task("Task_Overdue")
    assert overdue.candidate_groups == ("manager",)
    told = [e for e in case.engine.history(case.id) if e.action == AuditAction.NOTIFIED]
    assert [(e.element_id, e.data["to"]) for e in told] == [("EndEvent_Reminded", "tech_chen"),
                                                            ("Event_TellOverdue", "tech_chen")]
    assert case.instance.deadline("training").met is False
    [need] = case.needs()
    session_id = case.plan([need.id])
    case.record(session_id, {"tech_chen": PASSED})
    instance = case.instance
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Trained")
    assert instance.open_tasks == ()  # the unhandled overdue task closed with the case
    assert instance.deadline("training").met is False  # late stays late
    assert case.needs()[0].completed_at is not None


def test_a_failed_assessment_keeps_the_need_open_until_a_correction_passes_it(case, clock):
    case.start()
    [need] = case.needs()
    session_id = case.plan([need.id], attendees=["tech_liu"])
    failed = ResultInput(attended=True, assessment_score=52, passed=False)
    done = case.record(session_id, {"tech_chen": failed, "tech_liu": PASSED})
    assert (sorted(done.recorded), done.closed_needs) == (["tech_chen", "tech_liu"], ())
    assert case.instance.status == InstanceStatus.RUNNING
    with pytest.raises(InvalidTaskData) as caught:  # a recorded result changes only with a reason
        case.record(session_id, {"tech_chen": ResultInput(attended=True, assessment_score=75, passed=True)})
    assert set(caught.value.errors) == {"tech_chen__reason"}
    fixed = ResultInput(attended=True, assessment_score=75, passed=True, reason="复核试卷 Paper re-marked")
    done = case.record(session_id, {"tech_chen": fixed}, by="mgr_wu")
    assert done.corrected == (("tech_chen", "assessment_score"), ("tech_chen", "passed"))
    assert done.closed_needs == (need.id,)
    assert case.instance.status == InstanceStatus.COMPLETED
    with Session(case.sa_engine) as session:
        rows = session.scalars(select(Correction).order_by(Correction.id)).all()
        notes = session.scalars(select(AuditEvent).where(AuditEvent.action == AuditAction.ANNOTATED)
                                .order_by(AuditEvent.id)).all()
        kept = session.get(TrainingAttendance, (session_id, "tech_chen"))
        assert (kept.assessment_score, kept.passed, kept.recorded_by) == (52, False, "sup_zhao")
    assert [(c.record_key, c.subject, c.field, c.original, c.corrected, c.author) for c in rows] == [
        (f"{session_id}:tech_chen", "tech_chen", "assessment_score", "52", "75", "mgr_wu"),
        (f"{session_id}:tech_chen", "tech_chen", "passed", "false", "true", "mgr_wu")]
    assert [(n.actor, n.data["correction_id"], n.data["reason"]) for n in notes] == [
        ("mgr_wu", row.id, "复核试卷 Paper re-marked") for row in rows]


def test_a_hand_started_need_refuses_unknown_or_inactive_staff_and_past_dates(case):
    for staff in ("nobody", "tech_gone", "owner_wang"):
        with pytest.raises(InvalidTaskData) as caught:
            case.start({"staff": staff})
        assert set(caught.value.errors) == {"staff"}
    with pytest.raises(InvalidTaskData) as caught:
        case.start({"due": "2026-01-04"})  # yesterday in Shanghai
    assert set(caught.value.errors) == {"due"}
    assert case.needs() == []
    assert case.engine.find_instances(process_key="training_need") == []


def test_the_require_service_records_the_need_and_starts_its_tracking(case):
    gap = case.engine.start("training_gap", {
        "training_for": "tech_liu", "training_topic": "防水施工 Waterproofing",
        "training_reason": "返工两次 Two reworks", "training_skill": "plumbing"},
        business_key="GAP-1", user="sup_zhao")
    [need] = case.needs()
    assert gap.status == InstanceStatus.COMPLETED
    assert gap.variables["training_need"] == need.id
    assert (need.username, need.skill, need.source, need.source_reference, need.raised_by) == (
        "tech_liu", "plumbing", "manager", "GAP-1", "sup_zhao")
    assert need.due == date(2026, 2, 4)  # 30 days from 5 January, company calendar
    tracking = case.engine.instance(need.instance_id)
    assert (tracking.process_key, tracking.business_key, tracking.status) == (
        "training_need", f"TN-{need.id}", InstanceStatus.RUNNING)
    assert (tracking.variables["staff"], tracking.variables["training_need"]) == ("tech_liu", need.id)
    assert tracking.deadline("training").due_at == datetime(2026, 2, 4, 15, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(("values", "fields"), [
    ({"training_for": "nobody"}, {"training_for"}),
    ({"training_for": "tech_gone"}, {"training_for"}),
    ({"training_topic": "", "training_reason": ""}, {"training_topic", "training_reason"}),
    ({"training_due": "2026-01-01"}, {"training_due"}),
    ({"training_skill": "juggling"}, {"training_skill"}),
])
def test_the_require_service_refuses_bad_variables_and_stores_nothing(case, values, fields):
    with pytest.raises(InvalidTaskData) as caught:
        case.engine.start("training_gap", {"training_for": "tech_liu", "training_topic": "T",
                                           "training_reason": "R", **values}, business_key="GAP-1")
    assert set(caught.value.errors) == fields
    assert case.needs() == []
    with Session(case.sa_engine) as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_the_result_and_the_message_commit_together_or_not_at_all(case):
    case.start()
    [need] = case.needs()
    session_id = case.plan([need.id])

    def record_then_fail(tx):
        record_results(tx, session_id, {"tech_chen": PASSED}, by="sup_zhao")
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        case.engine.transaction(record_then_fail, user="sup_zhao")
    assert case.needs()[0].completed_at is None
    assert case.instance.status == InstanceStatus.RUNNING
    done = case.record(session_id, {"tech_chen": PASSED})  # still waiting: the message still lands
    assert done.closed_needs == (need.id,)
    assert case.instance.status == InstanceStatus.COMPLETED


def test_a_message_sent_another_way_still_closes_the_need(case, clock):
    case.start()
    [need] = case.needs()
    session_id = case.plan([])
    clock.advance(hours=3)
    case.engine.correlate_message("TrainingCompleted", business_key="training_need-1",
                                  variables={"training_session": session_id}, user="integration")
    [need] = case.needs()
    assert (need.completed_at, need.session_id) == (clock.now(), session_id)
    assert case.instance.end_event_id == "EndEvent_Trained"


def test_a_pass_corrected_elsewhere_closes_the_need_when_results_are_next_saved(case, clock):
    case.start()
    [need] = case.needs()
    session_id = case.plan([need.id])
    case.record(session_id, {"tech_chen": ResultInput(attended=True, assessment_score=40, passed=False)})
    with Session(case.sa_engine) as session:  # as the archive's correction page writes one
        session.add(Correction(record_type="training_attendance", record_key=f"{session_id}:tech_chen",
                               subject="tech_chen", field="passed", original="false", corrected="true",
                               reason="re-marked", author="mgr_wu", at=clock.now()))
        session.commit()
    assert case.instance.status == InstanceStatus.RUNNING
    done = case.record(session_id, {})
    assert (done.recorded, done.corrected, done.closed_needs) == ((), (), (need.id,))
    assert case.instance.status == InstanceStatus.COMPLETED
