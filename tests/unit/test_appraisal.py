"""The staff appraisal (E-1) and its rewards and penalties (E-2) on the engine with the
application's own service functions (web/appraisal.py): a month of known work by one
technician and one customer-service member — real requests and rectifications, plus fact
rows just inside and just outside the month in Shanghai time — counted exactly; the monthly
round; review, acknowledgement, approval and the loops and refusals between them — straight
through and reloaded, on each database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from engine import AuditAction, InstanceStatus, InvalidTaskData, WorkflowEngine
from engine.models import Deadline, ProcessDefinition, ProcessInstance, Timer
from tests.conftest import read_files
from web import appraisal, quality, service_requests, training_records
from web.extensions import db
from web.models import (
    Appraisal,
    FeedbackItem,
    InspectionResult,
    Role,
    Sanction,
    SatisfactionScore,
    ServiceCase,
    TrainingNeed,
    User,
)

SH = ZoneInfo("Asia/Shanghai")
FILES = ("appraisal.bpmn", "appraisal_round.bpmn", "appraisal_outcome.dmn", "training_need.bpmn",
         "service_request.bpmn", "priority_proposal.dmn", "service_level.dmn", "rectification.bpmn")
PEOPLE = [  # username, roles, active
    ("tech_chen", [Role.TECHNICIAN], True), ("tech_liu", [Role.TECHNICIAN], True),
    ("tech_gone", [Role.TECHNICIAN], False), ("cs_zhang", [Role.CUSTOMER_SERVICE], True),
    ("cs_li", [Role.CUSTOMER_SERVICE], True), ("sup_zhao", [Role.SERVICE_SUPERVISOR], True),
    ("sup_qian", [Role.SERVICE_SUPERVISOR], True), ("mgr_wu", [Role.MANAGER], True),
    ("qa_sun", [Role.QUALITY_REVIEWER], True), ("owner_wang", [Role.OWNER], True),
]
IN_SCOPE = ["cs_li", "cs_zhang", "sup_qian", "sup_zhao", "tech_chen", "tech_liu"]
REQUEST = {"channel": "online", "owner_id": "owner_wang", "owner_name": "王先生",
           "contact_phone": "13800000000", "building": "3", "unit": "1201", "service_type": "facility",
           "description": "单元门禁卡失灵 The entrance card reader is broken"}
WORK = {"sop_safety_zone": True, "sop_inspect_parts": True, "sop_function_test": True, "sop_site_clean": True}
RECORD = {"work_content": "更换读卡器 Replaced the reader", "work_started_at": "2026-01-05T14:00",
          "work_finished_at": "2026-01-05T14:40", "materials": "读卡器 x1"}
# The application's functions, as web/__init__.py registers them (the training part's
# propflow.training.require included).
SERVICES = {**quality.SERVICES, **training_records.SERVICES, **appraisal.SERVICES}
REVIEW = {"assessment": "工作认真，响应及时 Careful work, quick to respond", "score": 95}


def sh(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = 2026) -> datetime:
    """A moment in the company's time zone."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


@dataclass
class World:
    kept: WorkflowEngine
    clock: object
    sa_engine: object
    mode: str = "straight"

    @property
    def engine(self) -> WorkflowEngine:
        return self.kept if self.mode == "straight" else self.kept.with_clock(self.clock)

    def at(self, when: datetime) -> None:
        self.clock.set(when)

    def open(self, instance_id: str) -> list[str]:
        return sorted(t.element_id for t in self.engine.instance(instance_id).open_tasks)

    def task(self, instance_id: str, element_id: str):
        tasks = [t for t in self.engine.instance(instance_id).open_tasks if t.element_id == element_id]
        assert tasks, f"{element_id} is not open; open: {self.open(instance_id)}"
        return tasks[0]

    def do(self, instance_id: str, element_id: str, data: dict, user: str):
        return self.engine.complete_user_task(self.task(instance_id, element_id).id, data, user=user)

    def variables(self, instance_id: str) -> dict:
        return self.engine.instance(instance_id).variables

    def appraisal(self, username: str, first: str = "2026-01-01") -> Appraisal:
        with Session(self.sa_engine) as session:
            return session.scalar(select(Appraisal).where(
                Appraisal.username == username,
                Appraisal.period_start == datetime.fromisoformat(first).date()))

    def sanctions(self) -> list[Sanction]:
        with Session(self.sa_engine) as session:
            return list(session.scalars(select(Sanction).order_by(Sanction.id)))


@pytest.fixture
def world(database_url, sa_engine, clock, tmp_path):
    clock.set(sh(12, 28, 9, year=2025))
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "CLOCK": clock, "SECRET_KEY": "test",
                      "UPLOAD_FOLDER": str(tmp_path / "uploads")})
    with app.app_context():
        for username, roles, active in PEOPLE:
            user = User(username=username, display_name=username.upper(), active=active,
                        created_at=clock.now())
            user.set_password("x")
            user.set_roles(roles)
            db.session.add(user)
        db.session.commit()
        engine = WorkflowEngine(sa_engine, clock, services=SERVICES)
        engine.deploy(read_files(*FILES), name="appraisal")
        yield World(engine, clock, sa_engine)
        db.engine.dispose()


@pytest.fixture(params=["straight", "reload"])
def mode(request, world):
    world.mode = request.param
    return world


# --- a month of known work ---------------------------------------------------------------

def request(world: World, key: str, when: datetime, *, by: str = "owner_wang",
            channel: str = "online") -> str:
    world.at(when)
    return service_requests.submit(world.kept, values={**REQUEST, "channel": channel}, photos=[], user=by,
                                   now=when, business_key=key).id


def intake(world: World, case: str, when: datetime, *, cs: str = "cs_zhang", dispatch_to: str | None = None):
    """Registered, reviewed, the time agreed by phone (the response deadline met), then
    perhaps dispatched, ten minutes apart."""
    steps = [("Task_Register", {"registration_note": "已核实 Verified"}, cs),
             ("Task_Review", {"decision": "approve"}, "sup_zhao"),
             ("Task_Confirm", {"confirmed_time": "2026-01-05T14:00", "confirmed_by_phone": True}, cs)]
    if dispatch_to:
        steps.append(("Task_Dispatch", {"technician": dispatch_to}, "sup_zhao"))
    for n, (element, data, user) in enumerate(steps):
        world.at(when + timedelta(minutes=10 * n))
        world.do(case, element, data, user)


def serve(world: World, case: str, when: datetime, score: int) -> None:
    """Worked, recorded, accepted and rated, ten minutes apart (no rating without a score)."""
    steps = [("Task_WorkFacility", WORK, "tech_chen"), ("Task_Record", RECORD, "tech_chen"),
             ("Task_Acceptance", {"acceptance": "accepted"}, "owner_wang"),
             ("Task_Rate", {"satisfaction": score}, "owner_wang")]
    for n, (element, data, user) in enumerate(steps):
        world.at(when + timedelta(minutes=10 * n))
        world.do(case, element, data, user)


def rectification(world: World, key: str, when: datetime, deadline: str) -> str:
    world.at(when)
    return world.kept.start("rectification", {
        "problem": "楼道灯不亮 Stairwell light out", "source": "spot_check", "responsible": "tech_chen",
        "deadline": deadline}, business_key=key, user="sup_zhao").id


def fire(world: World, when: datetime) -> None:
    world.at(when)
    world.kept.fire_due_timers()


class Facts:
    """Fact rows written straight to the tables, each with an instance row to belong to (the
    engine ignores these finished instances)."""

    def __init__(self, world: World):
        self.session = Session(world.sa_engine)
        self.definition = self.session.scalar(select(ProcessDefinition.id).limit(1))
        self.now = world.clock.now()

    def instance(self, process_key: str, key: str) -> str:
        row = ProcessInstance(id=str(uuid.uuid4()), definition_id=self.definition, process_key=process_key,
                              business_key=key, status=InstanceStatus.COMPLETED, state="{}",
                              serializer_version="test", started_at=self.now, updated_at=self.now)
        self.session.add(row)
        self.session.flush()
        return row.id

    def case(self, key: str, *, technician: str | None = None, submitted_by: str = "owner_wang",
             deadlines=()) -> str:
        """A request with its deadlines: (name, due, met)."""
        instance = self.instance("service_request", key)
        self.session.add(ServiceCase(instance_id=instance, business_key=key, owner_id="owner_wang",
                                     channel="phone", service_type="facility", building="3", unit="1201",
                                     submitted_by=submitted_by, submitted_at=self.now, technician=technician))
        for name, due, met in deadlines:
            self.session.add(Deadline(instance_id=instance, name=name, due_at=due, met=met,
                                      reached_at=due if met else None, breached_at=None if met else due))
        return instance

    def score(self, technician: str, score: int, at: datetime, kind: str = "request") -> None:
        self.session.add(SatisfactionScore(instance_id=self.instance("service_request", None), kind=kind,
                                           owner_id="owner_wang", score=score, technician=technician,
                                           recorded_at=at))

    def inspection(self, check: str, item: str, technician: str, passed: bool, at: datetime) -> None:
        self.session.add(InspectionResult(instance_id=check, item=item, technician=technician, passed=passed,
                                          result="passed" if passed else "failed", inspected_by="sup_zhao",
                                          inspected_at=at))

    def feedback(self, key: str, category: str, related: str, at: datetime) -> None:
        self.session.add(FeedbackItem(instance_id=self.instance("feedback", key), business_key=key,
                                      owner_id="owner_wang", channel="phone", subject="噪音 Noise",
                                      category=category, received_at=at, related_request=related,
                                      updated_at=at))

    def save(self) -> None:
        self.session.commit()
        self.session.close()


def a_month_of_work(world: World) -> None:
    """January 2026 for tech_chen and cs_zhang (and a little for the others), in time order."""
    r0 = rectification(world, "RC-0", sh(12, 28, 10, year=2025), "2026-01-03")  # started in December
    world.at(sh(1, 2, 10))
    world.do(r0, "Task_Rectify", {"plan": "换灯管 New tubes", "evidence": "已更换 Replaced",
                                  "completed_at": "2026-01-02"}, "tech_chen")
    world.do(r0, "Task_Verify", {"verification": "passed"}, "sup_zhao")  # met: due 3 Jan
    sr1 = request(world, "SR-1", sh(1, 5, 9))
    intake(world, sr1, sh(1, 5, 9, 10), dispatch_to="tech_chen")
    serve(world, sr1, sh(1, 5, 10), 5)  # response and handling met, rated 5
    # December's round, started by hand: tech_chen's own appraisal tasks are not January's work.
    world.at(sh(1, 8, 10))
    december = world.kept.start("appraisal_round", {"period_start": "2025-12-01", "period_end": "2025-12-31"},
                                business_key="AR-2025-12", user="mgr_wu")
    assert december.variables["appraisals_started"] == len(IN_SCOPE)
    chen_december = world.kept.find_instances(business_key="AP-2025-12-tech_chen")[0]
    world.at(sh(1, 8, 10, 30))
    world.do(chen_december, "Task_ReviewBySupervisor", REVIEW, "sup_zhao")
    world.at(sh(1, 8, 11))
    world.do(chen_december, "Task_Acknowledge", {}, "tech_chen")
    sr2 = request(world, "SR-2", sh(1, 10, 9))
    intake(world, sr2, sh(1, 10, 9, 10), dispatch_to="tech_chen")
    fire(world, sh(1, 13, 9, 0, 1))  # handling due 13 Jan 09:00 (3 days): breached
    serve(world, sr2, sh(1, 13, 10), 3)
    sr4 = request(world, "SR-4", sh(1, 20, 9), by="cs_zhang", channel="phone")  # entered by cs_zhang
    rectification(world, "RC-1", sh(1, 20, 10), "2026-01-25")
    fire(world, sh(1, 21, 9, 0, 1))  # SR-4's response due 21 Jan 09:00: breached
    world.at(sh(1, 21, 9, 30))
    world.do(sr4, "Task_Register", {}, "cs_zhang")
    sr5 = request(world, "SR-5", sh(1, 22, 9))
    intake(world, sr5, sh(1, 22, 9, 10), cs="cs_li")  # cs_li's, not cs_zhang's
    fire(world, sh(1, 26, 0, 0, 1))  # RC-1 due 25 Jan 23:59:59: breached (overdue in January)
    rectification(world, "RC-2", sh(1, 30, 10), "2026-02-05")  # undecided
    sr6 = request(world, "SR-6", sh(1, 31, 20))
    intake(world, sr6, sh(1, 31, 20, 10), dispatch_to="tech_chen")  # response due 1 Feb 20:00: February's
    world.at(sh(1, 31, 23, 59))
    world.do(sr6, "Task_WorkFacility", WORK, "tech_chen")  # the last minute of January
    world.at(sh(2, 1, 0, 1))
    world.do(sr6, "Task_Record", RECORD, "tech_chen")  # the first minute of February
    rows = Facts(world)
    rows.case("SR-X1", technician="tech_chen", deadlines=[("handling", sh(1, 31, 23, 30), True),
                                                          ("response", sh(1, 20), False)])
    rows.case("SR-X2", technician="tech_chen", deadlines=[("handling", sh(2, 1, 0, 30), False)])
    rows.case("SR-X3", technician="tech_chen", deadlines=[("handling", sh(1, 15), None)])
    rows.case("SR-X4", submitted_by="cs_zhang", deadlines=[("response", sh(1, 31, 23, 59, 59), True)])
    rows.case("SR-X5", submitted_by="cs_zhang", deadlines=[("response", sh(2, 1), False)])  # the end: out
    rows.case("SR-L1", technician="tech_liu")
    rows.score("tech_chen", 4, sh(1, 31, 23, 59))
    rows.score("tech_chen", 1, sh(2, 1, 0, 1))
    rows.score("tech_chen", 1, sh(12, 31, 23, 59, year=2025))
    rows.score("tech_chen", 1, sh(1, 15), kind="survey")
    rows.score("tech_liu", 1, sh(1, 15))
    check = rows.instance("spot_check", "SC-1")
    rows.inspection(check, "SR-1", "tech_chen", True, sh(1, 10))
    rows.inspection(check, "SR-2", "tech_chen", False, sh(1, 12))
    rows.inspection(check, "SR-X1", "tech_chen", False, sh(2, 1, 0, 1))
    rows.inspection(check, "SR-L1", "tech_liu", False, sh(1, 12))
    rows.feedback("FB-1", "complaint", "SR-1", sh(1, 15))
    rows.feedback("FB-2", "complaint", "SR-2", sh(2, 1, 0, 1))
    rows.feedback("FB-3", "praise", "SR-1", sh(1, 16))
    rows.feedback("FB-4", "complaint", "SR-L1", sh(1, 17))
    rows.save()


FACT_NAMES = ("tasks_completed", "deadlines_due", "deadlines_met", "scores", "average_score", "inspections",
              "inspections_failed", "rectifications", "rectifications_overdue", "complaints")
# tasks: RC-0 rectified (2 Jan), SR-1 and SR-2 worked and recorded, SR-6 worked at 23:59
# (its record at 00:01 is February's; the December appraisal's acknowledgement is not work).
# deadlines: handling SR-1 met, SR-2 missed, SR-X1 met (23:30); RC-0 met, RC-1 missed.
# scores: 5 (SR-1), 3 (SR-2), 4 (23:59 on the 31st) — not the 00:01 one, the December
# one, the survey or tech_liu's. inspections: SR-1 passed, SR-2 failed. rectifications
# started in January: RC-1, RC-2; overdue: RC-1. complaints: FB-1 only.
CHEN = (6, 5, 3, 3, 4.0, 2, 1, 2, 1, 1)
# tasks: register and confirm SR-1, SR-2, SR-6, register SR-4. deadlines: response SR-1 and
# SR-2 met, SR-4 (entered by cs_zhang) missed, SR-X4 met at 23:59:59; SR-6's and SR-X5's
# fall due in February; SR-5 is cs_li's. No ratings: no average.
ZHANG = (7, 4, 3, 0, None, 0, 0, 0, 0, 0)


def test_a_month_is_counted_exactly_and_each_person_is_appraised_once(world):
    a_month_of_work(world)
    world.at(sh(2, 1, 9))
    [round_id] = world.kept.fire_due_schedules()  # the 1st, 09:00: January's round
    january = world.engine.instance(round_id)
    assert (january.business_key, january.status, january.end_event_id) == (
        "appraisal_round-20260201-0100", InstanceStatus.COMPLETED, "EndEvent_Started")
    assert january.variables["appraised"] == IN_SCOPE  # not tech_gone (inactive), nor managers, owners, qa
    period = (january.variables["period_start"], january.variables["period_end"])
    assert period == ("2026-01-01", "2026-01-31")
    chen, zhang = world.appraisal("tech_chen"), world.appraisal("cs_zhang")
    assert tuple(getattr(chen, name) for name in FACT_NAMES) == CHEN
    assert tuple(getattr(zhang, name) for name in FACT_NAMES) == ZHANG
    assert (world.appraisal("cs_li").tasks_completed, world.appraisal("cs_li").deadlines_due) == (2, 1)
    # sup_zhao verified RC-0, reviewed SR-1, 2, 5 and 6 and dispatched SR-1, 2 and 6 (not
    # tech_chen's December appraisal: that is personnel work).
    assert world.appraisal("sup_zhao").tasks_completed == 8
    assert (chen.business_key, chen.round_key, chen.status, chen.computed_at) == (
        "AP-2026-01-tech_chen", january.business_key, "reviewing", sh(2, 1, 9))
    [chen_id] = world.kept.find_instances(business_key="AP-2026-01-tech_chen")
    shown = world.variables(chen_id)
    assert tuple(shown[name] for name in FACT_NAMES) == CHEN
    assert (shown["deadlines_missed"], shown["average_score_text"]) == (2, "4.00")
    assert (shown["reviewer_group"], shown["reviewers"]) == ("service_supervisor", ["sup_qian", "sup_zhao"])
    assert shown["evidence_lines"].splitlines() == [
        "SR-2 期限未满足 handling deadline missed", "RC-1 期限未满足 rectification deadline missed",
        "SR-2 抽查不合格 failed spot check", "RC-1 整改逾期 rectification overdue", "FB-1 投诉 complaint"]
    zhang_shown = world.variables(world.kept.find_instances(business_key="AP-2026-01-cs_zhang")[0])
    assert (zhang_shown["average_score"], zhang_shown["average_score_text"]) == (None, "—")
    supervisor = world.variables(world.kept.find_instances(business_key="AP-2026-01-sup_zhao")[0])
    assert (supervisor["reviewer_group"], supervisor["reviewers"]) == ("manager", ["mgr_wu"])
    # The same month again, by hand: everyone has January's appraisal already.
    again = world.kept.start("appraisal_round", {"period_start": "2026-01-01", "period_end": "2026-01-31"},
                             business_key="AR-2026-01-again", user="mgr_wu")
    assert (again.variables["appraisals_started"], again.variables["skipped"]) == (0, IN_SCOPE)
    assert len(world.kept.find_instances(process_key="appraisal")) == 2 * len(IN_SCOPE)  # December's too


def test_the_round_starts_on_the_first_of_the_month_for_the_month_before(world):
    world.at(sh(1, 1, 8, 59))
    assert world.kept.fire_due_schedules() == []
    world.at(sh(1, 1, 9))
    [december] = world.kept.fire_due_schedules()
    assert world.variables(december)["period_start"] == "2025-12-01"
    world.at(sh(2, 1, 9))  # calendar months, not 31 days
    [january] = world.kept.fire_due_schedules()
    assert world.variables(january)["period_end"] == "2026-01-31"


@pytest.mark.parametrize(("period", "field"), [
    ({"period_start": "2025-12-01"}, "period_end"),
    ({"period_end": "2025-12-31"}, "period_start"),
    ({"period_start": "2025-12-31", "period_end": "2025-12-01"}, "period_end"),
    ({"period_start": "2025-12-01", "period_end": "2025-12-28"}, "period_end"),  # today: not over
])
def test_a_round_by_hand_names_a_whole_past_period(world, period, field):
    with pytest.raises(InvalidTaskData) as caught:
        world.kept.start("appraisal_round", period, business_key="AR-X", user="mgr_wu")
    assert list(caught.value.errors) == [field]
    assert world.kept.find_instances(process_key="appraisal") == []


# --- one appraisal -----------------------------------------------------------------------

def appraise(world: World, staff: str = "tech_chen") -> str:
    """December 2025's appraisal of ``staff``, started on 5 January (no facts: all zero)."""
    world.at(sh(1, 5, 9))
    return world.engine.start("appraisal", {"staff": staff, "period_start": "2025-12-01",
                                            "period_end": "2025-12-31", "round": "AR-TEST"},
                              business_key=f"AP-2025-12-{staff}", user="mgr_wu").id


def review(world: World, case: str, data: dict | None = None, by: str = "sup_zhao", hours: int = 1):
    world.at(world.clock.now() + timedelta(hours=hours))
    by_manager = "Task_ReviewByManager" in world.open(case)
    element = "Task_ReviewByManager" if by_manager else "Task_ReviewBySupervisor"
    return world.do(case, element, {**REVIEW, **(data or {})}, by)


def acknowledge(world: World, case: str, comment: str = "", by: str = "tech_chen"):
    world.at(world.clock.now() + timedelta(hours=1))
    return world.do(case, "Task_Acknowledge", {"staff_comment": comment} if comment else {}, by)


def decide(world: World, case: str, data: dict, by: str = "mgr_wu"):
    world.at(world.clock.now() + timedelta(hours=1))
    return world.do(case, "Task_Approve", data, by)


def test_reviewed_acknowledged_approved_and_rewarded_as_proposed(mode):
    case = appraise(mode)
    assert mode.open(case) == ["Task_ReviewBySupervisor"]
    reviewing = mode.task(case, "Task_ReviewBySupervisor")
    assert reviewing.candidate_groups == ("service_supervisor",)
    assert reviewing.due_at == sh(1, 12, 9)
    readonly = {f.id for f in reviewing.form.fields if f.readonly}
    assert {"tasks_completed", "deadlines_missed", "average_score_text", "complaints"} <= readonly
    review(mode, case)
    row = mode.appraisal("tech_chen", "2025-12-01")
    assert (row.status, row.reviewer, row.score, row.reviewed_at) == (
        "acknowledging", "sup_zhao", 95, sh(1, 5, 10))
    ack = mode.task(case, "Task_Acknowledge")
    assert (ack.assignee, ack.due_at) == ("tech_chen", sh(1, 10, 10))
    acknowledge(mode, case, "谢谢 Thank you")
    row = mode.appraisal("tech_chen", "2025-12-01")
    assert (row.status, row.acknowledged_at, row.staff_comment) == (
        "approving", sh(1, 5, 11), "谢谢 Thank you")
    approving = mode.task(case, "Task_Approve")
    assert approving.candidate_groups == ("manager",)
    assert mode.engine.task(approving.id).data["acknowledged_text"] == "已确认 Acknowledged 2026-01-05 11:00"
    decide(mode, case, {"decision": "approve"})
    row = mode.appraisal("tech_chen", "2025-12-01")
    assert (row.status, row.approver, row.approved_at, row.proposal) == (
        "approved", "mgr_wu", sh(1, 5, 12), "reward")
    assert row.proposal_reason.startswith("考核评分 90 分及以上")
    assert mode.sanctions() == []  # proposed, not yet approved
    sanction = mode.task(case, "Task_DecideSanction")
    values = mode.engine.task(sanction.id).data
    evidence = "AP-2025-12-tech_chen 绩效考核 appraisal"
    assert (values["sanction_measure"], values["sanction_evidence"]) == ("bonus", evidence)
    mode.do(case, "Task_DecideSanction", {"sanction_decision": "approve", "sanction_measure": "bonus",
                                          "sanction_reason": values["sanction_reason"]}, "mgr_wu")
    [recorded] = mode.sanctions()
    assert (recorded.username, recorded.kind, recorded.measure, recorded.proposed_by, recorded.approved_by,
            recorded.appraisal_id) == ("tech_chen", "reward", "bonus", "rules", "mgr_wu", case)
    assert (recorded.reason, recorded.evidence) == (row.proposal_reason, evidence)
    done = mode.engine.instance(case)
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Done")
    with Session(mode.sa_engine) as session:  # reminders and time-outs went with their tasks
        assert session.scalars(select(Timer).where(Timer.instance_id == case)).all() == []


def test_a_service_supervisor_is_reviewed_by_the_managers(mode):
    case = appraise(mode, "sup_zhao")
    reviewing = mode.task(case, "Task_ReviewByManager")
    assert reviewing.candidate_groups == ("manager",)
    review(mode, case, by="mgr_wu")
    assert mode.open(case) == ["Task_Acknowledge"]
    assert mode.task(case, "Task_Acknowledge").assignee == "sup_zhao"


def test_nobody_reviews_acknowledges_for_or_approves_their_own_appraisal(mode):
    case = appraise(mode)
    with pytest.raises(InvalidTaskData) as caught:
        review(mode, case, by="tech_chen")
    assert list(caught.value.errors) == ["assessment"]
    assert mode.appraisal("tech_chen", "2025-12-01").status == "reviewing"
    review(mode, case)
    with pytest.raises(InvalidTaskData) as caught:
        acknowledge(mode, case, by="sup_zhao")  # a supervisor holding the task cannot sign for him
    assert list(caught.value.errors) == ["staff_comment"]
    acknowledge(mode, case)
    for decision in ({"decision": "approve"}, {"decision": "return", "return_note": "再看看 Look again"}):
        with pytest.raises(InvalidTaskData) as caught:
            decide(mode, case, decision, by="tech_chen")
        assert list(caught.value.errors) == ["decision"]
    assert mode.open(case) == ["Task_Approve"]


def test_sent_back_to_the_reviewer_then_acknowledged_again_at_most_three_times(mode):
    case = appraise(mode)
    for round_ in range(1, 4):
        review(mode, case, {"score": 70 + round_})
        acknowledge(mode, case)
        decide(mode, case, {"decision": "return", "return_note": f"第{round_}次 Look again ({round_})"})
        assert mode.open(case) == ["Task_ReviewBySupervisor"]
        assert mode.appraisal("tech_chen", "2025-12-01").status == "reviewing"
        again = mode.engine.task(mode.task(case, "Task_ReviewBySupervisor").id).data
        assert (again["return_note"], again["score"], again["return_count"]) == (
            f"第{round_}次 Look again ({round_})", 70 + round_, round_)
    assert mode.task(case, "Task_ReviewBySupervisor").due_at == mode.clock.now() + timedelta(days=7)
    review(mode, case, {"score": 88})
    acknowledge(mode, case)
    with pytest.raises(InvalidTaskData) as caught:
        decide(mode, case, {"decision": "return", "return_note": "再来 Once more"})
    assert caught.value.errors == {"decision": ["this appraisal was sent back 3 times already: approve it"]}
    decide(mode, case, {"decision": "approve"})
    row = mode.appraisal("tech_chen", "2025-12-01")
    # 88 is short of a bonus, and a commendation needs owners' ratings averaging 4.5: none.
    assert (row.status, row.score, row.proposal) == ("approved", 88, "none")
    assert mode.engine.instance(case).status == InstanceStatus.COMPLETED


def test_reminders_and_an_acknowledgement_that_never_comes(mode):
    case = appraise(mode)
    mode.at(sh(1, 11, 9))  # the review is due 12 Jan 09:00: reminder a day before
    assert mode.kept.fire_due_timers() == 0
    mode.at(sh(1, 11, 9, 0, 1))
    assert mode.kept.fire_due_timers() == 1
    reminded = [e.data["to"] for e in mode.engine.history(case) if e.action == AuditAction.NOTIFIED]
    assert reminded == ["sup_qian", "sup_zhao"]  # everyone who may pick the review up
    assert [n.business_key for n in mode.engine.notices("sup_qian")] == ["AP-2025-12-tech_chen"]
    mode.at(sh(1, 11, 10))
    review(mode, case, hours=0)  # acknowledgement due 16 Jan 10:00
    mode.at(sh(1, 15, 10, 0, 1))
    mode.kept.fire_due_timers()
    assert [n.business_key for n in mode.engine.notices("tech_chen")] == ["AP-2025-12-tech_chen"]
    assert mode.open(case) == ["Task_Acknowledge"]
    mode.at(sh(1, 16, 10))
    assert mode.kept.fire_due_timers() == 0  # due exactly now: not yet
    mode.at(sh(1, 16, 10, 0, 1))
    assert mode.kept.fire_due_timers() == 1
    assert mode.open(case) == ["Task_Approve"]
    row = mode.appraisal("tech_chen", "2025-12-01")
    assert (row.status, row.acknowledged_at, row.staff_comment) == ("approving", None, None)
    approving = mode.engine.task(mode.task(case, "Task_Approve").id).data
    assert (approving["acknowledged"], approving["acknowledged_text"]) == (
        False, "未确认（确认期限已过）Not acknowledged: the time ran out")
    assert mode.task(case, "Task_Approve").due_at == sh(1, 23, 10, 0, 1)


def test_a_penalty_is_recorded_only_once_a_manager_approves_it(mode):
    case = appraise(mode)
    review(mode, case, {"score": 55})
    acknowledge(mode, case, "我不同意 I disagree")
    decide(mode, case, {"decision": "approve"})
    row = mode.appraisal("tech_chen", "2025-12-01")
    assert (row.proposal, row.proposal_reason) == ("penalty", "考核评分低于 60 分 Score below 60")
    assert mode.sanctions() == []
    proposed = mode.engine.task(mode.task(case, "Task_DecideSanction").id).data
    assert (proposed["proposal"], proposed["measure"], proposed["sanction_measure"]) == (
        "penalty", "warning", "warning")
    with pytest.raises(InvalidTaskData) as caught:  # "as proposed" but another measure
        mode.do(case, "Task_DecideSanction", {"sanction_decision": "approve", "sanction_measure": "demerit",
                                              "sanction_reason": "x"}, "mgr_wu")
    assert list(caught.value.errors) == ["sanction_measure"]
    with pytest.raises(InvalidTaskData) as caught:
        mode.do(case, "Task_DecideSanction", {"sanction_decision": "modify", "sanction_measure": "warning",
                                              "sanction_reason": "x"}, "tech_chen")
    assert list(caught.value.errors) == ["sanction_decision"]
    assert mode.sanctions() == []
    mode.do(case, "Task_DecideSanction", {
        "sanction_decision": "modify", "sanction_measure": "demerit",
        "sanction_reason": "评分低且拒不改正 Low score, no improvement",
        "sanction_evidence": "AP-2025-12-tech_chen\r\nSR-9"},
        "mgr_wu")
    [recorded] = mode.sanctions()
    assert (recorded.kind, recorded.measure, recorded.proposed_by, recorded.approved_by,
            recorded.evidence) == ("penalty", "demerit", "mgr_wu", "mgr_wu", "AP-2025-12-tech_chen\nSR-9")
    assert mode.appraisal("tech_chen", "2025-12-01").status == "approved"


def test_a_rejected_proposal_records_nothing(mode):
    case = appraise(mode)
    review(mode, case, {"score": 30})
    acknowledge(mode, case)
    decide(mode, case, {"decision": "approve"})
    with pytest.raises(InvalidTaskData) as caught:
        mode.do(case, "Task_DecideSanction", {"sanction_decision": "reject"}, "mgr_wu")
    assert list(caught.value.errors) == ["sanction_note"]
    mode.do(case, "Task_DecideSanction", {"sanction_decision": "reject", "sanction_note": "新员工 New hire"},
            "mgr_wu")
    assert mode.sanctions() == []
    assert mode.appraisal("tech_chen", "2025-12-01").proposal == "penalty"  # the rules' word stays
    assert mode.engine.instance(case).status == InstanceStatus.COMPLETED


def test_a_training_gap_starts_tracking_the_training_on_approval(mode):
    case = appraise(mode)
    with pytest.raises(InvalidTaskData) as caught:
        review(mode, case, {"training_gap": True})
    assert list(caught.value.errors) == ["training_topic"]
    with pytest.raises(InvalidTaskData) as caught:
        review(mode, case, {"training_gap": True, "training_topic": "电气安全 Electrical safety",
                            "training_due": "2026-01-04"})
    assert list(caught.value.errors) == ["training_due"]
    review(mode, case, {"training_gap": True, "training_topic": "电气安全 Electrical safety",
                        "training_due": "2026-02-28"})
    acknowledge(mode, case)
    with Session(mode.sa_engine) as session:
        assert session.scalars(select(TrainingNeed)).all() == []  # not before the approval
    decide(mode, case, {"decision": "approve"})
    with Session(mode.sa_engine) as session:
        [need] = session.scalars(select(TrainingNeed)).all()
        assert (need.username, need.topic, need.source, need.source_reference, need.raised_by,
                str(need.due)) == ("tech_chen", "电气安全 Electrical safety", "appraisal",
                                   "AP-2025-12-tech_chen", "mgr_wu", "2026-02-28")
        assert need.reason == ("绩效考核 Appraisal AP-2025-12-tech_chen (2025-12-01 – 2025-12-31): "
                               "电气安全 Electrical safety")
    tracking = mode.engine.instance(need.instance_id)
    assert (tracking.process_key, tracking.variables["staff"]) == ("training_need", "tech_chen")
    assert mode.open(case) == ["Task_DecideSanction"]  # the reward waits for its own decision


def test_an_appraisal_is_about_an_active_staff_member_once_per_period(world):
    case = appraise(world)
    with pytest.raises(InvalidTaskData) as caught:
        appraise(world)
    assert list(caught.value.errors) == ["staff"]
    for nobody in ("tech_gone", "owner_wang", "ghost"):
        with pytest.raises(InvalidTaskData):
            appraise(world, nobody)
    assert world.kept.find_instances(process_key="appraisal") == [case]
