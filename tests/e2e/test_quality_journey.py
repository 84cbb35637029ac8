"""Quality monitoring end to end in a real browser (issue 4): a low score is followed up,
a failed spot check becomes a rectification whose responsible person is reminded and
whose breach reaches the manager, and the dashboard shows the figures that follow.
The clock is the app's; the timer worker's sweep runs when the test moves it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.e2e.test_journeys import complete, open_task


def fire_timers(app) -> None:
    result = app.test_cli_runner().invoke(args=["timers", "fire-due"])
    assert result.exit_code == 0, result.output


def kpi(page, testid: str) -> str:
    return page.locator(f"[data-testid={testid}] .kpi-value").inner_text()


def test_low_score_follow_up_spot_check_rectification_and_the_dashboard(person, live_app, clock):
    # The owner accepts the cleaning work and gives it a 2.
    owner = person("owner_li")  # reads English
    page = owner.go("/requests/")
    page.locator("[data-testid=waiting-for-you] a", has_text="SR-DEMO-004").click()
    page.select_option("[name=acceptance]", "accepted")
    page.click("[data-testid=owner-task-form] button.primary")
    page.fill("[name=satisfaction]", "2")
    page.fill("[name=satisfaction_comment]", "Debris left on the landing")
    owner.shot("01-owner-gives-a-low-score")
    page.click("[data-testid=owner-task-form] button.primary")
    assert page.locator("[data-testid=case-status]").inner_text() == (
        "Customer service will call you about your rating.")
    case_url = page.url

    # Customer service calls back.
    cs = person("cs_zhang")
    open_task(cs, "SR-DEMO-004", "Task_FollowUp")
    complete(cs, {"follow_up_result": "楼梯平台仍有垃圾 Debris still on the landing"}, "02-cs-follows-up")
    assert owner.page.goto(case_url) and owner.page.locator("[data-testid=case-status]").inner_text() == (
        "Completed; we have followed up on your rating. Thank you.")

    # The supervisor runs a spot check by hand: the low-scored request fails it.
    supervisor = person("sup_zhao")
    page = supervisor.go("/processes/")
    page.locator("a[href='/processes/spot_check/start']").click()
    page.click("[data-testid=start-form] button.primary")
    assert "flash success" in page.content()
    open_task(supervisor, "", "Task_Inspect")
    assert supervisor.page.locator("[name=item]").input_value() == "SR-DEMO-004"
    failed = {"check_result": "failed", "findings": "清运不彻底 Clean-up left debris",
              "responsible": "tech_liu", "rectify_by": "2026-01-09T18:00"}
    complete(supervisor, failed, "03-supervisor-fails-a-check")
    open_task(supervisor, "", "Task_Inspect")
    assert supervisor.page.locator("[name=item]").input_value() == "SR-DEMO-005"
    complete(supervisor, {"check_result": "passed", "followed_sop": True}, "04-supervisor-passes-one")

    # The technician has the rectification; the day before its deadline they are reminded.
    technician = person("tech_liu")
    page = technician.go("/tasks/?scope=mine")
    row = page.locator("tr[data-element=Task_Rectify]")
    assert row.count() == 1
    rectification = re.search(r"RC-SR-DEMO-004-[0-9A-F]{4}", row.inner_text()).group(0)
    assert page.locator("[data-testid=notice]").count() == 0
    clock.set(datetime(2026, 1, 8, 16, 0, 30, tzinfo=UTC))  # 9 January begins in Shanghai
    fire_timers(live_app)
    page = technician.go("/tasks/?scope=mine")
    assert rectification in page.locator("[data-testid=notice]").inner_text()
    technician.shot("05-technician-is-reminded")

    # Past the deadline the manager gets the escalation.
    manager = person("mgr_wu")
    assert manager.go("/tasks/?scope=offered").locator("tr[data-element=Task_Escalate]").count() == 0
    clock.set(datetime(2026, 1, 9, 16, 0, 30, tzinfo=UTC))
    fire_timers(live_app)
    page = manager.go("/tasks/?scope=offered")
    assert page.locator("tr[data-element=Task_Escalate]", has_text=rectification).count() == 1
    manager.shot("06-manager-sees-the-escalation")

    # The dashboard for the week: two scores (the demo's 5 and today's 2), one open and
    # overdue rectification, six requests received.
    page = manager.go("/dashboard/")
    page.fill("[name=first]", "2026-01-05")
    page.fill("[name=last]", "2026-01-11")
    page.click("form.filters button")
    assert kpi(page, "kpi-received") == "6"
    assert kpi(page, "kpi-satisfaction") == "50.0%"
    assert "1 of 2" in page.locator("[data-testid=kpi-satisfaction]").inner_text()
    assert kpi(page, "kpi-average") == "3.5"
    assert kpi(page, "kpi-rectifications") == "1"
    assert "1 overdue" in page.locator("[data-testid=kpi-rectifications]").inner_text()
    drawn = page.evaluate("['chart-weeks', 'chart-scores', 'chart-feedback', 'chart-ages']"
                          ".map(id => Boolean(document.getElementById(id).chart))")
    assert drawn == [True, True, True, True]  # Chart.js from the app itself, under the CSP
    page.locator("[data-testid=table-scores]").evaluate("t => t.closest('details').open = true")
    cells = page.locator("[data-testid=table-scores] td").all_inner_texts()
    assert cells == ["1", "0", "2", "1", "3", "0", "4", "0", "5", "1"]
    manager.shot("07-dashboard")
