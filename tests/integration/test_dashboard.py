"""The analysis dashboard (R-3.3) on known facts: every figure asserted exactly, through
the SQL that computes it and through the page and its downloads.

The period is Monday 2 March … Sunday 15 March 2026 in Shanghai (UTC+8): two weeks.
"""

import csv
import io
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from engine import InstanceStatus
from engine.models import Deadline, ProcessInstance
from web import analytics, workflow_engine
from web.extensions import db
from web.models import FeedbackItem, SatisfactionScore, ServiceCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = {"first": "2026-03-02", "last": "2026-03-15"}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


class Facts:
    """Writes facts the way the flows record them, with nothing else around."""

    def __init__(self):
        # The figures read process keys, not diagrams: any deployed definition will do.
        self.definition = workflow_engine().definitions()[0].id
        self.count = 0

    def instance(self, key: str, started: datetime, ended: datetime | None = None, business_key=None) -> str:
        self.count += 1
        row = ProcessInstance(
            id=str(uuid.uuid4()), definition_id=self.definition,
            process_key=key, business_key=business_key or f"{key}-{self.count}",
            status=InstanceStatus.COMPLETED if ended else InstanceStatus.RUNNING, state="{}",
            serializer_version="test", started_at=started, updated_at=ended or started, ended_at=ended)
        db.session.add(row)
        db.session.flush()  # the facts below refer to it
        return row.id

    def case(self, submitted: str, service_type: str, building: str, channel: str, *, technician=None,
             priority=None, ended: str | None = None, response: bool | None = None,
             handling: bool | None = None, breached: str | None = None, score: tuple | None = None) -> str:
        at = local(submitted)
        instance_id = self.instance("service_request", at, local(ended) if ended else None)
        db.session.add(ServiceCase(
            instance_id=instance_id, business_key=f"SR-{self.count}", owner_id="owner_wang", channel=channel,
            service_type=service_type, building=building, unit="101", submitted_by="owner_wang",
            submitted_at=at, technician=technician, priority=priority))
        for name, met in (("response", response), ("handling", handling)):
            if met is not None:
                db.session.add(Deadline(instance_id=instance_id, name=name, due_at=at, met=met,
                                        reached_at=at if met else None,
                                        breached_at=None if met else local(breached)))
        if score:
            value, recorded = score
            self.score(instance_id, "request", value, recorded, building=building, service_type=service_type,
                       technician=technician)
        return instance_id

    def score(self, instance_id, kind, value, recorded, **more):
        db.session.add(SatisfactionScore(instance_id=instance_id, kind=kind, owner_id="owner_wang",
                                         score=value, recorded_at=local(recorded), **more))

    def survey(self, value: int, recorded: str, building: str):
        instance_id = self.instance("survey_questionnaire", local(recorded))
        self.score(instance_id, "survey", value, recorded, building=building, campaign="SS-1")

    def feedback(self, received: str, category: str | None, channel="online", building="B1"):
        instance_id = self.instance("feedback", local(received))
        db.session.add(FeedbackItem(instance_id=instance_id, business_key=f"FB-{self.count}",
                                    owner_id="owner_wang", building=building, channel=channel,
                                    subject="s", category=category,
                                    received_at=local(received), updated_at=local(received)))

    def rectification(self, started: str, ended: str | None = None, breached: str | None = None):
        instance_id = self.instance("rectification", local(started), local(ended) if ended else None,
                                    business_key=f"RC-{self.count}")
        db.session.add(Deadline(instance_id=instance_id, name="rectification", due_at=local(started),
                                breached_at=local(breached) if breached else None,
                                met=False if breached else None))


@pytest.fixture
def facts(app, demo, clock):
    clock.set(local("2026-03-20T12:00"))
    with app.app_context():
        made = Facts()
        made.case("2026-03-01T23:30", "plumbing", "B1", "on_site", response=True)  # before the period
        made.case("2026-03-02T10:00", "plumbing", "B1", "online", technician="tech_chen", priority="normal",
                  ended="2026-03-03T18:00", response=True, handling=True, score=(5, "2026-03-04T09:00"))
        made.case("2026-03-03T09:00", "electrical", "B1", "phone", technician="tech_liu",
                  priority="emergency", ended="2026-03-04T12:00", response=True, handling=False,
                  breached="2026-03-03T11:00", score=(2, "2026-03-05T09:00"))
        made.case("2026-03-09T08:00", "plumbing", "B1", "online", technician="tech_chen",
                  priority="emergency", response=True, handling=True)
        made.case("2026-03-10T08:00", "plumbing", "B2", "online", response=False, breached="2026-03-11T08:00")
        made.case("2026-03-15T23:59", "plumbing", "B1", "online")  # last minute of the period
        made.case("2026-03-16T00:00", "plumbing", "B1", "online")  # first minute after it
        made.survey(4, "2026-03-10T10:00", "B1")
        made.survey(3, "2026-03-11T10:00", "B2")
        made.feedback("2026-03-02T09:00", "complaint")
        made.feedback("2026-03-04T09:00", "complaint", channel="letter")
        made.feedback("2026-03-05T09:00", "praise")
        made.feedback("2026-03-14T09:00", None)
        made.feedback("2026-03-20T09:00", "complaint")  # after the period
        made.rectification("2026-02-20T20:00", breached="2026-03-01T00:00")
        made.rectification("2026-03-10T12:00")
        made.rectification("2026-03-02T12:00", ended="2026-03-12T12:00")
        db.session.commit()
    return app


def run(app, clock, **filters):
    with app.app_context():
        period = analytics.Period(date(2026, 3, 2), date(2026, 3, 15), SHANGHAI)
        return analytics.report(db.session, period, analytics.Filters(**filters), clock.now())


def test_every_figure_for_the_whole_period(facts, clock):
    found = run(facts, clock)
    assert (found.received, found.closed) == (5, 2)
    assert (found.response.hit, found.response.total, found.response.percent) == (3, 4, 75.0)
    assert (found.emergency.hit, found.emergency.total, found.emergency.percent) == (1, 2, 50.0)
    assert found.scores == {5: 1, 2: 1, 4: 1, 3: 1}
    assert (found.satisfaction.percent, found.satisfaction.on_target) == (50.0, False)
    assert found.average_score == 3.5
    assert found.low_scores == 2
    assert found.breaches == {"response": 1, "handling": 1}
    assert [(r.age_days, r.overdue) for r in found.rectifications] == [(23, True), (5, False)]
    assert found.rectification_ages == {"0-7": 1, "8-30": 1, "31+": 0}
    assert found.feedback == {"complaint": 2, "suggestion": 0, "praise": 1, "inquiry": 0, "unclassified": 1}
    assert found.problems == [("plumbing", "B1", 3)]
    assert [(w.monday, w.received, w.response.percent, w.satisfaction.percent, w.breaches)
            for w in found.weeks] == [(date(2026, 3, 2), 2, 100.0, 50.0, 1),
                                      (date(2026, 3, 9), 3, 50.0, 50.0, 1)]


def test_filters_narrow_the_facts_that_carry_them(facts, clock):
    chen = run(facts, clock, technician="tech_chen")
    assert (chen.received, chen.closed, chen.emergency.percent) == (2, 1, 100.0)
    assert (chen.scores, chen.satisfaction.percent) == ({5: 1}, 100.0)  # survey answers drop out
    assert chen.feedback == {}
    phone = run(facts, clock, channel="phone")
    assert (phone.received, phone.satisfaction.percent, phone.breaches) == (1, 0.0, {"handling": 1})
    b2 = run(facts, clock, building="B2")
    assert (b2.received, b2.scores, b2.response.percent) == (1, {3: 1}, 0.0)
    assert b2.feedback == {"complaint": 0, "suggestion": 0, "praise": 0, "inquiry": 0}


def test_the_page_shows_the_figures(facts, browser):
    manager = browser("mgr_wu")
    page = manager.get("/dashboard/", query_string=PERIOD)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for testid, text in (("kpi-received", ">5<"), ("kpi-response", "75.0%"), ("kpi-emergency", "50.0%"),
                         ("kpi-satisfaction", "50.0%"), ("kpi-average", "3.5"), ("kpi-breaches", ">2<")):
        start = html.index(f'data-testid="{testid}"')
        assert text in html[start:html.index("</div>", start)], testid
    assert 'src="/static/vendor/chart.umd.min.js"' in html and "cdn" not in html.lower()


def test_downloads_carry_the_same_tables(facts, browser):
    manager = browser("mgr_wu")
    weeks = manager.get("/dashboard/export.csv", query_string={**PERIOD, "table": "weeks"})
    assert weeks.status_code == 200 and weeks.mimetype == "text/csv"
    assert "attachment" in weeks.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(weeks.get_data().decode("utf-8-sig"))))
    assert rows[1:] == [["2026-03-02", "2", "100.0", "50.0", "1"], ["2026-03-09", "3", "50.0", "50.0", "1"]]
    book = load_workbook(io.BytesIO(manager.get("/dashboard/export.xlsx", query_string=PERIOD).get_data()))
    assert book.sheetnames == ["summary", "weeks", "scores", "feedback", "problems", "rectifications"]
    summary = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Requests received"] == 5 and summary["Satisfaction rate, scores 4–5 (%)"] == 50.0
    assert [row for row in book["problems"].iter_rows(min_row=2, values_only=True)] == [("Plumbing", "B1", 3)]


@pytest.mark.parametrize("query, field", [
    ({"first": "2026-03-15", "last": "2026-03-02"}, "last"),
    ({"first": "2025-01-01", "last": "2026-03-02"}, "last"),
    ({"first": "yesterday"}, "first"),
    ({"technician": "nobody"}, "technician"),
])
def test_a_bad_period_or_filter_is_explained(facts, browser, query, field):
    page = browser("mgr_wu").get("/dashboard/", query_string=query)
    assert page.status_code == 422
    assert f'data-field="{field}"' in page.get_data(as_text=True)


@pytest.mark.parametrize("user, status", [
    ("mgr_wu", 200), ("qa_sun", 200), ("sup_zhao", 200), ("po_zhou", 200), ("admin", 200),
    ("cs_zhang", 403), ("tech_chen", 403), ("owner_wang", 403)])
def test_who_sees_the_dashboard(facts, browser, user, status):
    person = browser(user)
    assert person.get("/dashboard/").status_code == status
    assert person.get("/dashboard/export.xlsx").status_code == status


def test_a_rectification_breached_this_very_moment_is_overdue(facts, clock):
    with facts.app_context():
        Facts().rectification("2026-03-18T12:00", breached="2026-03-20T12:00")  # the clock's now
        db.session.commit()
        period = analytics.Period(date(2026, 3, 16), date(2026, 3, 22), SHANGHAI)
        found = analytics.report(db.session, period, analytics.Filters(), clock.now())
    assert [(r.age_days, r.overdue) for r in found.rectifications][-1] == (2, True)
