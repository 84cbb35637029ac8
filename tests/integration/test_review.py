"""Compliance review pages through real HTTP: who may open them, a version's counts per
element, a case on its diagram (marks, taken flows, notes, breaches) with its history,
the case search and the dossier archive."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from engine import queries
from tests.conftest import BPMN_DIR
from web import reviews, workflow_engine
from web.extensions import db

from .test_web import PNG, REQUEST, text

REVIEWERS = ("qa_sun", "po_zhou", "mgr_wu", "admin", "sup_zhao")
OTHERS = ("owner_wang", "owner_li", "cs_zhang", "tech_chen")


def in_app(app, fn):
    with app.app_context():
        return fn()


def instance_id(app, business_key: str) -> str:
    return in_app(app, lambda: workflow_engine().find_instances(business_key=business_key)[0])


def definition_id(app, key: str = "service_request") -> str:
    return in_app(app, lambda: workflow_engine().latest_definition(key).id)


def diagram_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', page, re.S)
    assert match, "the page carries no diagram data"
    return json.loads(match.group(1))


def notes(data: dict) -> dict[str, dict]:
    return {o["element"]: o for o in data["overlays"]}


def results(page: str) -> list[str]:
    return re.findall(r'data-testid="result" data-key="([^"]*)"', page)


def fire_timers(app) -> None:
    in_app(app, lambda: workflow_engine().fire_due_timers())


def complete(app, business_key: str, element: str, data: dict, user: str) -> None:
    def run():
        engine = workflow_engine()
        task = next(t for t in engine.instance(instance_id(app, business_key)).open_tasks
                    if t.element_id == element)
        engine.complete_user_task(task.id, data, user=user)
    in_app(app, run)


# --- who may open what ---------------------------------------------------------------------

def review_pages(app) -> list[str]:
    case, version = instance_id(app, "SR-DEMO-004"), definition_id(app)
    return ["/review/", "/review/cases", "/review/processes", f"/review/processes/{version}",
            f"/review/processes/{version}/diagram.bpmn", f"/review/cases/{case}",
            f"/review/cases/{case}/dossier.zip"]


@pytest.mark.parametrize("username", REVIEWERS + OTHERS)
def test_reviewers_open_every_review_page_and_nobody_else_does(demo, browser, app, username):
    person = browser(username)
    for page in review_pages(app):
        status = person.get(page).status_code
        expected = (302 if page == "/review/" else 200) if username in REVIEWERS else 403
        assert status == expected, (username, page, status)
    has_link = 'href="/review/cases"' in text(person.get("/", follow_redirects=True))
    assert has_link == (username in REVIEWERS)


def test_anonymous_is_sent_to_sign_in(demo, client, app):
    for page in review_pages(app):
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_cases_and_versions_are_404(demo, browser):
    person = browser("qa_sun")
    for page in ("/review/cases/no-such-case", "/review/cases/no-such-case/dossier.zip",
                 "/review/processes/service_request:9:nope",
                 "/review/processes/service_request:9:nope/diagram.bpmn"):
        assert person.get(page).status_code == 404, page


def test_pages_keep_the_content_security_policy(demo, browser, app):
    person = browser("mgr_wu")
    for page in review_pages(app)[1:5]:
        response = person.get(page)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        for tag in re.findall(r"<script[^>]*>", text(response)):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert " style=" not in text(response)


# --- a version -------------------------------------------------------------------------------

def test_process_page_counts_cases_per_element(demo, browser, app):
    """The demo: 001 waits for registration, 002 for review, 003 for dispatch, 004 for
    acceptance; 005 is completed, 006 rejected."""
    version = definition_id(app)
    counts = in_app(app, lambda: queries.element_counts(db.session, version))
    assert counts["StartEvent_Submit"].passed == 6
    assert (counts["Task_Register"].open_tasks, counts["Task_Register"].passed) == (1, 5)
    assert (counts["Task_Review"].open_tasks, counts["Task_Review"].passed) == (1, 4)
    assert (counts["Task_Acceptance"].open_tasks, counts["Task_Acceptance"].passed) == (1, 1)
    # A step done by a registered function is audited twice; it passed twice, not four times.
    assert counts["Task_RecordDispatch"].passed == 2
    assert counts["BoundaryEvent_ResponseDeadline"].waiting_timers == 2  # 001 and 002
    assert counts["BoundaryEvent_HandlingDeadline"].waiting_timers == 2  # 003 and 004
    assert counts["EndEvent_Rejected"].passed == 1
    assert "Task_Rate" not in counts or counts["Task_Rate"].open_tasks == 0

    page = text(browser("mgr_wu").get(f"/review/processes/{version}"))
    badges = {o["element"]: {b["kind"]: b["n"] for b in o["badges"]} for o in diagram_data(page)["overlays"]}
    assert badges["Task_Register"] == {"open": 1, "passed": 5}
    assert badges["BoundaryEvent_ResponseDeadline"] == {"timer": 2}
    assert re.search(r'<tr data-element="Task_Register">.*?data-count="open">1<.*?data-count="passed">5<',
                     page, re.S)
    assert "服务时限（SLA）建模" in page  # the process's own documentation
    assert "业主（或客服代业主）通过线上、电话或现场渠道提交服务需求" in page  # an element's
    assert 'data-testid="instance-counts">4 running · 2 completed · 0 cancelled' in page


def test_every_version_stays_viewable_with_its_own_cases(demo, browser, app):
    first = definition_id(app)
    changed = (BPMN_DIR / "service_request.bpmn").read_bytes().replace(
        b"Register request", b"Register the request")
    files = {"service_request.bpmn": changed, **{n: (BPMN_DIR / n).read_bytes()
                                                  for n in ("priority_proposal.dmn", "service_level.dmn")}}
    in_app(app, lambda: workflow_engine().deploy(files, name="v2", changed_only=True))
    second = definition_id(app)
    assert second != first
    person = browser("po_zhou")
    listing = text(person.get("/review/processes"))
    assert re.search(r'data-key="service_request" data-version="1">.*?data-count="running">4<', listing, re.S)
    assert re.search(r'data-key="service_request" data-version="2">.*?data-count="running">0<', listing, re.S)
    old = text(person.get(f"/review/processes/{first}"))
    assert f'href="/review/processes/{second}"' in old and "Register request" in old
    assert "Register the request" in text(person.get(f"/review/processes/{second}"))
    original = (BPMN_DIR / "service_request.bpmn").read_bytes()
    assert person.get(f"/review/processes/{first}/diagram.bpmn").data == original
    assert person.get(f"/review/processes/{second}/diagram.bpmn").data == changed


# --- a case ----------------------------------------------------------------------------------

def case_page(app, browser, business_key: str, username: str = "mgr_wu") -> str:
    response = browser(username).get(f"/review/cases/{instance_id(app, business_key)}")
    assert response.status_code == 200
    return text(response)


def test_case_half_way_shows_done_taken_and_waiting(demo, browser, app):
    page = case_page(app, browser, "SR-DEMO-004")
    marks = diagram_data(page)["marks"]
    for done in ("StartEvent_Submit", "Task_Register", "Task_Review", "Task_Confirm", "SubProcess_Intake",
                 "Gateway_Accepted", "Task_Dispatch", "Task_RecordDispatch", "Task_WorkCleaning",
                 "Task_Record", "StartEvent_Intake", "StartEvent_Execution", "Gateway_ServiceType"):
        assert "done" in marks[done], done
    assert marks["Task_Acceptance"] == ["active"]
    assert marks["SubProcess_Execution"] == ["active", "container"]
    assert marks["BoundaryEvent_HandlingDeadline"] == ["active"]
    for flow in ("Flow_ToReview", "Flow_Approve", "Flow_ToHandlingLevel", "Flow_TypeCleaning",
                 "Flow_ToAcceptance"):
        assert marks[flow] == ["taken"], flow
    for untouched in ("Flow_Reject", "Flow_Rejected", "Flow_TypePlumbing", "Task_WorkPlumbing", "Task_Rate",
                      "EndEvent_Rejected", "Flow_ToAcceptanceResult", "BoundaryEvent_ResponseDeadline"):
        assert untouched not in marks, untouched
    by_element = notes(diagram_data(page))
    assert by_element["Task_Register"]["text"] == "cs_zhang · 01-05 17:00 · 0 min"
    assert by_element["Task_Acceptance"]["text"] == "owner_li · waiting 0 min"
    assert by_element["BoundaryEvent_HandlingDeadline"]["text"] == "Handling deadline due 01-12 17:00"
    assert by_element["EndEvent_IntakeConfirmed"]["text"] == "Response deadline met 01-05 17:00"
    assert re.search(r'data-element="Task_Acceptance" data-kind="task">', page)
    assert re.search(r'data-element="BoundaryEvent_HandlingDeadline" data-kind="timer">', page)
    # The history: every step, who, and what they submitted, with the form's labels.
    assert re.search(r'data-action="task_completed" data-element="Task_Register".*?登记备注 Registration note'
                     r'</dt><dd class="pre">已核实联系方式 Contact verified', page, re.S)
    assert re.search(r'data-action="task_completed" data-element="Task_Dispatch".*?tech_liu', page, re.S)
    assert page.count('data-action="activity_completed" data-element="Task_RecordDispatch"') == 1
    assert re.search(r'data-action="started" data-element="StartEvent_Submit".*?Li Mei 李梅.*?'
                     r'需求描述 Description</dt><dd class="pre">楼道有装修垃圾', page, re.S)


def test_rejected_case_took_the_rejection_branch_only(demo, browser, app):
    marks = diagram_data(case_page(app, browser, "SR-DEMO-006"))["marks"]
    taken = {k for k, v in marks.items() if v == ["taken"]}
    assert {"Flow_Reject", "Flow_Rejected", "Flow_ToAccepted"} <= taken
    assert marks["EndEvent_Rejected"] == ["done"]
    for other in ("Flow_Approve", "Flow_ToHandlingLevel", "Task_Confirm", "SubProcess_Execution"):
        assert other not in marks, other
    assert not [k for k, v in marks.items() if "active" in v]


def test_rework_loop_counts_passes_and_durations(demo, browser, app, clock):
    clock.set(datetime(2026, 1, 5, 11, 30, tzinfo=UTC))
    rework = {"acceptance": "rework", "acceptance_comment": "楼梯口还有垃圾 Debris left"}
    complete(app, "SR-DEMO-004", "Task_Acceptance", rework, "owner_li")
    clock.set(datetime(2026, 1, 5, 14, 45, tzinfo=UTC))
    complete(app, "SR-DEMO-004", "Task_WorkCleaning", {}, "tech_liu")
    page = case_page(app, browser, "SR-DEMO-004")
    data = diagram_data(page)
    assert data["marks"]["Flow_AcceptanceRework"] == ["taken"]
    assert data["marks"]["Flow_ReworkAgain"] == ["taken"]
    assert "Flow_AcceptanceOk" not in data["marks"]
    by_element = notes(data)
    assert by_element["Task_WorkCleaning"]["text"] == "×2 · tech_liu · 01-05 22:45 · 3 h 15 min"
    assert by_element["Task_Acceptance"]["text"] == "owner_li · 01-05 19:30 · 2 h 30 min"
    assert by_element["Task_Record"]["text"].startswith("1 done · tech_liu · waiting 0 min")
    assert "Flow_ToAcceptance" in data["marks"]  # taken on the first pass


def test_missed_deadline_is_red_on_the_diagram_and_in_the_tables(demo, browser, app, clock):
    clock.set(datetime(2026, 1, 6, 11, 0, tzinfo=UTC))  # 26 h after submission: 24 h response missed
    fire_timers(app)
    page = case_page(app, browser, "SR-DEMO-002")
    data = diagram_data(page)
    marks, by_element = data["marks"], notes(data)
    assert marks["BoundaryEvent_ResponseDeadline"] == ["done", "breached"]
    assert by_element["BoundaryEvent_ResponseDeadline"] == {
        "element": "BoundaryEvent_ResponseDeadline", "kind": "late",
        "text": "Response deadline missed 01-06 19:00 (due 01-06 17:00)"}
    assert "late" in marks["SubProcess_Intake"] and "active" in marks["SubProcess_Intake"]
    assert marks["Task_Review"] == ["active", "breached"]  # waiting past its own due time
    assert by_element["Task_Review"]["text"] == "Service supervisor · waiting 1 d 2 h · overdue by 2 h"
    assert marks["Task_ResponseOverdue"] == ["active"]  # the supervisor's escalation
    assert 'data-testid="case-breached"' in page
    assert re.search(r'<tr data-deadline="response" class="missed">', page)
    assert 'data-action="deadline_breached" data-element="BoundaryEvent_ResponseDeadline"' in page
    assert 'data-testid="case-breached"' not in case_page(app, browser, "SR-DEMO-004")


# --- the search --------------------------------------------------------------------------------

def search(person, **args) -> list[str]:
    response = person.get("/review/cases", query_string=args)
    assert response.status_code == 200, text(response)
    return results(text(response))


DEMO = {f"SR-DEMO-00{n}" for n in range(1, 7)}


def test_search_by_key_owner_status_process_date_and_breach(demo, browser, app, clock):
    person = browser("qa_sun")
    assert set(search(person)) == DEMO
    assert set(search(person, key="sr-demo-00")) == DEMO  # a prefix, whatever the case
    assert search(person, key="SR-DEMO-004", match="exact") == ["SR-DEMO-004"]
    assert search(person, key="SR-DEMO-00", match="exact") == []
    assert search(person, key="SR%") == [] and search(person, key="SR_DEMO") == []  # no wildcards
    assert set(search(person, owner="owner_li")) == {"SR-DEMO-002", "SR-DEMO-004", "SR-DEMO-006"}
    assert set(search(person, status="completed")) == {"SR-DEMO-005", "SR-DEMO-006"}
    assert len(search(person, status="running")) == 4 and search(person, status="cancelled") == []

    # A later request, a rectification and a cancelled case.
    clock.set(datetime(2026, 1, 8, 2, 0, tzinfo=UTC))  # 8 January, 10:00 in Shanghai
    engine = in_app(app, workflow_engine)
    later = browser("owner_wang").post("/requests/new", REQUEST, page="/requests/new")
    assert later.status_code == 303
    clock.set(datetime(2026, 1, 8, 2, 5, tzinfo=UTC))
    in_app(app, lambda: engine.start("rectification", {
        "problem": "楼道照明不足", "source": "spot_check", "responsible": "tech_liu",
        "deadline": "2026-01-20"}, business_key="RC-TEST-1", user="sup_zhao"))
    in_app(app, lambda: engine.cancel(instance_id(app, "SR-DEMO-001"), user="admin", reason="duplicate"))
    newest = search(person)
    assert newest[:2] == ["RC-TEST-1", newest[1]] and newest[1].startswith("SR-20260108")
    assert search(person, process_key="rectification") == ["RC-TEST-1"]
    assert search(person, status="cancelled") == ["SR-DEMO-001"]
    assert search(person, first="2026-01-08") == newest[:2]
    assert set(search(person, last="2026-01-05")) == DEMO  # 17:00 in Shanghai on the 5th
    assert search(person, first="2026-01-06", last="2026-01-07") == []
    assert set(search(person, owner="owner_wang", first="2026-01-08")) == {newest[1]}

    assert search(person, breached="y") == []
    clock.set(datetime(2026, 1, 8, 8, 0, tzinfo=UTC))
    fire_timers(app)  # 002 misses its response deadline (001 was cancelled before it fired)
    assert search(person, breached="y") == ["SR-DEMO-002"]
    clock.set(datetime(2026, 1, 8, 9, 30, tzinfo=UTC))
    fire_timers(app)  # and 003 its handling deadline (three days for a normal request)
    assert set(search(person, breached="y")) == {"SR-DEMO-002", "SR-DEMO-003"}
    assert search(person, breached="y", owner="owner_wang") == ["SR-DEMO-003"]


def test_search_pages_newest_first(demo, browser, app, clock, monkeypatch):
    monkeypatch.setattr(reviews, "PAGE_SIZE", 4)
    owner = browser("owner_wang")
    submitted = []
    for hour in (1, 2, 3):
        clock.set(datetime(2026, 1, 9, hour, tzinfo=UTC))
        response = owner.post("/requests/new", REQUEST, page="/requests/new")
        assert response.status_code == 303
        new_id = response.headers["Location"].rsplit("/", 1)[1]
        submitted.append(in_app(app, lambda i=new_id: workflow_engine().instance(i).business_key))
    person = browser("qa_sun")
    first = text(person.get("/review/cases", query_string={"key": "SR"}))
    keys = results(first)
    assert keys[:3] == submitted[::-1] and keys[3] in DEMO  # later submissions first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert "key=SR" in re.search(r'href="([^"]+)" rel="next"', first).group(1)
    second = text(person.get("/review/cases", query_string={"key": "SR", "page": 2}))
    third = text(person.get("/review/cases", query_string={"key": "SR", "page": 3}))
    assert len(results(second)) == 4 and len(results(third)) == 1
    assert set(results(second) + results(third)) == DEMO - {keys[3]}
    assert 'rel="next"' in second and 'rel="next"' not in third and 'rel="prev"' in third
    assert results(text(person.get("/review/cases", query_string={"page": 9}))) == []


@pytest.mark.parametrize("args", [{"first": "2026-01-09", "last": "2026-01-08"}, {"first": "yesterday"},
                                  {"status": "lost"}, {"process_key": "no_such_process"}, {"match": "fuzzy"},
                                  {"key": "S" * 256}])
def test_bad_search_filters_are_422(demo, browser, args):
    response = browser("qa_sun").get("/review/cases", query_string=args)
    assert response.status_code == 422
    assert 'class="error"' in text(response) and 'data-testid="results"' not in text(response)


# --- the dossier -------------------------------------------------------------------------------

def open_dossier(person, app, business_key: str) -> tuple[str, dict[str, bytes]]:
    response = person.get(f"/review/cases/{instance_id(app, business_key)}/dossier.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    name = re.search(r'attachment; filename="([^"]+)"', response.headers["Content-Disposition"]).group(1)
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.testzip() is None
        return name, {info.filename: archive.read(info) for info in archive.infolist()}


def test_dossier_holds_history_forms_attachments_diagram_and_manifest(demo, browser, app, clock):
    owner = browser("owner_wang")
    created = owner.post("/requests/new", {**REQUEST, "photos": (io.BytesIO(PNG), "tap.png")},
                         content_type="multipart/form-data", page="/requests/new")
    assert created.status_code == 303
    new_id = created.headers["Location"].rsplit("/", 1)[1]
    key = in_app(app, lambda: workflow_engine().instance(new_id).business_key)
    clock.set(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    complete(app, key, "Task_Register", {"registration_note": "电话核实 Checked by phone"}, "cs_zhang")

    name, files = open_dossier(browser("qa_sun"), app, key)
    assert name == f"dossier-{key}-20260105-100000.zip"
    folder = f"{key}/"
    assert sorted(files) == sorted(folder + n for n in (
        "case.json", "history.csv", "history.json", "forms/01-StartEvent_Submit.json",
        "forms/02-Task_Register.json", "attachments.csv", "diagram.svg", "service_request-v1.bpmn",
        "manifest.json"))

    manifest = json.loads(files[folder + "manifest.json"])
    assert manifest["generated_by"] == "qa_sun" and manifest["business_key"] == key
    assert {f["name"] for f in manifest["files"]} == {n[len(folder):] for n in files} - {"manifest.json"}
    for entry in manifest["files"]:
        content = files[folder + entry["name"]]
        assert (entry["bytes"], entry["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())

    history = json.loads(files[folder + "history.json"])
    assert [h["action"] for h in history][:2] == ["started", "activity_completed"]
    registered = next(h for h in history if h["action"] == "task_completed")
    assert (registered["actor"], registered["element_id"], registered["at"]) == (
        "cs_zhang", "Task_Register", "2026-01-05T10:00:00+00:00")
    assert registered["data"] == {"submitted": {"registration_note": "电话核实 Checked by phone"}}
    rows = list(csv.DictReader(io.StringIO(files[folder + "history.csv"].decode("utf-8-sig"))))
    assert len(rows) == len(history)
    assert json.loads(rows[history.index(registered)]["data"]) == registered["data"]

    form = json.loads(files[folder + "forms/02-Task_Register.json"])
    assert form["values"] == {"registration_note": "电话核实 Checked by phone"}
    assert form["labelled"] == [{"label": "登记备注 Registration note", "value": "电话核实 Checked by phone"}]
    assert form["submitted_by"] == "cs_zhang"
    start = json.loads(files[folder + "forms/01-StartEvent_Submit.json"])
    assert start["values"]["description"] == REQUEST["description"] and start["submitted_by"] == "owner_wang"

    attachments = list(csv.DictReader(io.StringIO(files[folder + "attachments.csv"].decode("utf-8-sig"))))
    assert [(a["file_name"], int(a["bytes"]), a["content_type"], a["uploaded_by"]) for a in attachments] == [
        ("tap.png", len(PNG), "image/png", "owner_wang")]

    case = json.loads(files[folder + "case.json"])
    assert (case["status"], case["owner"], case["version"]) == ("running", "owner_wang", 1)
    marks = case["diagram_marks"]
    assert [marks[k] for k in ("Task_Register", "Task_Review", "Flow_ToReview")] == [
        "done", "active", "taken"]
    assert files[folder + "service_request-v1.bpmn"] == (BPMN_DIR / "service_request.bpmn").read_bytes()
    svg = files[folder + "diagram.svg"].decode()
    assert svg.startswith("<svg") or svg.startswith("<?xml")
    assert 'data-element-id="Task_Register"' in svg and "cs_zhang" in svg


def test_dossier_of_a_finished_case_without_attachments(demo, browser, app):
    _, files = open_dossier(browser("admin"), app, "SR-DEMO-005")
    forms = sorted(n for n in files if "/forms/" in n)
    assert [n.split("/forms/")[1] for n in forms] == [
        "01-StartEvent_Submit.json", "02-Task_Register.json", "03-Task_Review.json", "04-Task_Confirm.json",
        "05-Task_Dispatch.json", "06-Task_WorkGeneral.json", "07-Task_Record.json", "08-Task_Acceptance.json",
        "09-Task_Rate.json"]
    rate = json.loads(files["SR-DEMO-005/forms/09-Task_Rate.json"])
    assert rate["values"] == {"satisfaction": 5, "satisfaction_comment": "师傅很专业 Very professional"}
    assert files["SR-DEMO-005/attachments.csv"].decode("utf-8-sig").splitlines() == [
        "file_name,bytes,content_type,uploaded_by,uploaded_at"]
    assert json.loads(files["SR-DEMO-005/case.json"])["status"] == "completed"
    assert json.loads(files["SR-DEMO-005/case.json"])["waiting"] == []


def test_every_demo_case_renders(demo, browser, app, clock):
    clock.set(clock.now() + timedelta(days=9))
    fire_timers(app)
    person = browser("sup_zhao")
    for n in range(1, 7):
        assert person.get(f"/review/cases/{instance_id(app, f'SR-DEMO-00{n}')}").status_code == 200
