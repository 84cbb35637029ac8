"""The review pages in a real browser: bpmn-js draws the diagram under the app's CSP, and
the case's trail and the version's counts are on the rendered SVG."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e.test_quality_journey import fire_timers

DIAGRAM = "#diagram[data-state=ready]"


def shape(page, element_id: str):
    return page.locator(f"#diagram svg g.djs-element[data-element-id={element_id}]")


def stroke(page, element_id: str) -> str:
    return shape(page, element_id).locator(".djs-visual > :first-child").evaluate(
        "node => getComputedStyle(node).stroke")


def classes(page, element_id: str) -> set[str]:
    return set(shape(page, element_id).get_attribute("class").split())


def note(page, element_id: str) -> str:
    return page.locator(f".djs-overlays[data-container-id={element_id}] .diagram-note").inner_text()


GREEN, BLUE, RED = "rgb(46, 125, 50)", "rgb(21, 101, 192)", "rgb(198, 40, 40)"


def test_case_and_process_pages_mark_the_rendered_diagram(person, live_app, clock):
    reviewer = person("mgr_wu")  # reads English
    refused = []
    reviewer.page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))

    # The half-way request, found by its number.
    page = reviewer.go("/review/cases?key=SR-DEMO-004&match=exact")
    page.locator("[data-testid=result] a", has_text="SR-DEMO-004").click()
    page.wait_for_selector(DIAGRAM)
    assert {"djs-shape", "done"} <= classes(page, "Task_Register") and stroke(page, "Task_Register") == GREEN
    assert "active" in classes(page, "Task_Acceptance") and stroke(page, "Task_Acceptance") == BLUE
    assert "done" in classes(page, "Gateway_Accepted")
    assert {"djs-connection", "taken"} <= classes(page, "Flow_ToReview")
    assert shape(page, "Flow_ToReview").locator(".djs-visual > path").evaluate(
        "node => getComputedStyle(node).stroke") == GREEN
    for untouched in ("Flow_Reject", "EndEvent_Rejected", "Task_WorkPlumbing", "Task_Rate"):
        assert not {"done", "taken", "active"} & classes(page, untouched), untouched
    assert note(page, "Task_Register") == "cs_zhang · 01-05 17:00 · 0 min"
    assert note(page, "Task_Acceptance") == "owner_li · waiting 0 min"
    assert page.locator("[data-testid=history] tr[data-action=task_completed]").count() == 6
    reviewer.shot("01-case-half-way")

    # Zooming in keeps the marks.
    before = page.evaluate("document.querySelector('#diagram .viewport').getAttribute('transform')")
    page.click("[data-zoom=in]")
    assert page.evaluate("document.querySelector('#diagram .viewport').getAttribute('transform')") != before
    assert "done" in classes(page, "Task_Register")

    # Its version: how many cases wait at or have passed each element.
    page.locator("[data-testid=case-version]").click()
    page.wait_for_selector(DIAGRAM)
    badges = page.locator(".djs-overlays[data-container-id=Task_Register] .badge")
    assert badges.all_inner_texts() == ["1", "5"]
    acceptance = page.locator(".djs-overlays[data-container-id=Task_Acceptance] [data-count=open]")
    assert acceptance.inner_text() == "1"
    assert page.locator(".djs-overlays[data-container-id=BoundaryEvent_HandlingDeadline] "
                        "[data-count=timer]").inner_text() == "2"
    reviewer.shot("02-process-counts")

    # A day later the response deadline of SR-DEMO-002 has passed: red on its diagram.
    clock.set(datetime(2026, 1, 6, 11, 0, tzinfo=UTC))
    fire_timers(live_app)
    page = reviewer.go("/review/cases?key=SR-DEMO-002&match=exact")
    page.locator("[data-testid=result] a", has_text="SR-DEMO-002").click()
    page.wait_for_selector(DIAGRAM)
    assert "breached" in classes(page, "BoundaryEvent_ResponseDeadline")
    assert stroke(page, "BoundaryEvent_ResponseDeadline") == RED
    assert {"active", "breached"} <= classes(page, "Task_Review") and stroke(page, "Task_Review") == RED
    assert "late" in classes(page, "SubProcess_Intake")
    assert "active" in classes(page, "Task_ResponseOverdue")
    assert note(page, "BoundaryEvent_ResponseDeadline").startswith("Response deadline missed")
    assert page.locator("[data-testid=case-breached]").is_visible()
    reviewer.shot("03-case-deadline-missed")
    assert refused == []
