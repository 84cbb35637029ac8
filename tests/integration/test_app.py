"""The app as operators use it: status pages and CLI verbs (schema, deploy, demo data, timers)."""

from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import BPMN_DIR, FIXTURES
from web.extensions import db
from web.models import FeedbackItem, SatisfactionScore, ServiceCase


def test_health_reports_the_database_and_deployed_processes(client, runner):
    runner.invoke(args=["demo", "load"])
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert [p["key"] for p in body["processes"]] == [
        "appraisal", "appraisal_round", "feedback", "improvement_meeting", "rectification",
        "satisfaction_survey", "service_request", "spot_check", "survey_questionnaire", "training_need"]
    # The six demo requests, the demo's training need (tech_liu's retake), last month's
    # appraisal round (done) and its four appraisals, each waiting for its review.
    assert body["instances"] == {"running": 9, "completed": 3, "cancelled": 0}
    assert body["open_user_tasks"] == 8
    assert body["next_timer_due"] is not None


def test_status_page_lists_processes(client, runner):
    runner.invoke(args=["demo", "load"])
    page = client.get("/status")
    assert page.status_code == 200
    assert "物业服务申请 Service request" in page.get_data(as_text=True)


def test_unknown_page_answers_404_as_json_or_html(client):
    assert client.get("/nowhere", headers={"Accept": "application/json"}).get_json()["type"] == "Not Found"
    html = client.get("/nowhere", headers={"Accept": "text/html"})
    assert html.status_code == 404 and "<h1>404" in html.get_data(as_text=True)


def test_demo_load_is_idempotent(runner):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "SR-DEMO-004: 现场验收 On-site acceptance" in first.output
    assert "appraisal round 2025-12-01 – 2025-12-31: cs_zhang, sup_zhao, tech_chen, tech_liu" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert "demo requests already present" in second.output
    assert "appraisal round" not in second.output


def test_bpmn_deploy_reports_problems_and_exits_nonzero(runner, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text((FIXTURES / "approval.bpmn").read_text().replace(">PT2H<", ">PT2X<"))
    result = runner.invoke(args=["bpmn", "deploy", str(bad)])
    assert result.exit_code == 1
    assert "bad.bpmn, element 'Reminder'" in result.output
    good = runner.invoke(args=["bpmn", "deploy", *(str(p) for p in sorted(BPMN_DIR.iterdir()))])
    assert good.exit_code == 0 and "deployed service_request version 1" in good.output
    again = runner.invoke(args=["bpmn", "deploy", *(str(p) for p in sorted(BPMN_DIR.iterdir()))])
    assert "unchanged service_request version 1" in again.output


def test_timers_fire_due_advances_overdue_requests(runner, clock):
    runner.invoke(args=["demo", "load"])
    # Due at once: this Monday's spot check (09:00 Shanghai time has passed), this month's
    # satisfaction survey (the 1st), quality meeting (the 5th, 10:00 Shanghai) and appraisal
    # round (the 1st: it appraises nobody, the demo's round did last month already).
    assert "advanced 4 instance(s)" in runner.invoke(args=["timers", "fire-due"]).output
    assert "advanced 0 instance(s)" in runner.invoke(args=["timers", "fire-due"]).output
    clock.advance(timedelta(hours=2, minutes=1))  # SR-DEMO-001 is an emergency: 2 h
    assert "advanced 1 instance(s)" in runner.invoke(args=["timers", "fire-due"]).output


def test_demo_history_replays_six_weeks_through_the_diagrams(app, runner):
    result = runner.invoke(args=["demo", "load", "--history"])
    assert result.exit_code == 0, result.output
    assert "history: 48 requests and 10 feedback items over 6 weeks (0 steps overtaken" in result.output
    with app.app_context():
        cases = db.session.scalar(select(func.count()).select_from(ServiceCase))
        dispatched = db.session.scalar(select(func.count()).where(ServiceCase.technician.is_not(None)))
        scores = db.session.scalar(select(func.count()).select_from(SatisfactionScore))
        feedback = db.session.scalar(select(func.count()).where(FeedbackItem.category.is_not(None)))
    assert (cases, feedback) == (54, 10)  # six demo requests and 48 from the history
    assert dispatched >= 48 and 30 <= scores <= 48
