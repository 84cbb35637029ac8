"""Every role at work through real HTTP: sign-in, worklist, forms, owners' pages."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from engine import AuditAction
from web.extensions import db
from web.models import Attachment, ServiceCase

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
       b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
REQUEST = {"owner_name": "王建国", "contact_phone": "13800000001", "building": "3", "unit": "1201",
           "service_type": "plumbing", "description": "厨房水龙头滴水 The kitchen tap drips",
           "preferred_time": "2026-01-06T10:00"}


def text(response) -> str:
    return response.get_data(as_text=True)


def task_link(page: str, element: str) -> str:
    match = re.search(rf'data-element="{element}">\s*<td><a href="(/tasks/[^"]+)"', page)
    assert match, f"{element} not in the worklist"
    return match.group(1)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# --- signing in --------------------------------------------------------------------------

def test_sign_in_and_out(demo, browser):
    person = browser()
    assert person.login("cs_zhang", "wrong").status_code == 401
    assert person.login("cs_zhang").status_code == 302
    assert "张晓" in text(person.get("/tasks/"))
    assert person.post("/logout", page="/tasks/").status_code == 302
    assert person.get("/tasks/").status_code == 302  # back to the login page


def test_login_is_rate_limited(demo, browser, app):
    person = browser()
    statuses = [person.login("cs_zhang", "wrong").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert person.login("cs_zhang").status_code == 429  # even the right password, for now


def test_posts_without_csrf_token_are_refused(demo, browser):
    person = browser("owner_wang")
    response = person.client.post("/requests/new", data=REQUEST)
    assert response.status_code == 400
    assert count(person.client.application, ServiceCase) == 6  # the demo's six, no more


def test_each_person_gets_their_language(demo, browser):
    assert "工作台" in text(browser("cs_zhang").get("/tasks/"))  # account set to Chinese
    english = browser("mgr_wu")  # account set to English
    assert "Worklist" in text(english.get("/tasks/"))
    english.post("/language/zh_CN", {"next": "/tasks/"}, page="/tasks/")
    assert "工作台" in text(english.get("/tasks/"))  # the choice is kept on the account


def test_session_cookie_is_httponly_and_expires(demo, browser):
    person = browser()
    person.get("/login")
    response = person.client.post("/login", data={
        "username": "cs_zhang", "password": "propflow-demo", "csrf_token": person.token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Expires=" in cookie and "SameSite=Lax" in cookie


# --- owners ------------------------------------------------------------------------------

def test_owner_submits_with_a_photo_and_only_they_and_staff_see_it(demo, browser, app):
    owner = browser("owner_wang")
    response = owner.post("/requests/new", {**REQUEST, "photos": (io.BytesIO(PNG), "tap.png")},
                          content_type="multipart/form-data", page="/requests/new")
    assert response.status_code == 303
    case_url = response.headers["Location"]
    page = text(owner.get(case_url))
    assert "Customer service will register your request." in page or "客服" in page
    photo_url = re.search(r'<img src="([^"]+)"', page).group(1)
    assert owner.get(photo_url).data == PNG
    with app.app_context():
        case = db.session.scalar(select(ServiceCase).order_by(ServiceCase.submitted_at.desc()))
        assert (case.channel, case.owner_id, case.submitted_by) == ("online", "owner_wang", "owner_wang")
    neighbour = browser("owner_li")
    assert neighbour.get(case_url).status_code == 404
    assert neighbour.get(photo_url).status_code == 404
    assert browser("cs_zhang").get(photo_url).status_code == 200


@pytest.mark.parametrize(("changes", "field"), [
    ({"description": "漏"}, "description"),
    ({"service_type": "gardening"}, "service_type"),
    ({"contact_phone": ""}, "contact_phone"),
    ({"preferred_time": "tomorrow"}, "preferred_time"),
])
def test_invalid_request_is_shown_again_with_errors_and_nothing_stored(demo, browser, app, changes, field):
    owner = browser("owner_wang")
    response = owner.post("/requests/new", {**REQUEST, **changes}, page="/requests/new")
    assert response.status_code == 422
    assert f'data-field="{field}"' in text(response)
    assert count(app, ServiceCase) == 6


@pytest.mark.parametrize(("content", "name", "message", "status"), [
    (b"GIF89a not allowed", "x.gif", "not a JPEG, PNG or WebP image", 422),
    (b"<?php system($_GET['c']); ?>", "shell.png", "not a JPEG, PNG or WebP image", 422),
    (b"\x89PNG\r\n\x1a\n" + b"0" * (100 * 1024), "big.png", "larger than 100 KB", 413),
])
def test_bad_photos_are_refused_and_nothing_is_stored(demo, browser, app, content, name, message, status):
    # A small limit keeps the test body under the size at which Werkzeug's test client
    # spools to a temporary file it never closes.
    app.config["MAX_PHOTO_BYTES"] = 100 * 1024
    owner = browser("owner_li")  # reads English
    response = owner.post("/requests/new", {**REQUEST, "photos": (io.BytesIO(content), name)},
                          content_type="multipart/form-data", page="/requests/new")
    assert response.status_code == status and message in text(response)
    assert count(app, ServiceCase) == 6 and count(app, Attachment) == 0


def test_owner_cannot_open_another_owners_case_waiting_for_acceptance(demo, browser, app):
    """The acceptance task is offered to the owners' group (with one owner assigned):
    that must not open the case to every owner."""
    with app.app_context():
        case = db.session.scalar(select(ServiceCase).where(ServiceCase.business_key == "SR-DEMO-004"))
    assert browser("owner_li").get(f"/requests/{case.instance_id}").status_code == 200
    assert browser("owner_wang").get(f"/requests/{case.instance_id}").status_code == 404


def test_owner_sees_only_their_requests(demo, browser):
    page = text(browser("owner_li").get("/requests/"))
    assert "SR-DEMO-002" in page and "SR-DEMO-001" not in page


def test_customer_service_enters_a_phone_request_for_an_owner(demo, browser, app):
    cs = browser("cs_zhang")
    assert "owner_wang" in text(cs.get("/requests/new/office"))
    data = {**REQUEST, "channel": "phone", "owner_id": "owner_wang"}
    response = cs.post("/requests/new/office", data, page="/requests/new/office?owner_id=owner_wang")
    assert response.status_code == 303
    with app.app_context():
        case = db.session.scalar(select(ServiceCase).where(
            ServiceCase.channel == "phone", ServiceCase.business_key.not_like("SR-DEMO-%")))
        assert (case.owner_id, case.submitted_by) == ("owner_wang", "cs_zhang")
    assert case.business_key in text(browser("owner_wang").get("/requests/"))


# --- the worklist ------------------------------------------------------------------------

def test_task_form_renders_every_field_type(demo, browser):
    supervisor = browser("sup_zhao")
    page = text(supervisor.get("/tasks/?scope=offered"))
    form = text(supervisor.get(task_link(page, "Task_Review")))
    assert '<select' in form and 'name="decision"' in form and 'name="priority"' in form
    assert '<option selected value="high">' in form  # the proposal is shown as the value


def test_complete_a_task_with_validation_and_conflict(demo, browser, app):
    cs = browser("cs_zhang")
    url = task_link(text(cs.get("/tasks/?scope=offered")), "Task_Register")
    bad = cs.post(url, {"description": "x", "contact_phone": "13800000001", "building": "3",
                        "unit": "1201", "service_type": "plumbing"}, page=url)
    assert bad.status_code == 422 and 'data-field="description"' in text(bad)
    good = cs.post(url, {"description": "卫生间水管漏水 Leak confirmed", "contact_phone": "13800000001",
                         "building": "3", "unit": "1201", "service_type": "plumbing"}, page=url)
    assert good.status_code == 302
    again = cs.post(url, {"description": "twice", "contact_phone": "1", "building": "3", "unit": "1",
                          "service_type": "plumbing"})
    assert again.status_code in (404, 409)
    assert "already completed by cs_zhang" in text(again) or again.status_code == 404


def test_claim_then_only_the_claimant_works_on_it(demo, browser):
    cs = browser("cs_zhang")
    url = task_link(text(cs.get("/tasks/?scope=offered")), "Task_Register")
    task_id = url.rsplit("/", 1)[1]
    assert cs.post(f"/tasks/{task_id}/claim", page=url).status_code == 303
    assert "Task_Register" in text(cs.get("/tasks/?scope=mine"))
    assert "Task_Register" not in text(cs.get("/tasks/?scope=offered"))


def test_technicians_see_only_work_for_their_skills(demo, browser):
    chen = text(browser("tech_chen").get("/tasks/?scope=mine"))
    liu = text(browser("tech_liu").get("/tasks/?scope=mine"))
    assert "Task_Work" not in chen  # nothing dispatched to Chen in the demo
    supervisor = browser("sup_zhao")
    dispatch = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Dispatch")
    assert supervisor.post(dispatch, {"technician": "tech_liu"}, page=dispatch).status_code == 302
    liu = text(browser("tech_liu").get("/tasks/?scope=mine"))
    assert "Task_WorkFacility" in liu
    work = task_link(liu, "Task_WorkFacility")
    assert browser("tech_chen").get(work).status_code == 404  # not his, and not his skill


def test_supervisor_reassigns_and_sees_all(demo, browser):
    supervisor = browser("sup_zhao")
    page = text(supervisor.get("/tasks/?scope=all"))
    url = task_link(page, "Task_Register")
    response = supervisor.post(f"{url}/assign", {"assignee": "cs_zhang"}, page=url)
    assert response.status_code == 303
    assert "Task_Register" in text(browser("cs_zhang").get("/tasks/?scope=mine"))
    refused = supervisor.post(f"{url}/assign", {"assignee": "owner_li"}, page=url)
    assert refused.status_code == 303
    page = text(supervisor.get(url))
    assert 'class="flash error"' in page and "owner_li" in page
    assert "Task_Register" in text(browser("cs_zhang").get("/tasks/?scope=mine"))  # unchanged


def test_filters_overdue_and_priority(demo, browser, clock):
    supervisor = browser("sup_zhao")
    assert "Task_Acceptance" in text(supervisor.get("/tasks/?scope=all&status=claimed"))
    assert "Task_Register" not in text(supervisor.get("/tasks/?scope=all&status=claimed"))
    assert "Task_Acceptance" not in text(supervisor.get("/tasks/?scope=all&status=unclaimed"))
    assert "Task_Register" in text(supervisor.get("/tasks/?scope=all&priority=emergency"))
    assert "Task_Register" not in text(supervisor.get("/tasks/?scope=all&priority=low"))
    assert "Task_Register" not in text(supervisor.get("/tasks/?scope=all&overdue=1"))
    clock.advance(hours=3)  # the emergency's 2 h response deadline has passed
    page = text(supervisor.get("/tasks/?scope=all&overdue=1"))
    assert "Task_Register" in page and 'class="sla breached"' in page


# --- the owner accepts on site -----------------------------------------------------------

def test_owner_accepts_the_work(demo, browser, app):
    owner = browser("owner_li")
    ids = re.findall(r'href="(/requests/[0-9a-f-]{36})"', text(owner.get("/requests/")))
    pages = {i: text(owner.get(i)) for i in ids}
    url = next(i for i, page in pages.items() if 'data-testid="owner-task-form"' in page)
    refused = owner.post(url, {"acceptance": "rework"}, page=url)
    assert refused.status_code == 422 and 'data-field="acceptance_comment"' in text(refused)
    assert owner.post(url, {"acceptance": "accepted"}, page=url).status_code == 303
    rating_page = text(owner.get(url))
    assert 'name="satisfaction"' in rating_page  # asked to rate next
    refused = owner.post(url, {"satisfaction": "9"}, page=url)
    assert refused.status_code == 422 and 'data-field="satisfaction"' in text(refused)
    rated = owner.post(url, {"satisfaction": "5", "satisfaction_comment": "Great"}, page=url)
    assert rated.status_code == 303
    assert 'data-testid="owner-task-form"' not in text(owner.get(url))
    with app.app_context():
        from web import workflow_engine

        instance_id = url.rsplit("/", 1)[1]
        history = workflow_engine().history(instance_id)
    assert any(e.action == AuditAction.TASK_COMPLETED and e.actor == "owner_li" for e in history)


# --- who may open what -------------------------------------------------------------------

PAGES = ["/tasks/", "/tasks/?scope=all", "/requests/", "/requests/new", "/requests/new/office",
         "/processes/", "/processes/rectification/start", "/admin/users", "/admin/users/new"]
START = "/processes/rectification/start"
ALLOWED = {
    "owner_wang": {"/requests/", "/requests/new"},
    "cs_zhang": {"/tasks/", "/requests/", "/requests/new/office", "/processes/"},
    "sup_zhao": {"/tasks/", "/tasks/?scope=all", "/requests/", "/processes/", START},
    "tech_chen": {"/tasks/", "/processes/"},
    "qa_sun": {"/tasks/", "/requests/", "/processes/", START},
    "po_zhou": {"/tasks/", "/processes/"},
    "mgr_wu": {"/tasks/", "/requests/", "/processes/", START},
    "admin": {"/tasks/", "/tasks/?scope=all", "/requests/", "/admin/users", "/admin/users/new",
              "/processes/"},
}
# Pages that answer 404 rather than 403 to staff who may not use them: the process exists
# only for those allowed to start it.
HIDDEN = {START}


@pytest.mark.parametrize("username", sorted(ALLOWED))
def test_every_role_against_every_page(demo, browser, username):
    person = browser(username)
    staff = username != "owner_wang"
    for page in PAGES:
        status = person.get(page).status_code
        refused = 404 if page in HIDDEN and staff else 403
        expected = 200 if page in ALLOWED[username] else refused
        assert status == expected, (username, page, status)


def test_anonymous_is_sent_to_sign_in(demo, client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_creates_a_technician(demo, browser):
    admin = browser("admin")
    response = admin.post("/admin/users/new", {
        "username": "tech_new", "display_name": "New Tech", "password": "long-enough-pw",
        "roles": ["technician"], "skills": ["plumbing"], "locale": "en", "active": "y"},
        page="/admin/users/new")
    assert response.status_code == 303
    newcomer = browser()
    assert newcomer.login("tech_new", "long-enough-pw").status_code == 302
    assert newcomer.get("/tasks/").status_code == 200
    duplicate = admin.post("/admin/users/new", {
        "username": "tech_new", "display_name": "Again", "password": "long-enough-pw",
        "roles": ["technician"], "locale": "en"}, page="/admin/users/new")
    assert duplicate.status_code == 422


def test_owner_answers_the_proposed_time_which_they_cannot_change(demo, browser, app):
    supervisor, cs, owner = browser("sup_zhao"), browser("cs_zhang"), browser("owner_li")
    review = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Review")
    supervisor.post(review, {"decision": "approve", "priority": "high"}, page=review)
    confirm = task_link(text(cs.get("/tasks/?scope=offered")), "Task_Confirm")
    cs.post(confirm, {"confirmed_time": "2026-01-06T10:00"}, page=confirm)  # not agreed by phone
    with app.app_context():
        case = db.session.scalar(select(ServiceCase).where(ServiceCase.business_key == "SR-DEMO-002"))
    url = f"/requests/{case.instance_id}"
    page = text(owner.get(url))
    assert 'name="confirmed_time"' in page and "readonly" in page and "2026-01-06T10:00" in page
    tampered = owner.post(url, {"confirmed_time": "2026-01-09T10:00", "time_answer": "accept"}, page=url)
    assert tampered.status_code == 422 and 'data-field="confirmed_time"' in text(tampered)
    answered = owner.post(url, {"confirmed_time": "2026-01-06T10:00", "time_answer": "accept"}, page=url)
    assert answered.status_code == 303
    assert "Task_Dispatch" in text(supervisor.get("/tasks/?scope=offered"))


def test_supervisor_starts_a_rectification_the_technician_does_it(demo, browser, app):
    supervisor = browser("sup_zhao")
    assert "问题整改 Rectification" in text(supervisor.get("/processes/"))
    bad = supervisor.post(START, {"problem": "x", "source": "spot_check", "responsible": "tech_chen"},
                          page=START)
    assert bad.status_code == 422
    assert 'data-field="problem"' in text(bad) and 'data-field="deadline"' in text(bad)
    started = supervisor.post(START, {
        "problem": "楼道灯不亮 Stairwell lights out after the repair", "source": "spot_check",
        "source_reference": "SR-DEMO-005", "responsible": "tech_chen", "deadline": "2026-01-08"},
        page=START)
    assert started.status_code == 303
    technician = browser("tech_chen")
    url = task_link(text(technician.get("/tasks/?scope=mine")), "Task_Rectify")
    page = text(technician.get(url))
    assert "Stairwell lights out after the repair" in page and "SR-DEMO-005" in page
    done = technician.post(url, {"plan": "更换灯管 New tubes", "evidence": "已更换并测试 Replaced, tested",
                                 "completed_at": "2026-01-06T10:00"}, page=url)
    assert done.status_code == 302
    assert "Task_Verify" in text(supervisor.get("/tasks/?scope=offered"))


def test_dispatch_to_someone_who_is_not_a_technician_is_refused_on_the_form(app, demo, browser):
    supervisor = browser("sup_zhao")
    dispatch = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Dispatch")
    for who in ("nobody", "cs_zhang"):
        refused = supervisor.post(dispatch, {"technician": who}, page=dispatch)
        assert refused.status_code == 422 and 'data-field="technician"' in text(refused)
    assert "Task_Dispatch" in text(supervisor.get("/tasks/?scope=offered"))  # nothing moved on
    assert supervisor.post(dispatch, {"technician": "tech_liu"}, page=dispatch).status_code == 302
    with app.app_context():
        case = db.session.scalar(select(ServiceCase).where(ServiceCase.business_key == "SR-DEMO-003"))
    assert (case.technician, case.priority) == ("tech_liu", "normal")
