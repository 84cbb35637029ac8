"""Weekly spot checks (R-3.1) from the web: the worker starts them, the supervisor
inspects a sample of served requests, and a failed check starts a rectification."""

from __future__ import annotations

from datetime import date, timedelta

from engine.models import ProcessInstance
from tests.integration.test_feedback import rows
from tests.integration.test_web import task_link, text
from web.models import InspectionResult, RectificationItem, ServiceCase


def start_spot_check(runner):
    result = runner.invoke(args=["timers", "fire-due"])
    assert result.exit_code == 0, result.output
    return result


def test_weekly_spot_check_samples_served_requests(demo, runner, browser):
    start_spot_check(runner)  # the first Monday 09:00 (Shanghai) is already past
    supervisor = browser("sup_zhao")
    url = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Inspect")
    page = text(supervisor.get(url))
    assert 'value="SR-DEMO-005"' in page  # the one request served this week
    assert "/requests/by-key/SR-DEMO-005" in page
    assert supervisor.get("/requests/by-key/SR-DEMO-005").status_code == 302


def test_failed_check_starts_a_rectification_for_a_real_staff_member(demo, runner, browser):
    start_spot_check(runner)
    supervisor = browser("sup_zhao")
    url = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Inspect")
    failed = {"item": "SR-DEMO-005", "check_result": "failed", "findings": "晾衣架仍松动 Still loose",
              "responsible": "nobody", "rectify_by": "2026-01-09"}
    refused = supervisor.post(url, failed, page=url)
    assert refused.status_code == 422 and 'data-field="responsible"' in text(refused)
    missing = supervisor.post(url, {"item": "SR-DEMO-005", "check_result": "failed"}, page=url)
    assert missing.status_code == 422 and 'data-field="findings"' in text(missing)
    done = supervisor.post(url, {**failed, "responsible": "tech_liu"}, page=url)
    assert done.status_code == 302
    technician = text(browser("tech_liu").get("/tasks/?scope=mine"))
    rectify = task_link(technician, "Task_Rectify")
    assert "Still loose" in text(browser("tech_liu").get(rectify))
    assert "Task_Inspect" not in text(supervisor.get("/tasks/?scope=offered"))


def test_a_week_without_served_requests_closes_at_once(demo, runner, browser, clock):
    start_spot_check(runner)
    clock.advance(timedelta(days=14))
    start_spot_check(runner)
    page = text(browser("sup_zhao").get("/tasks/?scope=offered"))
    assert page.count('data-element="Task_Inspect"') == 1  # only last fortnight's check


def test_the_responsible_person_sees_the_reminder_and_managers_the_escalation(demo, runner, browser, clock):
    start_spot_check(runner)
    supervisor = browser("sup_zhao")
    url = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Inspect")
    supervisor.post(url, {"item": "SR-DEMO-005", "check_result": "failed", "responsible": "tech_liu",
                          "findings": "晾衣架仍松动 Still loose", "rectify_by": "2026-01-09"}, page=url)
    technician = browser("tech_liu")
    assert 'data-testid="notice"' not in text(technician.get("/tasks/?scope=mine"))
    clock.set(clock.now().replace(day=8, hour=16, minute=0))  # 9 Jan 00:00 Shanghai is 8 Jan 16:00 UTC
    start_spot_check(runner)
    mine = text(technician.get("/tasks/?scope=mine"))
    assert mine.count('data-testid="notice"') == 1 and "RC-SR-DEMO-005-" in mine
    assert "Task_Escalate" not in text(browser("mgr_wu").get("/tasks/?scope=offered"))
    clock.advance(timedelta(days=1))
    start_spot_check(runner)
    assert 'data-element="Task_Escalate"' in text(browser("mgr_wu").get("/tasks/?scope=offered"))


# --- the facts the appraisal counts (E-1) ----------------------------------------------------

def inspect_item(supervisor, data: dict):
    url = task_link(text(supervisor.get("/tasks/?scope=offered")), "Task_Inspect")
    return supervisor.post(url, {"item": "SR-DEMO-005", **data}, page=url)


def test_each_inspection_is_recorded_with_the_technician_who_did_the_work(app, demo, runner, browser):
    start_spot_check(runner)
    technician = rows(app, ServiceCase, ServiceCase.business_key == "SR-DEMO-005")[0].technician
    assert technician  # the demo request was dispatched
    done = inspect_item(browser("sup_zhao"), {
        "check_result": "failed", "findings": "晾衣架仍松动 Still loose", "responsible": "tech_liu",
        "rectify_by": "2026-01-09"})
    assert done.status_code == 302
    [found] = rows(app, InspectionResult)
    assert (found.item, found.technician, found.passed, found.result, found.inspected_by) == (
        "SR-DEMO-005", technician, False, "failed", "sup_zhao")
    assert found.findings == "晾衣架仍松动 Still loose" and found.check_key.startswith("spot_check")
    [rectification] = rows(app, RectificationItem)
    assert (rectification.responsible, rectification.source, rectification.source_reference,
            rectification.deadline, rectification.started_by) == (
        "tech_liu", "spot_check", "SR-DEMO-005", date(2026, 1, 9), "sup_zhao")


def test_training_asked_for_by_a_check_needs_a_topic(app, demo, runner, browser):
    start_spot_check(runner)
    refused = inspect_item(browser("sup_zhao"), {"check_result": "passed", "training_needed": "y"})
    assert refused.status_code == 422 and 'data-field="training_topic"' in text(refused)
    assert rows(app, InspectionResult) == []


def test_a_hand_started_rectification_names_a_real_staff_member(app, demo, browser):
    supervisor = browser("sup_zhao")
    start = "/processes/rectification/start"
    data = {"problem": "楼道灯不亮 Stairwell lights out", "source": "other", "responsible": "owner_li",
            "deadline": "2026-01-08"}
    refused = supervisor.post(start, data, page=start)
    assert refused.status_code == 422 and 'data-field="responsible"' in text(refused)
    assert rows(app, ProcessInstance, ProcessInstance.process_key == "rectification") == []
    assert rows(app, RectificationItem) == []
    assert supervisor.post(start, {**data, "responsible": "tech_chen"}, page=start).status_code == 303
    [item] = rows(app, RectificationItem)
    assert (item.responsible, item.source, item.started_by, item.problem) == (
        "tech_chen", "other", "sup_zhao", "楼道灯不亮 Stairwell lights out")
