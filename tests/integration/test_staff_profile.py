"""Staff profiles, the appraisal pages and the register of rewards and penalties, through
real HTTP — and the confidentiality of personnel records on every page and API that shows
instances, tasks, variables, history or a case's diagram.

The people appraised here are accounts of this test's own (tech_he, a technician; sup_qian, a
service supervisor), so whatever the demo adds for its accounts does not change what is
asserted. Known rows are written straight into the tables (the appraisal and training
diagrams are tested on their own); the personnel instances come from
``tests/fixtures/personnel_appraisal.bpmn`` (process id ``appraisal``, ``staff`` set at start,
a review offered to the group the start names). sup_qian's appraisal is offered to the
*supervisors'* group on purpose: a group holding someone who may not see it (sup_zhao), whom
only the confidentiality rule keeps out.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from lxml import html
from sqlalchemy import select, update

from engine.models import AuditAction, AuditEvent
from tests.conftest import FIXTURES
from tests.unit.test_audit_chain import guards_off
from web import workflow_engine
from web.demo import DEMO_PASSWORD
from web.extensions import db
from web.models import Appraisal, Role, Sanction, TrainingAttendance, TrainingNeed, TrainingSession, User

NOV, DEC, SUP = "AP-2025-11-tech_he", "AP-2025-12-tech_he", "AP-2025-12-sup_qian"
REST = "/engine-rest"
NOTIFY_TOPIC = "test.personnel.notify"
WORKER_PASSWORD = "worker-password-1"
VIEWERS = ("tech_he", "tech_chen", "cs_zhang", "sup_zhao", "sup_qian", "qa_sun", "po_zhou", "mgr_wu", "admin",
           "owner_wang")
# Who may see whose records: the person, managers, supervisors for technicians and customer service.
SEES_TECH_HE = {"tech_he", "sup_zhao", "sup_qian", "mgr_wu"}
SEES_SUP_QIAN = {"sup_qian", "mgr_wu"}
LEADS = {"sup_zhao", "sup_qian", "mgr_wu"}


def at(day: int, month: int = 12, year: int = 2025) -> datetime:
    return datetime(year, month, day, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Records:
    nov: str
    dec: str
    sup: str


def _account(username: str, name: str, roles, clock, *, skills=(), password: str = DEMO_PASSWORD) -> User:
    user = User(username=username, display_name=name, locale="en", active=True, created_at=clock.now())
    user.set_password(password)
    user.set_roles(roles)
    user.set_skills(skills)
    return user


def _appraisal(instance_id: str, key: str, username: str, month: int, **fields) -> Appraisal:
    """November or December 2025; the facts as computed when it began, then ``fields``."""
    last = date(2025, month, 30 if month == 11 else 31)
    figures = {"tasks_completed": 12, "deadlines_due": 5, "deadlines_met": 4, "scores": 3,
               "average_score": 4.33, "inspections": 2, "inspections_failed": 1, "rectifications": 1,
               "rectifications_overdue": 0, "complaints": 1}
    return Appraisal(instance_id=instance_id, business_key=key, round_key=f"ROUND-2025-{month}",
                     username=username, period_start=date(2025, month, 1), period_end=last,
                     computed_at=datetime.combine(last, datetime.min.time(), UTC), **{**figures, **fields})


def _training(nov: str) -> list:
    leak = TrainingSession(topic="漏水应急 Leak response", skill="plumbing", starts_at=at(10), hours=2.5,
                           location="Room 1", trainer="王工 Wang", created_by="mgr_wu", created_at=at(1))
    safety = TrainingSession(topic="电气安全 Electrical safety", skill="electrical",
                             starts_at=at(20, 1, 2026), hours=1.0, trainer="Li", created_by="mgr_wu",
                             created_at=at(1))
    db.session.add_all([leak, safety])
    db.session.flush()
    return [
        TrainingAttendance(session_id=leak.id, username="tech_he", attended=True, assessment_score=85,
                           passed=True, comment="Good", recorded_by="mgr_wu", recorded_at=at(11)),
        TrainingAttendance(session_id=safety.id, username="tech_he"),
        TrainingNeed(username="tech_he", topic="漏水应急 Leak response", skill="plumbing",
                     reason="Failed spot check", source="spot_check", source_reference="SC-20251201-A",
                     due=date(2025, 12, 31), raised_by="sup_zhao", raised_at=at(2), session_id=leak.id,
                     completed_at=at(11)),
        TrainingNeed(username="tech_he", topic="电气安全 Electrical safety", skill="electrical",
                     reason="Appraisal gap", source="appraisal", source_reference=NOV, due=date(2026, 1, 2),
                     raised_by="sup_zhao", raised_at=at(5)),
    ]


@pytest.fixture
def records(app, demo, clock) -> Records:
    """tech_he's November appraisal (approved, its case closed) and his December one, and
    sup_qian's December one, both waiting for review; two sanctions; training."""
    with app.app_context():
        engine = workflow_engine()
        engine.deploy({"personnel_appraisal.bpmn": (FIXTURES / "personnel_appraisal.bpmn").read_bytes()},
                      name="personnel test")
        db.session.add_all([
            _account("tech_he", "何师傅 He", [Role.TECHNICIAN], clock, skills=["plumbing", "electrical"]),
            _account("sup_qian", "钱主管 Qian", [Role.SERVICE_SUPERVISOR], clock),
            _account("svc_worker", "Worker", [Role.INTEGRATION], clock, password=WORKER_PASSWORD),
            _account("svc_hr", "HR worker", [Role.INTEGRATION, Role.MANAGER], clock,
                     password=WORKER_PASSWORD)])
        db.session.commit()

        def start(key, staff, notify):
            return engine.start("appraisal", {"staff": staff, "reviewer_group": "service_supervisor",
                                              "notify_to": notify}, business_key=key, user="mgr_wu").id

        nov = start(NOV, "tech_he", None)
        engine.cancel(nov, user="mgr_wu", reason="approved on paper")
        dec, sup = start(DEC, "tech_he", "tech_he"), start(SUP, "sup_qian", "sup_zhao")
        db.session.add_all([
            _appraisal(nov, NOV, "tech_he", 11, reviewer="sup_zhao", score=82,
                       assessment="按时完成 On time", reviewed_at=at(3), acknowledged_at=at(4),
                       staff_comment="谢谢 Thanks", approver="mgr_wu", approved_at=at(5), proposal="reward",
                       proposal_reason="score ≥ 80", status="approved"),
            _appraisal(dec, DEC, "tech_he", 12, tasks_completed=20, status="reviewing"),
            _appraisal(sup, SUP, "sup_qian", 12, complaints=0, status="reviewing")])
        db.session.flush()
        db.session.add_all([
            Sanction(username="tech_he", kind="reward", measure="commendation", reason="Best month",
                     evidence=f"{NOV} 绩效考核 appraisal\nSR-DEMO-004 投诉 complaint", appraisal_id=nov,
                     proposed_by="rules", approved_by="mgr_wu", recorded_at=at(6)),
            Sanction(username="tech_he", kind="penalty", measure="warning", reason="Late twice",
                     evidence="SC-NOWHERE 抽查不合格 failed spot check", proposed_by="mgr_wu",
                     approved_by="mgr_wu", recorded_at=at(20)),
            *_training(nov)])
        db.session.commit()
        return Records(nov, dec, sup)


# --- reading pages ---------------------------------------------------------------------------------

def page(response) -> html.HtmlElement:
    assert response.status_code == 200, response.status_code
    return html.fromstring(response.get_data(as_text=True))


def texts(tree, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in tree.xpath(xpath)]


def marked(name: str, inside: bool = False) -> str:
    return f'{"." if inside else ""}//*[@data-testid="{name}"]'


def task_id(app, instance_id: str, element: str) -> str:
    with app.app_context():
        tasks = workflow_engine().instance(instance_id).open_tasks
        return next(t.id for t in tasks if t.element_id == element)


def basic(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def rest(client):
    def call(user, method, path, password=DEMO_PASSWORD, **kwargs):
        return client.open(REST + path, method=method, headers=basic(user, password), **kwargs)

    return call


# --- the profile -----------------------------------------------------------------------------------

def test_the_profile_shows_exactly_the_persons_records(records, browser):
    tree = page(browser("mgr_wu").get("/staff/tech_he"))
    assert texts(tree, marked("profile-name")) == ["何师傅 He"]
    assert texts(tree, marked("roles")) == ["Technician"]
    assert texts(tree, marked("skills")) == ["Electrical, Plumbing"]
    rows = tree.xpath(marked("appraisal"))
    assert [(r.get("data-period"), r.get("data-status")) for r in rows] == [
        ("2025-12-01", "reviewing"), ("2025-11-01", "approved")]
    november = " ".join(rows[1].text_content().split())
    for part in ("2025-11", "Tasks completed: 12", "Deadlines met: 4 of 5",
                 "Owners' scores: 4.33 from 3 ratings", "Spot checks failed: 1 of 2", "Rectifications: 1",
                 "Rectifications overdue: 0",
                 "Complaints: 1", "82", "按时完成 On time", "谢谢 Thanks", "mgr_wu", "Reward", "Approved"):
        assert part in november, (part, november)
    assert rows[1].xpath(".//a/@href") == [f"/appraisals/{records.nov}"]
    assert "Tasks completed: 20" in rows[0].text_content()
    sanctions = tree.xpath(marked("sanction"))
    assert [r.get("data-measure") for r in sanctions] == ["warning", "commendation"]
    warning, reward = (" ".join(r.text_content().split()) for r in sanctions)
    assert all(part in warning
               for part in ("Penalty", "Warning", "Late twice", "SC-NOWHERE 抽查不合格", "mgr_wu"))
    assert all(part in reward for part in ("Reward", "Commendation", "Best month", NOV, "the rules"))
    # Evidence naming a record the manager may open links to it; an unknown key does not.
    links = dict(zip(texts(tree, marked("evidence-link")), tree.xpath(marked("evidence-link") + "/@href"),
                     strict=True))
    assert set(links) == {f"{NOV} 绩效考核 appraisal", "SR-DEMO-004 投诉 complaint"}
    assert links[f"{NOV} 绩效考核 appraisal"] == f"/appraisals/{records.nov}"
    assert links["SR-DEMO-004 投诉 complaint"].startswith("/requests/")
    sessions = tree.xpath(marked("training-session"))
    assert [s.get("data-topic") for s in sessions] == ["电气安全 Electrical safety", "漏水应急 Leak response"]
    assert [texts(sessions[1], marked(name, True)) for name in ("attended", "assessment", "passed")] == [
        ["yes"], ["85"], ["yes"]]
    assert texts(sessions[0], marked("attended", True)) == ["Not recorded yet"]
    needs = tree.xpath(marked("training-need"))
    assert [(n.get("data-state"), n.xpath("./td[1]")[0].text_content().split(" (")[0]) for n in needs] == [
        ("open", "电气安全 Electrical safety"), ("closed", "漏水应急 Leak response")]
    assert "2026-01-02" in needs[0].text_content() and "overdue" in needs[0].text_content()


def test_the_person_sees_their_profile_without_links_to_cases_they_may_not_open(records, browser):
    me = browser("tech_he")
    response = me.get("/staff/me")
    assert (response.status_code, response.headers["Location"]) == (302, "/staff/tech_he")
    tree = page(me.get("/staff/tech_he"))
    assert (len(tree.xpath(marked("appraisal"))), len(tree.xpath(marked("sanction")))) == (2, 2)
    # SR-DEMO-004 waits for its owner: a technician with no work on it may not open it.
    assert tree.xpath(marked("evidence-link") + "/@href") == [f"/appraisals/{records.nov}"]
    assert 'data-testid="nav-profile"' in me.get("/tasks/").get_data(as_text=True)


# --- who may open which page -----------------------------------------------------------------------

@pytest.mark.parametrize("viewer", VIEWERS)
def test_each_role_on_each_page(records, browser, viewer):
    person = browser(viewer)
    staff = viewer != "owner_wang"

    def status(url: str) -> int:
        return person.get(url).status_code

    assert status("/staff") == (200 if viewer in LEADS else 403)
    assert status("/appraisals") == (200 if viewer in LEADS else 403)
    assert status("/appraisals/sanctions") == (200 if viewer == "mgr_wu" else 403)
    assert status("/appraisals/sanctions.csv") == (200 if viewer == "mgr_wu" else 403)
    assert status("/staff/me") == (302 if staff else 403)
    # Someone else's records: 403; owners get 403 whatever the username, so they learn nothing.
    assert status("/staff/tech_he") == (200 if viewer in SEES_TECH_HE else 403)
    assert status("/staff/sup_qian") == (200 if viewer in SEES_SUP_QIAN else 403)
    assert status("/staff/nobody") == (404 if staff else 403)
    assert status("/staff/owner_li") == (404 if staff else 403)
    hidden = 404 if staff else 403  # an appraisal's id is not confirmed to whom may not see it
    for instance_id, allowed in ((records.dec, SEES_TECH_HE), (records.nov, SEES_TECH_HE),
                                 (records.sup, SEES_SUP_QIAN)):
        assert status(f"/appraisals/{instance_id}") == (200 if viewer in allowed else hidden)
    assert status("/appraisals/00000000-0000-0000-0000-000000000000") == hidden
    nav = person.get("/staff/me" if staff else "/requests/").get_data(as_text=True)
    if staff:
        nav = person.get(f"/staff/{viewer}").get_data(as_text=True)
    assert ('data-testid="nav-profile"' in nav) == staff
    assert ('data-testid="nav-appraisals"' in nav) == (viewer in LEADS)


def test_the_staff_list_shows_whom_each_lead_may_see(records, browser, app):
    def listed(viewer: str, query: str = "") -> dict[str, tuple[str, str]]:
        tree = page(browser(viewer).get("/staff" + query))
        return {r.get("data-username"): (texts(r, marked("score", True))[0],
                                         texts(r, marked("open-needs", True))[0])
                for r in tree.xpath(marked("staff-row"))}

    everyone = listed("mgr_wu")
    assert {"tech_he", "sup_qian", "sup_zhao", "tech_chen", "cs_zhang", "qa_sun", "mgr_wu",
            "admin"} <= set(everyone)
    assert "owner_wang" not in everyone and "svc_worker" not in everyone
    assert everyone["tech_he"] == ("—", "1")  # December is being reviewed: no score yet; one need open
    for lead, others in (("sup_zhao", "sup_qian"), ("sup_qian", "sup_zhao")):
        seen = listed(lead)
        assert {"tech_he", "tech_chen", "cs_zhang", lead} <= set(seen)
        assert not seen.keys() & {others, "mgr_wu", "qa_sun", "admin", "po_zhou"}
    assert set(listed("mgr_wu", "?role=service_supervisor")) >= {"sup_qian", "sup_zhao"}
    assert "tech_he" not in listed("mgr_wu", "?role=service_supervisor")
    with app.app_context():
        db.session.execute(update(User).where(User.username == "tech_he").values(active=False))
        db.session.commit()
    assert "tech_he" not in listed("mgr_wu") and "tech_he" in listed("mgr_wu", "?inactive=y")
    assert browser("mgr_wu").get("/staff?role=owner").status_code == 422


def test_the_appraisals_by_period_and_one_appraisal(records, browser, app):
    def rows(viewer: str, query: str = "") -> list[tuple]:
        tree = page(browser(viewer).get("/appraisals" + query))
        return [(s.get("data-period"), r.get("data-username"), r.get("data-status"),
                 *(texts(r, marked(name, True))[0] for name in ("score", "proposal", "sanction")))
                for s in tree.xpath(marked("period")) for r in s.xpath(marked("appraisal-row", True))
                if r.get("data-username") in ("tech_he", "sup_qian")]

    assert rows("mgr_wu") == [
        ("2025-12-01", "sup_qian", "reviewing", "—", "—", "—"),
        ("2025-12-01", "tech_he", "reviewing", "—", "—", "—"),
        ("2025-11-01", "tech_he", "approved", "82", "Reward", "Reward: Commendation")]
    assert [r[1] for r in rows("sup_zhao")] == ["tech_he", "tech_he"]
    assert [r[1] for r in rows("sup_qian")] == ["sup_qian", "tech_he", "tech_he"]
    assert [r[:2] for r in rows("mgr_wu", "?period=2025-11-01")] == [("2025-11-01", "tech_he")]
    assert [r[1] for r in rows("mgr_wu", "?status=reviewing&person=sup_qian")] == ["sup_qian"]
    assert browser("mgr_wu").get("/appraisals?status=lost").status_code == 422
    # One appraisal: its figures, and the step open now, linked for whom may do it.
    supervisor = page(browser("sup_zhao").get(f"/appraisals/{records.dec}"))  # reads Chinese
    assert texts(supervisor, marked("fact-value")) == ["20", "5 项中 4 项", "平均 4.33 分（共 3 个评分）",
                                                       "2 项中 1 项", "1", "0", "1"]
    review = task_id(app, records.dec, "Task_Review")
    assert supervisor.xpath(marked("task-link") + "/@href") == [f"/tasks/{review}"]
    own = page(browser("tech_he").get(f"/appraisals/{records.dec}"))
    assert texts(own, marked("open-task"))[0].startswith("Review the appraisal")
    assert not own.xpath(marked("task-link"))
    november = page(browser("mgr_wu").get(f"/appraisals/{records.nov}"))
    assert [texts(november, marked(name)) for name in ("score", "assessment", "comment", "proposal")] == [
        ["82"], ["按时完成 On time"], ["谢谢 Thanks"], ["Reward"]]
    assert [s.get("data-measure") for s in november.xpath(marked("sanction"))] == ["commendation"]


def test_the_register_of_rewards_and_penalties_and_its_csv(records, browser):
    manager = browser("mgr_wu")

    def measures(query: str = "") -> list[str]:
        tree = page(manager.get("/appraisals/sanctions" + query))
        return [r.get("data-measure") for r in tree.xpath(marked("sanction"))]

    assert measures("?person=tech_he") == ["warning", "commendation"]
    assert measures("?person=tech_he&kind=reward") == ["commendation"]
    assert measures("?person=tech_he&first=2025-12-20&last=2025-12-20") == ["warning"]
    assert manager.get("/appraisals/sanctions?first=2025-12-20&last=2025-12-01").status_code == 422
    response = manager.get("/appraisals/sanctions.csv?person=tech_he&kind=reward")
    assert response.mimetype == "text/csv"
    assert list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")))) == [
        ["Recorded at", "Username", "Name", "Kind", "Measure", "Reason", "Evidence", "Appraisal",
         "Proposed by", "Approved by"],
        ["2025-12-06 10:00", "tech_he", "何师傅 He", "Reward", "Commendation", "Best month",
         f"{NOV} 绩效考核 appraisal\nSR-DEMO-004 投诉 complaint", NOV, "rules", "mgr_wu"]]


# --- confidentiality everywhere else -----------------------------------------------------------------

def worklist(person, scope: str) -> str:
    return person.get(f"/tasks/?scope={scope}").get_data(as_text=True)


def test_the_worklist_never_offers_or_opens_a_record_someone_may_not_see(records, browser, app):
    sup_zhao, sup_qian = browser("sup_zhao"), browser("sup_qian")
    for scope in ("offered", "all"):
        assert DEC in worklist(sup_zhao, scope) and SUP not in worklist(sup_zhao, scope)
        assert DEC in worklist(sup_qian, scope) and SUP in worklist(sup_qian, scope)
    hidden = task_id(app, records.sup, "Task_Review")
    assert sup_zhao.get(f"/tasks/{hidden}").status_code == 404
    assert sup_zhao.post(f"/tasks/{hidden}/claim", page="/tasks/").status_code == 404
    assert sup_zhao.post(f"/tasks/{hidden}", {"score": "1"}, page="/tasks/").status_code == 404
    # Nobody hands on the review of their own appraisal (sup_qian sees it: it is his record).
    task_page = page(sup_qian.get(f"/tasks/{hidden}"))
    assert not task_page.xpath("//select[@name='assignee']")
    assert sup_qian.post(f"/tasks/{hidden}/assign", {"assignee": "sup_zhao"}).status_code == 403
    with app.app_context():
        assert workflow_engine().task(hidden).assignee is None
    # The appraised person's own step is theirs alone.
    review = task_id(app, records.dec, "Task_Review")
    assert sup_zhao.post(f"/tasks/{review}", {"score": "80"}, page=f"/tasks/{review}").status_code == 302
    acknowledge = task_id(app, records.dec, "Task_Acknowledge")
    assert DEC in worklist(browser("tech_he"), "mine")
    for other in ("tech_chen", "cs_zhang"):
        assert DEC not in worklist(browser(other), "mine") + worklist(browser(other), "offered")
        assert browser(other).get(f"/tasks/{acknowledge}").status_code == 404
    # Reminders reach only people who may see the record they are about.
    notices = worklist(browser("tech_he"), "mine").split('data-testid="notices"')[1].split("</section>")[0]
    assert DEC in notices
    assert SUP not in worklist(sup_zhao, "mine")


def test_review_pages_search_and_dossier_hide_records(records, browser):
    def found(viewer: str) -> set[str]:
        tree = page(browser(viewer).get("/review/cases?key=AP-2025-1"))
        return {r.get("data-key") for r in tree.xpath(marked("result"))}

    assert found("mgr_wu") >= {NOV, DEC, SUP}
    assert found("sup_zhao") & {NOV, DEC, SUP} == {NOV, DEC}
    assert found("qa_sun") & {NOV, DEC, SUP} == set() and found("po_zhou") & {NOV, DEC, SUP} == set()
    for viewer, instance_id, allowed in (("mgr_wu", records.dec, True), ("qa_sun", records.dec, False),
                                         ("admin", records.nov, False), ("sup_zhao", records.dec, True),
                                         ("sup_zhao", records.sup, False), ("sup_qian", records.sup, True)):
        person = browser(viewer)
        assert person.get(f"/review/cases/{instance_id}").status_code == (200 if allowed else 404)
        assert person.get(f"/review/cases/{instance_id}/dossier.zip").status_code == (200 if allowed else 404)
    assert browser("tech_chen").get(f"/review/cases/{records.dec}").status_code == 403


def test_the_rest_api_hides_tasks_instances_variables_and_history(records, rest, app):
    hidden = task_id(app, records.sup, "Task_Review")
    assert rest("sup_zhao", "GET", f"/task?processInstanceBusinessKey={SUP}").get_json() == []
    assert rest("sup_zhao", "GET", f"/task/count?processInstanceBusinessKey={SUP}").get_json() == {"count": 0}
    assert len(rest("sup_zhao", "GET", f"/task?processInstanceBusinessKey={DEC}").get_json()) == 1
    assert len(rest("sup_qian", "GET", f"/task?processInstanceBusinessKey={SUP}").get_json()) == 1
    for method, path, body in (("GET", "", None), ("GET", "/form-variables", None),
                               ("GET", "/variables", None), ("POST", "/claim", {"userId": "sup_zhao"}),
                               ("POST", "/complete", {}),
                               ("POST", "/submit-form", {})):
        assert rest("sup_zhao", method, f"/task/{hidden}{path}", json=body).status_code == 404, path
    refused = rest("sup_qian", "POST", f"/task/{hidden}/claim", json={"userId": "sup_zhao"})
    assert refused.status_code == 403 and refused.get_json()["type"] == "AuthorizationException"
    # Customer service reads every case — but not personnel records; managers do.
    for viewer, visible in (("cs_zhang", False), ("tech_chen", False), ("mgr_wu", True), ("tech_he", False)):
        listed = rest(viewer, "GET", f"/process-instance?businessKey={DEC}").get_json()
        assert [i["id"] for i in listed] == ([records.dec] if visible else [])
        found = rest(viewer, "GET", f"/process-instance/{records.dec}")
        assert found.status_code == (200 if visible else 404)
        variables = rest(viewer, "GET", f"/process-instance/{records.dec}/variables")
        assert variables.status_code == (200 if visible else 404)
        history = rest(viewer, "GET",
                       f"/history/process-instance?processInstanceBusinessKey={DEC}").get_json()
        assert [i["id"] for i in history] == ([records.dec] if visible else [])
        count = rest(viewer, "GET", f"/history/process-instance/count?processInstanceBusinessKey={DEC}")
        assert count.get_json() == {"count": 1 if visible else 0}
        assert rest(viewer, "GET", f"/history/process-instance/{records.nov}").status_code == (
            200 if visible else 404)
        activities = rest(viewer, "GET",
                          f"/history/activity-instance?processInstanceId={records.dec}").get_json()
        assert bool(activities) == visible
    assert rest("mgr_wu", "GET", f"/process-instance/{records.dec}/variables").get_json()["staff"] == {
        "value": "tech_he", "type": "String", "valueInfo": {}}


def test_workers_and_messages_do_not_reach_records_they_may_not_see(records, rest, app):
    def fetch(worker: str) -> list[str]:
        response = rest(worker, "POST", "/external-task/fetchAndLock", password=WORKER_PASSWORD, json={
            "workerId": worker, "maxTasks": 10,
            "topics": [{"topicName": NOTIFY_TOPIC, "lockDuration": 60000, "variables": ["staff"]}]})
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(t["businessKey"] for t in response.get_json())

    with app.app_context():
        ours = {t.business_key: t.id for t in workflow_engine().external_tasks() if t.topic == NOTIFY_TOPIC}
    assert set(ours) == {DEC, SUP}
    listed = rest("svc_worker", "GET", "/external-task", password=WORKER_PASSWORD).get_json()
    assert not {t["businessKey"] for t in listed} & {DEC, SUP}
    one = rest("svc_worker", "GET", f"/external-task/{ours[DEC]}", password=WORKER_PASSWORD)
    assert one.status_code == 404
    assert fetch("svc_worker") == []
    completed = rest("svc_worker", "POST", f"/external-task/{ours[DEC]}/complete", password=WORKER_PASSWORD,
                     json={"workerId": "svc_hr"})
    assert completed.status_code == 404
    assert fetch("svc_hr") == [SUP, DEC]  # a worker account that may see them gets them
    assert rest("svc_hr", "GET", f"/external-task/{ours[DEC]}", password=WORKER_PASSWORD).status_code == 200
    # Messages: a message to a record someone may not see reaches nothing.
    ping = {"messageName": "personnel_ping", "businessKey": DEC}
    assert rest("cs_zhang", "POST", "/message", json=ping).status_code == 400
    # Nor a record about the sender: nobody signals their own appraisal on.
    assert rest("sup_qian", "POST", "/message", json={**ping, "businessKey": SUP}).status_code == 400
    assert rest("sup_qian", "POST", "/message", json=ping).status_code == 204  # tech_he's, whom he supervises
    assert rest("mgr_wu", "POST", "/message", json={**ping, "businessKey": SUP}).status_code == 204


def test_the_audit_check_does_not_show_a_broken_record_to_whom_may_not_see_it(records, app, browser):
    with app.app_context():
        sa_engine = db.engine
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == records.sup,
                                                         AuditEvent.action == AuditAction.STARTED))
        with guards_off(sa_engine) as connection:
            connection.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(actor="someone_else"))
    for viewer, shown in (("mgr_wu", True), ("qa_sun", False), ("admin", False), ("po_zhou", False)):
        tree = page(browser(viewer).get("/audit/verify"))
        assert texts(tree, marked("broken-id")) == [str(row.id)]
        assert bool(tree.xpath(marked("broken-hidden"))) != shown
        assert ("someone_else" in tree.text_content()) == shown


def test_the_dashboard_shows_no_personnel_record(records, browser):
    body = browser("mgr_wu").get("/dashboard/?first=2025-11-01&last=2026-01-05").get_data(as_text=True)
    assert "AP-2025" not in body


def test_a_round_about_everyone_is_for_managers_only(records, app, browser, rest):
    with app.app_context():
        round_id = workflow_engine().start("appraisal_round", {}, business_key="ROUND-TEST", user="mgr_wu").id
        task = workflow_engine().instance(round_id).open_tasks[0].id
    assert "ROUND-TEST" in worklist(browser("mgr_wu"), "offered")
    assert "ROUND-TEST" not in worklist(browser("sup_zhao"), "all")  # "all": every group's tasks but this
    assert browser("sup_zhao").get(f"/tasks/{task}").status_code == 404
    assert browser("qa_sun").get(f"/review/cases/{round_id}").status_code == 404
    assert browser("mgr_wu").get(f"/review/cases/{round_id}").status_code == 200
    assert rest("cs_zhang", "GET", "/process-instance?businessKey=ROUND-TEST").get_json() == []
    assert len(rest("mgr_wu", "GET", "/process-instance?businessKey=ROUND-TEST").get_json()) == 1


# --- the real appraisal diagram ----------------------------------------------------------------------

def test_the_real_appraisal_diagram_through_the_pages(app, demo, clock, browser, rest):
    """bpmn/appraisal.bpmn as the demo deploys it: its tasks and records reach whom they may."""
    with app.app_context():
        db.session.add_all([_account("tech_he", "何师傅 He", [Role.TECHNICIAN], clock, skills=["plumbing"]),
                            _account("sup_qian", "钱主管 Qian", [Role.SERVICE_SUPERVISOR], clock)])
        db.session.commit()
        engine = workflow_engine()
        assert engine.latest_definition("appraisal").resource_name == "appraisal.bpmn"
        started = {staff: engine.start("appraisal", {"staff": staff, "period_start": "2025-12-01",
                                                     "period_end": "2025-12-31", "round": "AR-TEST"},
                                       business_key=f"AP-2025-12-{staff}", user="mgr_wu").id
                   for staff in ("tech_he", "sup_qian")}
    tech, sup = started["tech_he"], started["sup_qian"]
    by_manager = task_id(app, sup, "Task_ReviewByManager")
    assert DEC in worklist(browser("sup_zhao"), "all") and SUP not in worklist(browser("sup_zhao"), "all")
    assert browser("sup_zhao").get(f"/tasks/{by_manager}").status_code == 404
    assert browser("mgr_wu").get(f"/tasks/{by_manager}").status_code == 200
    assert rest("cs_zhang", "GET", f"/process-instance/{sup}").status_code == 404
    assert rest("sup_zhao", "GET", f"/task/{by_manager}/variables").status_code == 404
    review = task_id(app, tech, "Task_ReviewBySupervisor")
    done = rest("sup_zhao", "POST", f"/task/{review}/complete", json={"variables": {
        "assessment": {"value": "认真 Careful", "type": "String"}, "score": {"value": 95, "type": "Long"}}})
    assert done.status_code == 204, done.get_data(as_text=True)
    acknowledge = task_id(app, tech, "Task_Acknowledge")
    assert rest("tech_chen", "GET", f"/task/{acknowledge}").status_code == 404
    assert browser("tech_chen").get(f"/tasks/{acknowledge}").status_code == 404
    done = rest("tech_he", "POST", f"/task/{acknowledge}/complete", json={"variables": {
        "staff_comment": {"value": "收到 Noted", "type": "String"}}})
    assert done.status_code == 204, done.get_data(as_text=True)
    tree = page(browser("mgr_wu").get("/staff/tech_he"))
    [row] = tree.xpath(marked("appraisal"))
    assert (row.get("data-period"), row.get("data-status"), texts(row, marked("score", True))) == (
        "2025-12-01", "approving", ["95"])
    assert texts(row, marked("comment", True)) == ["收到 Noted"]
    appraisal_page = page(browser("mgr_wu").get(f"/appraisals/{tech}"))
    assert appraisal_page.xpath(marked("task-link") + "/@href") == [
        f"/tasks/{task_id(app, tech, 'Task_Approve')}"]
    assert browser("tech_chen").get(f"/appraisals/{tech}").status_code == 404
    assert browser("sup_zhao").get(f"/appraisals/{sup}").status_code == 404
    # A correction annotated in the archive shows on the appraisal's page, beside the original.
    record = f"/archive/records/appraisal/{tech}"
    fixed = browser("mgr_wu").post(record, {"field": "assessment", "corrected": "复核后 After review",
                                             "reason": "笔误 Typo"}, page=record)
    assert fixed.status_code == 303
    for viewer in ("mgr_wu", "tech_he"):
        [panel] = page(browser(viewer).get(f"/appraisals/{tech}")).xpath(
            f'//section[@data-testid="corrections"][@data-record="appraisal:{tech}"]')
        assert texts(panel, './/td[@class="corrected"]') == ["复核后 After review"]
        assert "笔误 Typo" in panel.text_content()


def test_a_starter_who_may_not_see_the_record_gets_no_variables_back(records, rest, app):
    with app.app_context():
        workflow_engine().deploy({"approval.bpmn": (FIXTURES / "approval.bpmn").read_bytes()},
                                 name="approval")

    def start(key: str, variables: dict) -> dict:
        response = rest("admin", "POST", f"/process-definition/key/{key}/start", json={
            "variables": {k: {"value": v} for k, v in variables.items()}, "withVariablesInReturn": True})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    assert start("approval", {"amount": 5})["variables"]["amount"]["value"] == 5
    assert "variables" not in start("appraisal", {"staff": "tech_he", "reviewer_group": "manager"})
