"""One appraisal round end to end in a real browser (issue 6: E-1, E-2). In January an
owner rates the technician's work; on 1 February at 09:00 the timer worker starts the
monthly round; the supervisor reviews the technician (a score out of range refused first),
the technician acknowledges, another technician is kept out, the manager approves and
approves the bonus the decision table proposes, and the technician's profile, the
manager's appraisals and the register show the result. English for the journey, Chinese for
the last page. The clock is the app's; the timer worker's sweep runs when the test moves it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.e2e.test_journeys import complete, open_task, use_language
from tests.e2e.test_quality_journey import fire_timers

COMPANY = ZoneInfo("Asia/Shanghai")
KEY = "AP-2026-01-tech_liu"  # the appraisal followed: tech_liu, January 2026
BONUS_REASON = "考核评分 90 分及以上，无超时、无投诉 Score 90 or more, no deadline missed, no complaint"
ASSESSMENT = "按时完成全部工单，业主评价良好 All work done on time, owners pleased"
COMMENT = "谢谢，会继续保持 Thank you, I will keep it up"

# What the demo and the owner's rating below make of tech_liu's January: the demo's two
# requests of his (cleaning SR-DEMO-004, other SR-DEMO-005), each worked and recorded by
# him (4 tasks) and accepted within the handling deadline (2 of 2 met); rated 5 (the demo)
# and 4 (below). Nothing else counts against him.
FACTS_ON_THE_FORM = {
    "staff": "tech_liu", "period_start": "2026-01-01", "period_end": "2026-01-31",
    "tasks_completed": "4", "deadlines_due": "2", "deadlines_met": "2", "deadlines_missed": "0",
    "scores": "2", "average_score_text": "4.50", "inspections": "0", "inspections_failed": "0",
    "rectifications": "0", "rectifications_overdue": "0", "complaints": "0", "evidence_lines": "",
}
FACTS_ON_THE_PAGE = ["4", "2 of 2", "4.50 from 2 ratings", "0 of 0", "0", "0", "0"]


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A February 2026 time of the company's calendar."""
    return datetime(2026, 2, day, hour, minute, second, tzinfo=COMPANY)


def read_only(page, name: str) -> str:
    field = page.locator(f"[name={name}]")
    assert field.get_attribute("readonly") is not None, f"{name} is editable"
    return field.input_value()


def appraisal_row(page, period: str = "2026-01-01", username: str = "tech_liu"):
    return page.locator(f"[data-testid=period][data-period='{period}'] "
                        f"[data-testid=appraisal-row][data-username={username}]")


def test_appraisal_round_review_acknowledgement_approval_and_bonus(person, live_app, clock):
    # The timer worker runs from the start (5 January): the round due on 1 January, for
    # December, starts nobody — the demo appraised everyone for December when it loaded.
    fire_timers(live_app)

    # January: the owner accepts tech_liu's cleaning and rates it 4.
    owner = person("owner_li")  # reads English
    page = owner.go("/requests/")
    page.locator("[data-testid=waiting-for-you] a", has_text="SR-DEMO-004").click()
    page.select_option("[name=acceptance]", "accepted")
    page.click("[data-testid=owner-task-form] button.primary")
    page.fill("[name=satisfaction]", "4")
    page.fill("[name=satisfaction_comment]", "Clean, thank you")
    owner.shot("01-owner-rates-the-technicians-work")
    page.click("[data-testid=owner-task-form] button.primary")
    assert page.locator("[data-testid=case-status]").inner_text() == "Completed and rated. Thank you."

    # 1 February, a minute before nine: the worker has nothing for January yet; at nine it
    # starts the monthly round, one appraisal per technician, customer-service and
    # supervisor account for January.
    manager = person("mgr_wu")  # reads English
    clock.set(shanghai(1, 8, 59))
    fire_timers(live_app)
    page = manager.go("/appraisals")
    assert page.locator("[data-testid=period][data-period='2026-01-01']").count() == 0
    clock.set(shanghai(1, 9, 0, 30))
    fire_timers(live_app)
    page = manager.go("/appraisals")
    january = page.locator("[data-testid=period][data-period='2026-01-01'] [data-testid=appraisal-row]")
    assert [january.nth(i).get_attribute("data-username") for i in range(january.count())] == [
        "cs_zhang", "sup_zhao", "tech_chen", "tech_liu"]
    assert appraisal_row(page).get_attribute("data-status") == "reviewing"
    assert appraisal_row(page).locator("[data-testid=score]").inner_text() == "—"
    appraisal_url = appraisal_row(page).locator("a").first.get_attribute("href")
    manager.shot("02-manager-sees-the-round")

    # 2 February: the supervisor reviews tech_liu from the worklist, the facts on the form.
    clock.set(shanghai(2, 10))
    supervisor = person("sup_zhao")
    use_language(supervisor, "en")
    page = open_task(supervisor, KEY, "Task_ReviewBySupervisor")
    assert {name: read_only(page, name) for name in FACTS_ON_THE_FORM} == FACTS_ON_THE_FORM
    assert read_only(page, "staff_name") == "刘师傅 Liu"
    # A score out of range is refused on its field, and nothing moves on.
    page.fill("[name=assessment]", ASSESSMENT)
    page.fill("[name=score]", "150")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("[data-testid=task-form] button.primary")
    assert answer.value.status == 422
    error = page.locator("p.error[data-field=score]")
    assert error.is_visible() and error.inner_text() == "Number must be between 0 and 100."
    assert page.locator("[name=score]").get_attribute("aria-invalid") == "true"
    assert page.locator("[name=assessment]").input_value() == ASSESSMENT  # kept for the retry
    supervisor.shot("03-supervisor-score-out-of-range")
    assert appraisal_row(supervisor.go("/appraisals")).get_attribute("data-status") == "reviewing"
    page = open_task(supervisor, KEY, "Task_ReviewBySupervisor")
    complete(supervisor, {"assessment": ASSESSMENT, "score": "92"}, "04-supervisor-reviews")

    # 3 February: tech_liu finds the acknowledgement on his worklist.
    clock.set(shanghai(3, 9, 30))
    technician = person("tech_liu")
    use_language(technician, "en")
    page = open_task(technician, KEY, "Task_Acknowledge", scope="mine")
    task_url = page.url.replace(live_app.config["BASE_URL"], "")
    assert read_only(page, "score") == "92"
    assert read_only(page, "reviewer") == "sup_zhao"
    assert read_only(page, "assessment") == ASSESSMENT
    assert read_only(page, "average_score_text") == "4.50"
    technician.shot("05-technician-reads-the-appraisal")

    # Another technician cannot open it: not the task, the appraisal, tech_liu's profile or
    # the appraisals, though his own profile opens.
    colleague = person("tech_chen")
    use_language(colleague, "en")
    assert colleague.go("/staff/me").locator("[data-testid=username]").inner_text() == "tech_chen"
    for path, status, shot in ((appraisal_url, 404, "06-colleague-cannot-open-the-appraisal"),
                               ("/staff/tech_liu", 403, "07-colleague-cannot-open-the-profile"),
                               (task_url, 404, None), ("/appraisals", 403, None)):
        assert colleague.page.goto(f"{colleague.base_url}{path}").status == status, path
        assert KEY not in colleague.page.content() and ASSESSMENT not in colleague.page.content()
        if shot:
            colleague.shot(shot)

    # tech_liu acknowledges with a comment.
    page = technician.go(task_url)
    complete(technician, {"staff_comment": COMMENT}, "08-technician-acknowledges")
    page = technician.go(appraisal_url)
    assert page.locator("[data-testid=status]").get_attribute("data-status") == "approving"
    assert page.locator("[data-testid=comment]").inner_text() == COMMENT

    # 4 February: the manager approves; the decision table proposes a bonus, which the
    # manager approves as proposed.
    clock.set(shanghai(4, 15))
    page = open_task(manager, KEY, "Task_Approve")
    assert read_only(page, "acknowledged_text") == "已确认 Acknowledged 2026-02-03 09:30"
    assert read_only(page, "staff_comment") == COMMENT
    assert read_only(page, "score") == "92"
    complete(manager, {"decision": "approve"}, "09-manager-approves")
    page = open_task(manager, KEY, "Task_DecideSanction")
    assert (read_only(page, "proposal"), read_only(page, "measure"), read_only(page, "reason")) == (
        "reward", "bonus", BONUS_REASON)
    assert page.locator("[name=sanction_measure]").input_value() == "bonus"
    assert page.locator("[name=sanction_reason]").input_value() == BONUS_REASON
    assert page.locator("[name=sanction_evidence]").input_value() == f"{KEY} 绩效考核 appraisal"
    complete(manager, {"sanction_decision": "approve"}, "10-manager-approves-the-bonus")

    # tech_liu's profile: January approved with 92, and the bonus with its reason.
    page = technician.go("/staff/me")
    assert page.url.endswith("/staff/tech_liu")
    row = page.locator("[data-testid=appraisals] [data-testid=appraisal][data-period='2026-01-01']")
    assert row.get_attribute("data-status") == "approved"
    assert row.locator("[data-testid=score]").inner_text() == "92"
    assert row.locator("[data-testid=proposal]").inner_text() == "Reward"
    assert "Approved" in row.inner_text() and "mgr_wu · 2026-02-04 15:00" in row.inner_text()
    assert row.locator("[data-testid=comment]").inner_text() == COMMENT
    assert row.locator("ul.facts li").all_inner_texts() == [
        "Tasks completed: 4", "Deadlines met: 2 of 2", "Owners' scores: 4.50 from 2 ratings",
        "Spot checks failed: 0 of 0", "Rectifications: 0", "Rectifications overdue: 0", "Complaints: 0"]
    december = page.locator("[data-testid=appraisal][data-period='2025-12-01']")
    assert december.get_attribute("data-status") == "reviewing"  # the demo's round, untouched
    rewards = page.locator("[data-testid=sanctions] [data-testid=sanction]")
    assert rewards.count() == 1
    assert (rewards.get_attribute("data-kind"), rewards.get_attribute("data-measure")) == ("reward", "bonus")
    cells = rewards.locator("td").all_inner_texts()
    assert cells == ["2026-02-04 15:00", "Reward", "Bonus", BONUS_REASON, f"{KEY} 绩效考核 appraisal", KEY,
                     "the rules", "mgr_wu"]
    assert rewards.locator("[data-testid=evidence-link]").get_attribute("href") == appraisal_url
    technician.shot("11-technician-profile")

    # The appraisal's own page, for the manager: the figures and every step.
    page = manager.go(appraisal_url)
    assert page.locator("[data-testid=status]").get_attribute("data-status") == "approved"
    assert page.locator("[data-testid=fact-value]").all_inner_texts() == FACTS_ON_THE_PAGE
    assert page.locator("[data-testid=open-tasks]").count() == 0
    assert page.locator("[data-testid=proposal]").inner_text() == "Reward"
    manager.shot("12-manager-sees-the-appraisal")

    # The manager's appraisals: January's shows tech_liu approved with the bonus.
    page = manager.go("/appraisals?period=2026-01-01")
    row = appraisal_row(page)
    assert row.get_attribute("data-status") == "approved"
    assert row.locator("td").all_inner_texts()[1:] == [
        "Approved", "92", "Reward", "Reward: Bonus", "sup_zhao", "mgr_wu"]
    assert page.locator("[data-testid=appraisal-row][data-status=approved]").count() == 1
    manager.shot("13-manager-appraisals")

    # The register of rewards and penalties lists it.
    page = manager.go("/appraisals/sanctions")
    registered = page.locator("[data-testid=sanctions] [data-testid=sanction]")
    assert registered.count() == 1
    assert registered.locator("td").all_inner_texts() == [
        "2026-02-04 15:00", "刘师傅 Liu tech_liu", "Reward", "Bonus", BONUS_REASON,
        f"{KEY} 绩效考核 appraisal", KEY, "the rules", "mgr_wu"]
    manager.shot("14-register")

    # tech_liu reads his profile in Chinese, his account's language.
    use_language(technician, "zh_CN")
    page = technician.go("/staff/me")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "工作台" in page.locator("nav").first.inner_text()
    row = page.locator("[data-testid=appraisal][data-period='2026-01-01']")
    assert "评分" in page.locator("[data-testid=appraisals] th").all_inner_texts()
    assert row.get_attribute("data-status") == "approved"
    assert row.locator("[data-testid=score]").inner_text() == "92"
    rewards = page.locator("[data-testid=sanctions] [data-testid=sanction]")
    assert rewards.get_attribute("data-measure") == "bonus" and BONUS_REASON in rewards.inner_text()
    technician.shot("15-technician-profile-zh")
