"""The service request end to end in a real browser, across separate sign-ins, checking
what each person sees; once in each language. Screenshots land in test-artifacts/e2e/."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_web import PNG

LANGUAGE = {
    "en": {"worklist": "Worklist", "waiting_register": "Customer service will register your request.",
           "rate": "Please rate the service.", "done": "Completed and rated. Thank you.",
           "emergency": "Emergency"},
    "zh_CN": {"worklist": "工作台", "waiting_register": None, "rate": None, "done": None,
              "emergency": "紧急"},
}


def use_language(someone, locale: str) -> None:
    """Switch with the header button until the page speaks ``locale``."""
    page = someone.page
    wanted = "zh-CN" if locale == "zh_CN" else "en"
    if page.locator("html").get_attribute("lang") != wanted:
        page.click("[data-testid=language]")
    assert page.locator("html").get_attribute("lang") == wanted


def open_task(someone, business_key: str, element: str, scope: str = "offered"):
    page = someone.go(f"/tasks/?scope={scope}")
    row = page.locator(f"tr[data-element={element}]", has_text=business_key)
    assert row.count() == 1, f"{someone.username} does not see {element} of {business_key}"
    row.locator("a").first.click()
    page.wait_for_selector("[data-testid=task-form]")
    return page


def complete(someone, fields: dict, shot: str):
    page = someone.page
    for name, value in fields.items():
        target = page.locator(f"[name={name}]")
        if target.evaluate("e => e.tagName") == "SELECT":
            target.select_option(value)
        elif target.get_attribute("type") == "checkbox":
            target.set_checked(bool(value))
        else:
            target.fill(value)
    someone.shot(shot)
    page.click("[data-testid=task-form] button.primary")
    page.wait_for_load_state()
    assert "/tasks/" in page.url and "flash success" in page.content(), page.content()[:2000]


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_request_from_submission_to_acceptance(person, live_app, locale):
    words = LANGUAGE[locale]

    # The owner submits online, with a photo.
    owner = person("owner_wang")
    use_language(owner, locale)
    page = owner.go("/requests/new")
    page.select_option("[name=service_type]", "plumbing")
    page.fill("[name=description]", "厨房下水道堵塞 The kitchen drain is blocked")
    page.set_input_files("[name=photos]", files=[{"name": "drain.png", "mimeType": "image/png",
                                                   "buffer": PNG}])
    owner.shot("01-owner-submits")
    page.click("[data-testid=request-form] button.primary")
    status = page.locator("[data-testid=case-status]")
    if words["waiting_register"]:
        assert status.inner_text() == words["waiting_register"]
    business_key = re.search(r"SR-\d{8}-[0-9A-F]{6}", page.content()).group(0)
    owner_case = page.url.replace(live_app.config["BASE_URL"], "")
    assert page.locator(".photos img").count() == 1
    owner.shot("02-owner-sees-status")

    # Customer service registers it.
    cs = person("cs_zhang")
    use_language(cs, locale)
    assert words["worklist"] in cs.page.content()
    open_task(cs, business_key, "Task_Register")
    assert cs.page.locator(".photos img").count() == 1  # the owner's photo beside the form
    complete(cs, {"registration_note": "已电话联系 Called the owner"}, "03-cs-registers")

    # The supervisor classifies it as an emergency.
    supervisor = person("sup_zhao")
    use_language(supervisor, locale)
    open_task(supervisor, business_key, "Task_Review")
    complete(supervisor, {"decision": "approve", "priority": "emergency"}, "04-supervisor-reviews")
    worklist = supervisor.go("/tasks/?scope=all&priority=emergency")
    assert worklist.locator("tr", has_text=business_key).locator(".prio.emergency").count() == 1
    supervisor.go("/tasks/?scope=all")
    supervisor.shot("04b-supervisor-worklist")

    # Customer service proposes the time: agreed on the phone (Chinese run), or the
    # owner confirms it online (English run).
    open_task(cs, business_key, "Task_Confirm")
    by_phone = locale == "zh_CN"
    complete(cs, {"confirmed_time": "2026-01-05T11:00", "confirmed_by_phone": by_phone},
             "05-cs-confirms")
    if not by_phone:
        page = owner.go(owner_case)
        page.select_option("[name=time_answer]", "accept")
        owner.shot("05b-owner-confirms-time")
        page.click("[data-testid=owner-task-form] button.primary")
        assert page.locator("[data-testid=owner-task-form]").count() == 0
    # The supervisor dispatches a plumber.
    technician = person("tech_chen")
    assert technician.go("/tasks/?scope=mine").locator("tr", has_text=business_key).count() == 0
    open_task(supervisor, business_key, "Task_Dispatch")
    complete(supervisor, {"technician": "tech_chen"}, "06-supervisor-dispatches")

    # The technician works through the checklist and records the service.
    use_language(technician, locale)
    open_task(technician, business_key, "Task_WorkPlumbing", scope="mine")
    complete(technician, {"sop_shut_valve": True, "sop_protect_floor": True,
                          "sop_pressure_test": True, "sop_site_clean": True}, "07-technician-works")
    open_task(technician, business_key, "Task_Record", scope="mine")
    complete(technician, {"work_content": "疏通下水管 Cleared the drain",
                          "work_started_at": "2026-01-05T10:10", "work_finished_at": "2026-01-05T10:40",
                          "materials": "—"}, "08-technician-records")

    # The owner accepts on site; nobody else could have.
    neighbour = person("owner_li")
    assert "404" in neighbour.go(owner_case).content()
    page = owner.go(owner_case)
    page.select_option("[name=acceptance]", "accepted")
    owner.shot("09-owner-accepts")
    page.click("[data-testid=owner-task-form] button.primary")
    if words["rate"]:
        assert page.locator("[data-testid=case-status]").inner_text() == words["rate"]

    # …and rates it.
    page.fill("[name=satisfaction]", "5")
    page.fill("[name=satisfaction_comment]", "师傅准时又专业 On time and professional")
    owner.shot("10-owner-rates")
    page.click("[data-testid=owner-task-form] button.primary")
    if words["done"]:
        assert page.locator("[data-testid=case-status]").inner_text() == words["done"]
    assert page.locator("[data-testid=owner-task-form]").count() == 0
    owner.shot("11-owner-sees-done")
