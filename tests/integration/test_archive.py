"""The archive (A-1, A-2) through real HTTP: every kind of record by period at the company's
day boundaries, the CSV, Excel and dossier downloads, who may open what (personnel records
included), and corrections that keep the original.

The period is Monday 2 March … Sunday 15 March 2026 in Shanghai (UTC+8). Each kind gets a
record in the last minute before it, the first minute of it, the last minute of it and the
first minute after it: exactly the middle two are listed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
import zipfile
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine import AuditAction, InstanceStatus
from engine.models import AuditEvent, ProcessInstance
from web import archive_export, service_requests, workflow_engine
from web.demo import DEMO_PASSWORD
from web.extensions import db
from web.models import (
    Appraisal,
    Correction,
    FeedbackItem,
    InspectionResult,
    RectificationItem,
    Role,
    Sanction,
    SatisfactionScore,
    ServiceCase,
    TrainingAttendance,
    TrainingNeed,
    TrainingSession,
    User,
)

from .test_web import text

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = "first=2026-03-02&last=2026-03-15"
# Before, first minute, last minute, after: the middle two are in the period.
MOMENTS = ("2026-03-01T23:59", "2026-03-02T00:00", "2026-03-15T23:59", "2026-03-16T00:00")
ARCHIVISTS = ("mgr_wu", "qa_sun", "sup_zhao")
OTHERS = ("owner_wang", "tech_chen", "cs_zhang", "admin", "po_zhou")


def local(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=SHANGHAI).astimezone(UTC)


def rows(page: str) -> list[str]:
    return re.findall(r'data-testid="archive-row" data-key="([^"]*)"', page)


def in_app(app, fn):
    with app.app_context():
        return fn()


class Facts:
    """Rows the way the flows write them, at chosen times."""

    def __init__(self):
        self.definition = workflow_engine().definitions()[0].id
        self.n = 0

    def instance(self, key: str, at: datetime) -> str:
        self.n += 1
        row = ProcessInstance(id=str(uuid.uuid4()), definition_id=self.definition, process_key=key,
                              business_key=f"{key}-{self.n}", status=InstanceStatus.RUNNING, state="{}",
                              serializer_version="test", started_at=at, updated_at=at)
        db.session.add(row)
        db.session.flush()
        return row.id

    def add(self, kind: str, at: datetime, staff: str = "tech_chen") -> str:
        """One record of ``kind`` recorded at ``at``; its archive key."""
        make = getattr(self, kind)
        key = make(at, staff)
        db.session.flush()
        return key

    def service_request(self, at, staff):
        iid = self.instance("service_request", at)
        db.session.add(ServiceCase(instance_id=iid, business_key=f"SR-{self.n}", owner_id="owner_wang",
                                   channel="online", service_type="plumbing", building="3", unit="1201",
                                   submitted_by="owner_wang", submitted_at=at))
        return iid

    def satisfaction_score(self, at, staff):
        iid = self.instance("service_request", at)
        db.session.add(SatisfactionScore(instance_id=iid, kind="request", business_key=f"SR-{self.n}",
                                         owner_id="owner_wang", score=4, recorded_at=at,
                                         recorded_by="owner_wang"))
        return iid

    def feedback(self, at, staff):
        iid = self.instance("feedback", at)
        db.session.add(FeedbackItem(instance_id=iid, business_key=f"FB-{self.n}", owner_id="owner_wang",
                                    channel="phone", subject="电梯噪音 Lift noise", category="complaint",
                                    received_at=at, received_by="cs_zhang", updated_at=at))
        return iid

    def rectification(self, at, staff):
        iid = self.instance("rectification", at)
        db.session.add(RectificationItem(instance_id=iid, business_key=f"RC-{self.n}", problem="漏水 Leak",
                                         source="spot_check", responsible=staff, deadline=date(2026, 3, 31),
                                         started_at=at, started_by="sup_zhao"))
        return iid

    def inspection(self, at, staff):
        iid = self.instance("spot_check", at)
        db.session.add(InspectionResult(instance_id=iid, item=f"SR-X-{self.n}", check_key=f"SC-{self.n}",
                                        technician=staff, passed=True, result="pass", inspected_by="sup_zhao",
                                        inspected_at=at))
        return f"{iid}:SR-X-{self.n}"

    def appraisal(self, at, staff):
        iid = self.instance("appraisal", at)
        db.session.add(Appraisal(
            instance_id=iid, business_key=f"AP-{self.n}-{staff}", username=staff,
            period_start=date(2026, 2, self.n % 28 + 1), period_end=date(2026, 2, 28), tasks_completed=5,
            deadlines_due=4, deadlines_met=3, scores=2, average_score=4.5, inspections=1,
            inspections_failed=0,
            rectifications=0, rectifications_overdue=0, complaints=0, computed_at=at, reviewer="sup_zhao",
            score=88, assessment="踏实 Reliable", status="approved"))
        return iid

    def sanction(self, at, staff):
        row = Sanction(username=staff, kind="reward", measure="commendation", reason="表现优秀 Excellent",
                       approved_by="mgr_wu", proposed_by="rules", recorded_at=at)
        db.session.add(row)
        db.session.flush()
        return str(row.id)

    def _session(self, at):
        row = TrainingSession(topic="安全用电 Electrical safety", starts_at=at, hours=2, trainer="王工",
                              created_by="mgr_wu", created_at=at)
        db.session.add(row)
        db.session.flush()
        return row

    def training_session(self, at, staff):
        return str(self._session(at).id)

    def training_attendance(self, at, staff):
        session = self._session(local("2026-01-01T09:00"))
        db.session.add(TrainingAttendance(session_id=session.id, username=staff, attended=True,
                                          assessment_score=90, passed=True, recorded_by="mgr_wu",
                                          recorded_at=at))
        return f"{session.id}:{staff}"

    def training_need(self, at, staff):
        row = TrainingNeed(username=staff, topic="防水 Waterproofing",
                           reason="抽检不合格 Failed a spot check", source="spot_check", due=date(2026, 4, 1),
                           raised_by="sup_zhao", raised_at=at)
        db.session.add(row)
        db.session.flush()
        return str(row.id)

    def correction(self, at, staff):
        row = Correction(record_type="feedback", record_key="x", field="subject", original="a", corrected="b",
                         reason="typo", author="cs_zhang", at=at)
        db.session.add(row)
        db.session.flush()
        return str(row.id)


MODEL_KINDS = ("service_request", "satisfaction_score", "feedback", "rectification", "inspection",
               "appraisal", "sanction", "training_session", "training_attendance", "training_need",
               "correction")


@pytest.fixture
def people(app, demo):
    """The demo's people and a second service supervisor."""
    def add():
        user = User(username="sup_qian", display_name="钱主管", locale="zh_CN", active=True,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC))
        user.set_password(DEMO_PASSWORD)
        user.set_roles([Role.SERVICE_SUPERVISOR])
        db.session.add(user)
        db.session.commit()
    in_app(app, add)
    return app


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_each_kind_lists_exactly_the_period_in_company_days_newest_first(people, browser, kind):
    def make():
        facts = Facts()
        keys = [facts.add(kind, local(m)) for m in MOMENTS]
        db.session.commit()
        return keys
    keys = in_app(people, make)
    page = browser("mgr_wu").get(f"/archive/?kind={kind}&{PERIOD}")
    assert page.status_code == 200
    assert rows(text(page)) == [keys[2], keys[1]]


def _serve(app, clock, moment: str, *, description="水管漏水 Pipe leaks", record=None) -> str:
    """A plumbing request submitted and served, its service record written at ``moment``."""
    def run():
        engine = workflow_engine()
        clock.set(local(moment))
        instance = service_requests.submit(engine, values={
            "channel": "online", "owner_id": "owner_wang", "owner_name": "王建国",
            "contact_phone": "13800000001",
            "building": "3", "unit": "1201", "service_type": "plumbing", "description": description},
            photos=[], user="owner_wang", now=clock.now())
        steps = [("Task_Register", {}, "cs_zhang"), ("Task_Review", {"decision": "approve"}, "sup_zhao"),
                 ("Task_Confirm", {"confirmed_time": "2026-03-10T10:00", "confirmed_by_phone": True},
                  "cs_zhang"),
                 ("Task_Dispatch", {"technician": "tech_chen"}, "sup_zhao"),
                 ("Task_WorkPlumbing", {}, "tech_chen"),
                 ("Task_Record", record or {"work_content": "更换阀门 Valve replaced",
                                            "work_started_at": "2026-03-10T10:00",
                                            "work_finished_at": "2026-03-10T11:00", "materials": "阀门 ×1"},
                  "tech_chen")]
        for element, data, user in steps:
            task = next(t for t in engine.instance(instance.id).open_tasks if t.element_id == element)
            engine.complete_user_task(task.id, data, user=user)
        return instance.id
    return in_app(app, run)


def _record_keys(app, instance_ids) -> list[str]:
    def find():
        return [str(db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.instance_id == i, AuditEvent.element_id == "Task_Record",
            AuditEvent.action == AuditAction.TASK_COMPLETED))) for i in instance_ids]
    return in_app(app, find)


def test_service_records_are_the_technicians_recorded_steps_of_the_period(people, browser, clock):
    cases = [_serve(people, clock, m) for m in MOMENTS]
    keys = _record_keys(people, cases)
    page = text(browser("qa_sun").get(f"/archive/?kind=service_record&{PERIOD}"))
    assert rows(page) == [keys[2], keys[1]]
    assert "更换阀门 Valve replaced" in page and ">tech_chen<" in page
    assert f'href="/requests/{cases[2]}"' in page  # where the record lives


def test_default_period_is_last_month_and_bad_periods_are_refused(people, browser, clock):
    clock.set(local("2026-04-10T12:00"))
    person = browser("mgr_wu")
    page = person.get("/archive/")
    assert page.status_code == 200
    assert 'value="2026-03-01"' in text(page) and 'value="2026-03-31"' in text(page)
    for query in ("first=2025-03-01&last=2026-03-02", "first=2026-03-02&last=2026-03-01", "kind=nonsense",
                  "first=2024-01-01", "first=not-a-date"):
        response = person.get(f"/archive/?{query}")
        assert response.status_code == 422, query
        assert 'class="error"' in text(response) and "archive-row" not in text(response)
    assert person.get("/archive/export.csv?first=2025-03-01&last=2026-03-02").status_code == 422
    assert person.get("/archive/dossiers.zip?first=2025-03-01&last=2026-03-02").status_code == 422
    # 366 days, a leap year's worth, is the most.
    assert person.get("/archive/?first=2025-03-01&last=2026-03-01").status_code == 200


def test_pages_of_fifty(people, browser):
    def make():
        facts = Facts()
        keys = [facts.add("sanction", local(f"2026-03-05T{n // 60:02d}:{n % 60:02d}")) for n in range(55)]
        db.session.commit()
        return keys
    keys = in_app(people, make)
    person = browser("mgr_wu")
    first = text(person.get(f"/archive/?kind=sanction&{PERIOD}"))
    second = text(person.get(f"/archive/?kind=sanction&{PERIOD}&page=2"))
    assert rows(first) == keys[::-1][:50] and 'rel="next"' in first
    assert rows(second) == keys[::-1][50:] and 'rel="next"' not in second


# --- who may open what ------------------------------------------------------------------------

ARCHIVE_PAGES = ("/archive/", f"/archive/?kind=appraisal&{PERIOD}", f"/archive/export.csv?{PERIOD}",
                 f"/archive/export.xlsx?{PERIOD}", f"/archive/dossiers.zip?{PERIOD}")


@pytest.mark.parametrize("username", ARCHIVISTS + OTHERS)
def test_managers_quality_reviewers_and_supervisors_use_the_archive_nobody_else(people, browser, username):
    person = browser(username)
    statuses = {page: person.get(page).status_code for page in ARCHIVE_PAGES}
    expected = 200 if username in ARCHIVISTS else 403
    assert statuses == dict.fromkeys(ARCHIVE_PAGES, expected)
    assert ('data-testid="nav-archive"' in text(person.get("/requests/"))) == (username in ARCHIVISTS)


def test_signed_out_visitors_are_sent_to_sign_in(people, browser):
    response = browser().get("/archive/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _personnel(app):
    """Appraisals and sanctions of technicians, customer service, two supervisors and a
    manager, and a correction of each appraisal: keys by username."""
    def make():
        facts = Facts()
        found = {}
        for n, staff in enumerate(("tech_chen", "tech_liu", "cs_zhang", "sup_zhao", "sup_qian", "mgr_wu")):
            at = local(f"2026-03-0{n + 3}T10:00")
            appraisal = facts.add("appraisal", at, staff)
            found[staff] = (appraisal, facts.add("sanction", at, staff))
            fix = Correction(record_type="appraisal", record_key=appraisal, subject=staff, field="score",
                             original="88", corrected="86", reason="复核 Rechecked", author="mgr_wu", at=at)
            db.session.add(fix)
            db.session.flush()
            found[staff] += (str(fix.id),)
        db.session.commit()
        return found
    return in_app(app, make)


def test_personnel_records_only_for_whom_may_see_staff_record_allows(people, browser):
    keys = _personnel(people)
    seen_by = {"mgr_wu": set(keys), "sup_zhao": {"tech_chen", "tech_liu", "cs_zhang", "sup_zhao"},
               "qa_sun": set()}
    for username, staff in seen_by.items():
        person = browser(username)
        for n, kind in enumerate(("appraisal", "sanction", "correction")):
            listed = set(rows(text(person.get(f"/archive/?kind={kind}&{PERIOD}"))))
            assert listed == {keys[s][n] for s in staff}, (username, kind)
            exported = person.get(f"/archive/export.csv?kind={kind}&{PERIOD}").get_data(as_text=True)
            exported_keys = {r["archive_key"] for r in csv.DictReader(io.StringIO(exported.lstrip("\ufeff")))}
            assert exported_keys == listed
        for other in set(keys) - staff:  # not even by its address
            assert person.get(f"/archive/records/appraisal/{keys[other][0]}").status_code == 404
    listing = text(browser("mgr_wu").get(f"/archive/?kind=appraisal&{PERIOD}"))
    assert f'href="/appraisals/{keys["tech_liu"][0]}"' in listing  # where it lives: the appraisal page
    listing = text(browser("mgr_wu").get(f"/archive/?kind=sanction&{PERIOD}"))
    assert 'href="/staff/tech_liu"' in listing  # no appraisal behind it: the person's profile
    # A technician has no archive: not another's appraisal, nor their own here.
    tech = browser("tech_chen")
    assert tech.get(f"/archive/records/appraisal/{keys['tech_liu'][0]}").status_code == 403
    assert tech.get(f"/archive/records/appraisal/{keys['tech_chen'][0]}").status_code == 403
    assert tech.get(f"/archive/?kind=appraisal&{PERIOD}").status_code == 403


# --- downloads -------------------------------------------------------------------------------

def _feedback_with_corrections(app):
    def make():
        facts = Facts()
        inside = facts.add("feedback", local("2026-03-05T09:30"))
        outside = facts.add("feedback", local("2026-03-20T09:30"))
        db.session.get(FeedbackItem, inside).subject = "=HYPERLINK(\"http://evil\")"
        db.session.commit()
        return inside, outside
    return in_app(app, make)


def _correct(person, kind, key, data):
    page = f"/archive/records/{kind}/{key}"
    return person.post(page, data, page=page)


def test_csv_has_every_column_author_time_and_the_corrections_beside_the_original(people, browser, clock):
    inside, _ = _feedback_with_corrections(people)
    supervisor = browser("sup_zhao")
    clock.set(local("2026-03-21T08:00"))
    corrected = _correct(supervisor, "feedback", inside, {"field": "category", "corrected": "suggestion",
                                                          "reason": "其实是建议 Really a suggestion"})
    assert corrected.status_code == 303
    response = supervisor.get(f"/archive/export.csv?kind=feedback&{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="archive-feedback-20260302-20260315.csv"' in response.headers["Content-Disposition"]
    body = response.data
    assert body.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(table) == 1
    row = table[0]
    assert (row["archive_type"], row["archive_key"], row["archive_author"], row["archive_time"]) == (
        "feedback", inside, "cs_zhang", "2026-03-05T09:30:00+08:00")
    assert row["category"] == "complaint"  # as recorded
    # Shown as text, never run as a formula, by a spreadsheet program.
    assert row["subject"] == "'=HYPERLINK(\"http://evil\")" and row["channel"] == "phone"
    assert row["received_by"] == "cs_zhang" and row["received_at"] == "2026-03-05T09:30:00+08:00"
    assert set(row) >= {c.name for c in FeedbackItem.__table__.columns}
    fix_id = in_app(people, lambda: db.session.scalar(select(Correction.id)
                                                      .where(Correction.record_key == inside)))
    assert row["corrections"] == (f"#{fix_id} 2026-03-21T08:00:00+08:00 sup_zhao: category: complaint → "
                                  f"suggestion (其实是建议 Really a suggestion)")


def test_excel_has_the_records_and_a_sheet_of_corrections(people, browser, clock):
    inside, _ = _feedback_with_corrections(people)
    manager = browser("mgr_wu")
    clock.set(local("2026-03-21T08:00"))
    for value, reason in (("suggestion", "第一次 First"), ("praise", "第二次 Second")):
        assert _correct(manager, "feedback", inside, {"field": "category", "corrected": value,
                                                      "reason": reason}).status_code == 303
    response = manager.get(f"/archive/export.xlsx?kind=feedback&{PERIOD}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["records", "corrections"]
    records = [[c.value for c in r] for r in book["records"].iter_rows()]
    header, values = records[0], records[1:]
    assert len(values) == 1
    record = dict(zip(header, values[0], strict=True))
    assert (record["archive_key"], record["archive_author"], record["category"]) == (
        inside, "cs_zhang", "complaint")
    subject = book["records"].cell(row=2, column=header.index("subject") + 1)
    assert (subject.value, subject.data_type) == ("=HYPERLINK(\"http://evil\")", "s")  # text, not a formula
    fixes = [[c.value for c in r] for r in book["corrections"].iter_rows()]
    assert fixes[0] == list(archive_export.CORRECTION_COLUMNS)
    at = "2026-03-21T08:00:00+08:00"
    assert [(f[0], f[2], f[3], f[4], f[5], f[6], f[7]) for f in fixes[1:]] == [
        (inside, "category", "complaint", "suggestion", "第一次 First", "mgr_wu", at),
        (inside, "category", "complaint", "praise", "第二次 Second", "mgr_wu", at)]


def test_downloads_over_the_limit_are_refused_with_a_message(people, browser, monkeypatch):
    in_app(people, lambda: ([Facts().add("sanction", local("2026-03-05T10:00")) for _ in range(3)],
                            db.session.commit()))
    monkeypatch.setattr(archive_export, "MAX_ROWS", 2)
    monkeypatch.setattr(archive_export, "MAX_DOSSIERS", 0)
    person = browser("mgr_wu")
    for fmt in ("csv", "xlsx"):
        response = person.get(f"/archive/export.{fmt}?kind=sanction&{PERIOD}")
        assert response.status_code == 422 and response.mimetype == "text/html"
        assert "3 records: a download holds at most 2" in text(response)
    assert person.get(f"/archive/export.csv?kind=appraisal&{PERIOD}").status_code == 200  # none: fine
    in_app(people, lambda: (Facts().add("service_request", local("2026-03-05T10:00")), db.session.commit()))
    response = person.get(f"/archive/dossiers.zip?{PERIOD}")
    assert response.status_code == 422 and "1 service requests: one ZIP holds at most 0" in text(response)


def test_zip_holds_a_dossier_per_request_of_the_period_and_a_manifest_that_verifies(people, browser, clock):
    cases = [_serve(people, clock, m) for m in MOMENTS]
    keys = in_app(people, lambda: [db.session.get(ServiceCase, c).business_key for c in cases])
    clock.set(local("2026-03-20T10:00"))
    response = browser("qa_sun").get(f"/archive/dossiers.zip?{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert 'filename=dossiers-20260302-20260315.zip' in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.testzip() is None
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    manifest = json.loads(files.pop("manifest.json"))
    assert (manifest["first_day"], manifest["last_day"], manifest["generated_by"]) == (
        "2026-03-02", "2026-03-15", "qa_sun")
    assert [d["business_key"] for d in manifest["dossiers"]] == [keys[2], keys[1]]
    assert sorted(files) == sorted(d["file"] for d in manifest["dossiers"])
    for entry, instance_id in zip(manifest["dossiers"], (cases[2], cases[1]), strict=True):
        content = files[entry["file"]]
        assert entry["instance_id"] == instance_id
        assert (entry["bytes"], entry["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
        with zipfile.ZipFile(io.BytesIO(content)) as inner:
            case = json.loads(inner.read(f"{entry['business_key']}/case.json"))
            assert (case["instance_id"], case["business_key"]) == (instance_id, entry["business_key"])
            assert f"{entry['business_key']}/forms/07-Task_Record.json" in inner.namelist()


# --- corrections -----------------------------------------------------------------------------

def _count(app, model) -> int:
    return in_app(app, lambda: db.session.scalar(select(func.count()).select_from(model)))


def _annotations(app, key: str) -> list[AuditEvent]:
    """The audit entries of corrections of the record ``key``."""
    entries = in_app(app, lambda: list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.ANNOTATED).order_by(AuditEvent.id))))
    return [e for e in entries if e.data.get("record_key") == key]


def _last_id(app) -> int:
    return in_app(app, lambda: db.session.scalar(select(func.max(Correction.id)))) or 0


def test_a_correction_keeps_the_original_and_shows_beside_it(people, browser, clock):
    case = _serve(people, clock, "2026-03-05T10:00")
    supervisor = browser("sup_zhao")
    clock.set(local("2026-03-06T09:00"))
    page = f"/archive/records/service_request/{case}"
    form = text(supervisor.get(page))
    assert 'data-testid="correction-form"' in form and 'value="building"' in form
    assert 'value="instance_id"' not in form and 'value="submitted_by"' not in form  # keys and authors
    response = supervisor.post(page, {"field": "building", "corrected": "4",
                                      "reason": "楼号登记错 Wrong block"})
    assert response.status_code == 303 and response.headers["Location"] == page

    assert in_app(people, lambda: db.session.get(ServiceCase, case).building) == "3"  # unchanged
    fix = in_app(people, lambda: db.session.scalars(select(Correction)
                                                    .where(Correction.record_key == case)).one())
    assert (fix.record_type, fix.record_key, fix.field, fix.original, fix.corrected, fix.author, fix.at) == (
        "service_request", case, "building", "3", "4", "sup_zhao", local("2026-03-06T09:00"))
    assert fix.subject is None
    [entry] = _annotations(people, case)
    assert (entry.actor, entry.instance_id, entry.at) == ("sup_zhao", case, local("2026-03-06T09:00"))
    assert entry.data == {"record_type": "service_request", "record_key": case, "field": "building",
                          "original": "3", "corrected": "4", "reason": "楼号登记错 Wrong block",
                          "correction_id": fix.id}
    assert in_app(people, lambda: workflow_engine().verify_audit_chain().ok)

    shown = text(supervisor.get(page))
    assert '<tr data-field="building">' in shown
    row = shown.split('<tr data-field="building">')[1].split("</tr>")[0]
    assert 'class="pre original">3<' in row and 'class="corrected">4 ' in row
    listing = text(supervisor.get("/archive/?kind=service_request&first=2026-03-05&last=2026-03-05"))
    assert '<td data-testid="correction-count">1</td>' in listing
    # The case page shows it too, to everyone who sees the case, the owner included.
    for username in ("sup_zhao", "owner_wang"):
        case_page = text(browser(username).get(f"/requests/{case}"))
        panel = case_page.split('data-testid="corrections"')[1].split("</section>")[0]
        assert 'class="original">3<' in panel and 'class="corrected">4<' in panel and "Wrong block" in panel
    assert 'data-testid="annotate"' not in text(browser("owner_wang").get(f"/requests/{case}"))
    # And the case's history in the review pages and its dossier.
    review = text(supervisor.get(f"/review/cases/{case}"))
    assert 'data-action="annotated"' in review


@pytest.mark.parametrize("data, field", [
    ({"field": "building", "corrected": "4", "reason": "  "}, "reason"),
    ({"field": "building", "corrected": "4"}, "reason"),
    ({"field": "", "corrected": "4", "reason": "r"}, "field"),
    ({"field": "instance_id", "corrected": "x", "reason": "r"}, "field"),
    ({"field": "submitted_at", "corrected": "2026-03-01 10:00", "reason": "r"}, "field"),
    ({"field": "building", "corrected": "3", "reason": "r"}, "corrected"),
    ({"field": "dispatched_at", "corrected": "2026-03-01 10:00", "reason": "r"}, "field"),
])
def test_an_invalid_correction_is_refused_and_nothing_is_saved(people, browser, data, field):
    case = in_app(people, lambda: (Facts().add("service_request", local("2026-03-05T10:00")),
                                   db.session.commit())[0])
    before = _last_id(people)
    page = f"/archive/records/service_request/{case}"
    response = browser("mgr_wu").post(page, data, page=page)
    assert response.status_code == 422
    assert f'data-field="{field}"' in text(response)
    assert _last_id(people) == before and _annotations(people, case) == []


def test_values_are_checked_against_the_fields_kind(people, browser):
    keys = _personnel(people)
    manager = browser("mgr_wu")
    page = f"/archive/records/appraisal/{keys['tech_chen'][0]}"
    before = _count(people, Correction)
    assert manager.post(page, {"field": "score", "corrected": "eighty", "reason": "r"},
                        page=page).status_code == 422
    assert manager.post(page, {"field": "period_end", "corrected": "2026-02-30", "reason": "r"},
                        page=page).status_code == 422
    assert manager.post(page, {"field": "score", "corrected": " 90 ", "reason": "复核 Rechecked"},
                        page=page).status_code == 303
    newest = in_app(people, lambda: db.session.scalar(select(Correction).order_by(Correction.id.desc())))
    assert (newest.field, newest.original, newest.corrected, newest.subject) == (
        "score", "88", "90", "tech_chen")
    assert _count(people, Correction) == before + 1


def test_who_may_correct(people, browser, clock):
    case = _serve(people, clock, "2026-03-05T10:00")
    [record] = _record_keys(people, [case])
    keys = _personnel(people)
    before, last = _count(people, Correction), _last_id(people)

    def attempt(username, kind, key, field, value):
        page = f"/archive/records/{kind}/{key}"
        person = browser(username)
        opened = person.get(page)
        if opened.status_code != 200:
            return opened.status_code
        return person.post(page, {"field": field, "corrected": value, "reason": "理由 Reason"}).status_code

    # Service records: the technician who recorded it, supervisors, managers; not quality reviewers.
    assert attempt("qa_sun", "service_record", record, "materials", "阀门 ×2") == 403
    assert attempt("tech_liu", "service_record", record, "materials", "阀门 ×2") == 403
    assert attempt("owner_wang", "service_record", record, "materials", "阀门 ×2") == 403
    assert attempt("tech_chen", "service_record", record, "materials", "阀门 ×2") == 303
    assert attempt("sup_zhao", "service_record", record, "work_finished_at", "2026-03-10 11:30") == 303
    # Personnel records: managers only, even for a supervisor who may see it and reviewed it.
    assert attempt("sup_zhao", "appraisal", keys["tech_chen"][0], "score", "90") == 403
    assert attempt("sup_zhao", "sanction", keys["tech_chen"][1], "reason", "x") == 403
    assert attempt("mgr_wu", "sanction", keys["tech_chen"][1], "reason", "修正 Amended") == 303
    # Corrections are not corrected: a new correction of the record supersedes.
    assert attempt("mgr_wu", "correction", keys["tech_chen"][2], "reason", "x") == 403
    assert _count(people, Correction) == before + 3

    fixes = in_app(people, lambda: list(db.session.scalars(
        select(Correction).where(Correction.id > last).order_by(Correction.id))))
    assert [(f.record_type, f.field, f.original, f.corrected, f.author, f.subject) for f in fixes] == [
        ("service_record", "materials", "阀门 ×1", "阀门 ×2", "tech_chen", None),
        ("service_record", "work_finished_at", "2026-03-10T11:00:00", "2026-03-10T11:30:00", "sup_zhao",
         None),
        ("sanction", "reason", "表现优秀 Excellent", "修正 Amended", "mgr_wu", "tech_chen")]
    # The form is only offered to who may use it.
    assert 'data-testid="correction-form"' not in text(browser("qa_sun").get(
        f"/archive/records/service_record/{record}"))


def test_a_correction_needs_the_pages_csrf_token(people, browser):
    case = in_app(people, lambda: (Facts().add("service_request", local("2026-03-05T10:00")),
                                   db.session.commit())[0])
    before = _last_id(people)
    person = browser("mgr_wu")
    response = person.client.post(f"/archive/records/service_request/{case}",
                                  data={"field": "building", "corrected": "4", "reason": "r"})
    assert response.status_code == 400
    assert _last_id(people) == before and _annotations(people, case) == []


def test_unknown_records_are_not_found(people, browser):
    person = browser("mgr_wu")
    for page in ("/archive/records/service_request/nope", "/archive/records/nonsense/1",
                 "/archive/records/sanction/abc", "/archive/records/inspection/only-one-part",
                 "/archive/records/service_record/12345678"):
        assert person.get(page).status_code == 404, page
