"""Training from the web (E-3, D-1): planning sessions, recording attendance and assessment
results, corrections that keep the original, training needs closed by a passed result, and
who may see and do what on each training page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine import InstanceStatus
from tests.integration.test_web import task_link, text
from web import workflow_engine
from web.extensions import db
from web.models import Correction, TrainingAttendance, TrainingNeed, TrainingSession

# The demo clock starts on Monday 5 January 2026, 17:00 in Shanghai.
SESSION = {"topic": "消防器材使用 Using fire extinguishers", "skill": "facility",
           "starts_at": "2026-01-05T14:00", "hours": "1.5", "location": "B1 车库 Garage",
           "trainer": "mgr_wu", "description": "实操 Hands-on"}
PASSED = {"attended": "yes", "assessment_score": "90", "passed": "yes", "comment": "熟练 Confident"}


def rows(app, model, *where):
    with app.app_context():
        return db.session.scalars(select(model).where(*where)).all()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def plan(person, **values) -> int:
    data = {**SESSION, **values}
    response = person.post("/training/sessions/new", data, page="/training/sessions/new")
    assert response.status_code == 303, text(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def results(username: str, values: dict) -> dict:
    return {f"{username}__{name}": value for name, value in values.items()}


def require(person, staff="tech_chen", due="2026-01-31"):
    """A manager requires training by hand (the diagram's start form)."""
    url = "/processes/training_need/start"
    response = person.post(url, {"staff": staff, "topic": "防火巡查 Fire patrol",
                                 "reason": "巡查记录不完整 Patrol log incomplete", "due": due}, page=url)
    return response


def test_planning_with_bad_input_is_refused_with_field_errors_and_saves_nothing(demo, browser, app):
    supervisor = browser("sup_zhao")
    before, attendance = count(app, TrainingSession), count(app, TrainingAttendance)
    bad = {"topic": "", "starts_at": "next tuesday", "hours": "0", "trainer": "", "attendees": ["owner_wang"]}
    response = supervisor.post("/training/sessions/new", bad, page="/training/sessions/new")
    page = text(response)
    assert response.status_code == 422
    assert {f for f in re.findall(r'data-field="([^"]+)"', page)} == {
        "topic", "starts_at", "hours", "trainer", "attendees"}
    nobody = supervisor.post("/training/sessions/new", {**SESSION}, page="/training/sessions/new")
    assert nobody.status_code == 422 and 'data-field="attendees"' in text(nobody)
    assert count(app, TrainingSession) == before
    assert count(app, TrainingAttendance) == attendance


def test_a_planned_session_invites_the_people_of_the_needs_it_addresses(demo, browser, app):
    manager = browser("mgr_wu")
    assert require(manager).status_code == 303
    [need] = rows(app, TrainingNeed, TrainingNeed.username == "tech_chen")
    assert (need.source, need.raised_by, need.session_id) == ("manager", "mgr_wu", None)
    form = text(manager.get("/training/sessions/new"))
    assert f'value="{need.id}"' in form
    session_id = plan(manager, attendees=["cs_zhang"], needs=[str(need.id)])
    [training] = rows(app, TrainingSession, TrainingSession.id == session_id)
    assert sorted(a.username for a in training.attendance) == ["cs_zhang", "tech_chen"]
    assert (training.created_by, training.skill, training.hours) == ("mgr_wu", "facility", 1.5)
    assert training.starts_at.hour == 6  # 14:00 in Shanghai, stored in UTC
    assert rows(app, TrainingNeed, TrainingNeed.id == need.id)[0].session_id == session_id
    page = text(manager.get(f"/training/sessions/{session_id}"))
    assert 'data-testid="linked-needs"' in page and "防火巡查 Fire patrol" in page


def test_a_passed_result_closes_the_need_and_ends_its_process(demo, browser, app, clock):
    manager, supervisor = browser("mgr_wu"), browser("sup_zhao")
    require(manager)
    [need] = rows(app, TrainingNeed, TrainingNeed.username == "tech_chen")
    session_id = plan(supervisor, attendees=["tech_liu"], needs=[str(need.id)])
    url = f"/training/sessions/{session_id}"
    clock.advance(hours=1)
    done = supervisor.post(url, {**results("tech_chen", PASSED),
                                 **results("tech_liu", {"attended": "no"})}, page=url)
    assert done.status_code == 303, text(done)
    chen, liu = (rows(app, TrainingAttendance, TrainingAttendance.session_id == session_id,
                      TrainingAttendance.username == u)[0] for u in ("tech_chen", "tech_liu"))
    assert (chen.attended, chen.assessment_score, chen.passed) == (True, 90, True)
    assert chen.recorded_by == "sup_zhao"
    assert chen.recorded_at == clock.now()
    assert (liu.attended, liu.assessment_score, liu.passed) == (False, None, None)
    [need] = rows(app, TrainingNeed, TrainingNeed.id == need.id)
    assert need.completed_at == clock.now()
    with app.app_context():
        instance = workflow_engine().instance(need.instance_id)
    assert (instance.status, instance.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Trained")
    assert instance.deadline("training").met is True
    mine = text(browser("tech_chen").get("/training/mine"))
    closed = mine[mine.index('data-testid="my-closed-needs"'):]
    assert "防火巡查 Fire patrol" in closed
    assert "防火巡查 Fire patrol" not in mine[mine.index('data-testid="my-open-needs"'):
                                            mine.index('data-testid="my-sessions"')]


def test_results_that_break_the_rules_are_refused_and_nothing_is_saved(demo, browser, app):
    supervisor = browser("sup_zhao")
    session_id = plan(supervisor, attendees=["tech_chen", "tech_liu", "cs_zhang"])
    url = f"/training/sessions/{session_id}"
    response = supervisor.post(url, {
        **results("tech_chen", {"attended": "yes", "passed": "yes"}),  # no score
        **results("tech_liu", {"attended": "no", "passed": "yes"}),  # passed without attending
        **results("cs_zhang", {"attended": "yes", "assessment_score": "101", "passed": "no"}),
    }, page=url)
    assert response.status_code == 422
    assert set(re.findall(r'data-field="([^"]+)"', text(response))) == {
        "tech_chen__assessment_score", "tech_liu__passed", "cs_zhang__assessment_score"}
    recorded = rows(app, TrainingAttendance, TrainingAttendance.session_id == session_id)
    assert [a.recorded_at for a in recorded] == [None, None, None]


def test_changing_a_recorded_result_needs_a_reason_and_keeps_the_original(demo, browser, app):
    supervisor, manager = browser("sup_zhao"), browser("mgr_wu")
    session_id = plan(supervisor, attendees=["tech_chen"])
    url = f"/training/sessions/{session_id}"
    first = {"attended": "yes", "assessment_score": "58", "passed": "no", "comment": ""}
    assert supervisor.post(url, results("tech_chen", first), page=url).status_code == 303
    changed = {**first, "assessment_score": "64", "passed": "yes"}
    silent = supervisor.post(url, results("tech_chen", changed), page=url)
    assert silent.status_code == 422 and 'data-field="tech_chen__reason"' in text(silent)
    assert count(app, Correction) == 1  # the demo's
    fixed = manager.post(url, results("tech_chen", {**changed, "reason": "复核 Re-marked"}), page=url)
    assert fixed.status_code == 303
    [row] = rows(app, TrainingAttendance, TrainingAttendance.session_id == session_id)
    assert (row.assessment_score, row.passed, row.recorded_by) == (58, False, "sup_zhao")  # as recorded
    corrections = rows(app, Correction, Correction.record_key == f"{session_id}:tech_chen")
    assert [(c.field, c.original, c.corrected, c.author, c.reason) for c in corrections] == [
        ("assessment_score", "58", "64", "mgr_wu", "复核 Re-marked"),
        ("passed", "false", "true", "mgr_wu", "复核 Re-marked")]
    page = text(browser("tech_chen").get(url))
    row_html = page[page.index('data-username="tech_chen"'):]
    assert row_html.count('data-testid="corrected"') == 2
    assert "58 → 64" in row_html and row_html.count("复核 Re-marked") == 2
    same_again = manager.post(url, results("tech_chen", {**changed, "reason": "again"}), page=url)
    assert same_again.status_code == 303 and len(rows(app, Correction, Correction.record_key
                                                       == f"{session_id}:tech_chen")) == 2


def test_results_wait_until_the_session_starts(demo, browser, app):
    supervisor = browser("sup_zhao")
    session_id = plan(supervisor, starts_at="2026-01-06T09:00", attendees=["tech_chen"])
    url = f"/training/sessions/{session_id}"
    page = text(supervisor.get(url))
    assert 'data-testid="results-form"' not in page
    assert supervisor.post(url, results("tech_chen", PASSED)).status_code == 409
    assert rows(app, TrainingAttendance, TrainingAttendance.session_id == session_id)[0].recorded_at is None


def test_a_technician_sees_only_their_own_result(demo, browser, app):
    supervisor = browser("sup_zhao")
    session_id = plan(supervisor, attendees=["tech_chen", "tech_liu"])
    url = f"/training/sessions/{session_id}"
    supervisor.post(url, {**results("tech_chen", PASSED),
                          **results("tech_liu", {**PASSED, "comment": "刘的评语 remark for Liu"})}, page=url)
    page = text(browser("tech_chen").get(url))
    assert 'data-username="tech_chen"' in page and 'data-username="tech_liu"' not in page
    assert "remark for Liu" not in page and 'data-testid="results-form"' not in page
    assert "remark for Liu" not in text(browser("tech_chen").get("/training/"))
    assert "remark for Liu" in text(browser("tech_liu").get("/training/mine"))


def test_a_supervisor_records_supervised_staff_only_and_not_themselves(demo, browser, app):
    manager, supervisor = browser("mgr_wu"), browser("sup_zhao")
    session_id = plan(manager, attendees=["tech_chen", "sup_zhao", "mgr_wu"])
    url = f"/training/sessions/{session_id}"
    page = text(supervisor.get(url))
    assert 'name="tech_chen__attended"' in page and 'name="sup_zhao__attended"' not in page
    assert 'data-username="sup_zhao"' in page and 'data-username="mgr_wu"' not in page
    response = supervisor.post(url, {**results("tech_chen", PASSED), **results("sup_zhao", PASSED),
                                     **results("mgr_wu", PASSED)}, page=url)
    assert response.status_code == 303
    recorded = {a.username: a.recorded_by for a in rows(app, TrainingAttendance,
                                                        TrainingAttendance.session_id == session_id)}
    assert recorded == {"tech_chen": "sup_zhao", "sup_zhao": None, "mgr_wu": None}
    assert manager.post(url, results("sup_zhao", PASSED), page=url).status_code == 303
    assert rows(app, TrainingAttendance, TrainingAttendance.session_id == session_id,
                TrainingAttendance.username == "sup_zhao")[0].recorded_by == "mgr_wu"


def test_needs_are_listed_with_overdue_ones_marked(demo, browser, app, clock, runner):
    manager = browser("mgr_wu")
    require(manager, staff="cs_zhang", due="2026-01-06")
    page = text(manager.get("/training/"))
    assert page.count('data-testid="need-row"') == 2 and 'data-testid="overdue"' not in page
    clock.advance(days=2)
    assert runner.invoke(args=["timers", "fire-due"]).exit_code == 0
    page = text(manager.get("/training/"))
    assert page.count('data-testid="overdue"') == 1
    assert 'data-element="Task_Overdue"' in text(manager.get("/tasks/?scope=offered"))
    assert 'data-testid="notice"' in text(browser("cs_zhang").get("/tasks/?scope=mine"))
    filtered = text(manager.get("/training/?skill=electrical"))
    assert filtered.count('data-testid="need-row"') == 1  # the demo's retake, not the fire patrol
    assert text(manager.get("/training/?first=2026-01-10&last=2026-01-01")).count("data-field") == 1
    assert manager.get("/training/?first=2026-01-10&last=2026-01-01").status_code == 422


def test_a_spot_check_that_asks_for_training_records_a_need_for_the_technician(demo, browser, app, runner):
    assert runner.invoke(args=["timers", "fire-due"]).exit_code == 0  # Monday's spot check
    supervisor = browser("sup_zhao")
    url = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Inspect")
    done = supervisor.post(url, {"item": "SR-DEMO-005", "check_result": "passed", "training_needed": "y",
                                 "training_topic": "晾衣架安装规范 Installing clothes racks"}, page=url)
    assert done.status_code == 302, text(done)
    [need] = rows(app, TrainingNeed, TrainingNeed.source == "spot_check")
    assert (need.username, need.raised_by) == ("tech_liu", "sup_zhao")
    assert need.topic == "晾衣架安装规范 Installing clothes racks"
    assert need.source_reference.startswith("spot_check-") and need.due.isoformat() == "2026-02-04"
    assert "晾衣架安装规范" in text(browser("tech_liu").get("/training/mine"))


def test_the_start_form_refuses_an_unknown_username_and_stores_nothing(demo, browser, app):
    manager = browser("mgr_wu")
    before = count(app, TrainingNeed)
    response = require(manager, staff="nobody")
    assert response.status_code == 422 and 'data-field="staff"' in text(response)
    assert count(app, TrainingNeed) == before
    with app.app_context():
        assert len(workflow_engine().find_instances(process_key="training_need")) == 1  # the demo's


def test_posts_without_a_csrf_token_are_refused(demo, browser, app):
    supervisor = browser("sup_zhao")
    before = count(app, TrainingSession)
    refused = supervisor.client.post("/training/sessions/new", data={**SESSION, "attendees": ["tech_chen"]})
    assert refused.status_code == 400 and count(app, TrainingSession) == before
    refused = supervisor.client.post("/training/sessions/1", data=results("cs_zhang", {
        "attended": "no", "reason": "no token"}))
    assert refused.status_code == 400
    assert count(app, Correction) == 1  # the demo's, nothing added


# Who may do what: every training URL for each kind of user. Session 1 (past) has cs_zhang,
# tech_chen and tech_liu; session 3 (upcoming) tech_liu.
MATRIX = {
    #             index mine  new   s1    s3    post s1
    None:        (302, 302, 302, 302, 302, 302),
    "owner_wang": (403, 403, 403, 403, 403, 403),
    "tech_chen": (200, 200, 403, 200, 404, 403),
    "tech_liu":  (200, 200, 403, 200, 200, 403),
    "cs_zhang":  (200, 200, 403, 200, 404, 403),
    "qa_sun":    (200, 200, 403, 404, 404, 404),
    "po_zhou":   (200, 200, 403, 404, 404, 404),
    "admin":     (200, 200, 403, 404, 404, 404),
    "sup_zhao":  (200, 200, 200, 200, 200, 303),
    "mgr_wu":    (200, 200, 200, 200, 200, 303),
}


@pytest.mark.parametrize("username", list(MATRIX), ids=lambda u: u or "anonymous")
def test_who_may_see_and_do_what(demo, browser, username):
    person = browser(username)
    person.get("/training/mine" if username else "/login")  # a CSRF token for the post
    urls = ["/training/", "/training/mine", "/training/sessions/new", "/training/sessions/1",
            "/training/sessions/3"]
    got = [person.get(url).status_code for url in urls]
    posted = person.post("/training/sessions/1", results("cs_zhang", {**PASSED, "reason": "check"}))
    assert (*got, posted.status_code) == MATRIX[username]


def test_the_navigation_links_training_for_staff_only(demo, browser):
    assert 'data-testid="nav-training"' in text(browser("tech_chen").get("/tasks/"))
    assert 'data-testid="nav-training"' not in text(browser("owner_wang").get("/feedback/"))

