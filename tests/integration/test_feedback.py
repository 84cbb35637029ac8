"""Feedback (R-4.1 … R-4.3), satisfaction surveys (R-3.2) and the quality meeting (R-4.4)
from the web: real HTTP through the test client, the flows' record steps writing the facts."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from engine.models import ProcessInstance
from tests.integration.test_web import task_link, text
from web import workflow_engine
from web.extensions import db
from web.models import FeedbackItem, SatisfactionScore

COMPLAINT = {"subject": "电梯噪音 Lift noise",
             "content": "3号楼电梯运行时噪音很大 The lift in building 3 is very noisy"}


def rows(app, model, *where):
    with app.app_context():
        return db.session.scalars(select(model).where(*where)).all()


def instances(app, key: str) -> list[ProcessInstance]:
    return rows(app, ProcessInstance, ProcessInstance.process_key == key)


def give_feedback(owner, data=COMPLAINT) -> str:
    sent = owner.post("/feedback/new", data, page="/feedback/new")
    assert sent.status_code == 303, text(sent)[:3000]
    return sent.headers["Location"]


def complete(person, element: str, data: dict, scope: str = "offered"):
    url = task_link(text(person.get(f"/tasks/?scope={scope}")), element)
    done = person.post(url, data, page=url)
    assert done.status_code == 302, text(done)[:3000]


def test_an_owner_complaint_is_classified_answered_and_judged(app, demo, browser):
    owner = browser("owner_wang")
    form = text(owner.get("/feedback/new"))
    assert 'name="subject"' in form and 'name="channel"' not in form and 'name="owner_id"' not in form
    refused = owner.post("/feedback/new", {"subject": "x"}, page="/feedback/new")
    assert refused.status_code == 422 and 'data-field="content"' in text(refused)
    assert instances(app, "feedback") == []  # nothing half-started
    case = give_feedback(owner)
    assert "客服正在阅读您的反馈。" in text(owner.get(case))  # owner_wang reads Chinese
    [item] = rows(app, FeedbackItem)
    assert (item.channel, item.owner_id, item.building, item.received_by) == ("online", "owner_wang", "3",
                                                                              "owner_wang")

    cs = browser("cs_zhang")
    complete(cs, "Task_Classify", {"category": "complaint", "urgency": "urgent",
                                   "channel": "online", **COMPLAINT})
    worklist = text(cs.get("/tasks/?scope=offered"))
    order = [(re.search(r'data-element="([^"]+)"', row).group(1),
              (re.search(r'class="prio (\w+)"', row) or re.match("()", "")).group(1))
             for row in worklist.split('data-testid="task-row"')[1:]]
    # Urgent feedback comes right after emergencies, before older requests due sooner.
    assert [p for _, p in order][:2] == ["emergency", "urgent"] and order[1][0] == "Task_Handle"
    handle = task_link(worklist, "Task_Handle")
    missing = cs.post(handle, {"handling_note": "已联系电梯公司 Called the lift company",
                               "reply": "明天检修 Repair tomorrow", "needs_rectification": "y"}, page=handle)
    assert missing.status_code == 422
    assert 'data-field="responsible"' in text(missing) and 'data-field="rectify_by"' in text(missing)
    done = cs.post(handle, {"handling_note": "已联系电梯公司 Called the lift company",
                            "reply": "明天检修 The lift will be repaired tomorrow",
                            "needs_rectification": "y", "responsible": "tech_chen",
                            "rectify_by": "2026-01-09"}, page=handle)
    assert done.status_code == 302, text(done)[:3000]
    [rectification] = instances(app, "rectification")
    with app.app_context():
        variables = workflow_engine().instance(rectification.id).variables
    assert (variables["source"], variables["responsible"]) == ("complaint", "tech_chen")

    page = text(owner.get(case))
    assert "The lift will be repaired tomorrow" in page and 'data-testid="owner-task-form"' in page
    unexplained = owner.post(case, {"reply_satisfied": "no"}, page=case)
    assert unexplained.status_code == 422 and 'data-field="owner_comment"' in text(unexplained)
    assert owner.post(case, {"reply_satisfied": "no", "owner_comment": "还是很吵 Still noisy"},
                      page=case).status_code == 303
    complete(cs, "Task_Handle", {"handling_note": "更换导轨 Rail replaced",
                                 "reply": "已更换导轨 The rail has been replaced"})
    assert owner.post(case, {"reply_satisfied": "yes"}, page=case).status_code == 303
    assert "已解决：您对回复表示满意。" in text(owner.get(case))
    [item] = rows(app, FeedbackItem)
    assert (item.category, item.urgency, item.owner_satisfied, item.replied_by) == (
        "complaint", "urgent", True, "cs_zhang")
    assert item.reply == "已更换导轨 The rail has been replaced"


def test_a_correction_of_the_feedback_record_shows_on_its_page(app, demo, browser):
    case = give_feedback(browser("owner_wang"))
    [item] = rows(app, FeedbackItem)
    record = f"/archive/records/feedback/{item.instance_id}"
    supervisor = browser("sup_zhao")
    assert supervisor.post(record, {"field": "building", "corrected": "5", "reason": "登记错 Wrong block"},
                           page=record).status_code == 303
    assert rows(app, FeedbackItem)[0].building == item.building  # the record keeps what was recorded
    for person in ("sup_zhao", "owner_wang"):
        panel = text(browser(person).get(case)).split('data-testid="corrections"')[1].split("</section>")[0]
        assert 'class="corrected">5<' in panel and "Wrong block" in panel


def test_owners_see_only_their_own_feedback(app, demo, browser):
    case = give_feedback(browser("owner_wang"))
    neighbour = browser("owner_li")
    assert neighbour.get(case).status_code == 404
    assert "FB-" not in text(neighbour.get("/feedback/"))
    assert browser("tech_chen").get(case).status_code == 404
    assert "FB-" in text(browser("mgr_wu").get("/feedback/"))


def test_customer_service_enters_a_letter(app, demo, browser):
    cs = browser("cs_zhang")
    url = "/processes/feedback/start"
    letter = {"channel": "letter", "owner_id": "owner_li", "subject": "表扬保洁 Praise for cleaning",
              "content": "楼道很干净 The stairwell is spotless"}
    undated = cs.post(url, letter, page=url)
    assert undated.status_code == 422 and 'data-field="letter_date"' in text(undated)
    stranger = cs.post(url, {**letter, "letter_date": "2026-01-02", "owner_id": "nobody"}, page=url)
    assert stranger.status_code == 422 and 'data-field="owner_id"' in text(stranger)
    assert instances(app, "feedback") == [] and rows(app, FeedbackItem) == []
    sent = cs.post(url, {**letter, "letter_date": "2026-01-02", "related_request": "SR-DEMO-005"}, page=url)
    assert sent.status_code == 303
    [item] = rows(app, FeedbackItem)
    assert (item.channel, item.owner_id, item.received_by, item.related_request) == (
        "letter", "owner_li", "cs_zhang", "SR-DEMO-005")  # the appraisal counts complaints by it


def test_a_survey_campaign_asks_owners_and_summarises_their_answers(app, demo, browser, runner, clock):
    reviewer = browser("qa_sun")
    assert reviewer.post("/processes/satisfaction_survey/start", {},
                         page="/processes/satisfaction_survey/start").status_code == 303
    assert len(instances(app, "survey_questionnaire")) == 2  # both demo owners
    answers = {"owner_wang": 2, "owner_li": 5}
    for username, score in answers.items():
        owner = browser(username)
        waiting = text(owner.get("/requests/"))
        survey = re.search(r'href="(/feedback/survey/[^"]+)"', waiting).group(1)
        out_of_range = owner.post(survey, {"satisfaction": 6, "response_speed": 4, "staff_attitude": 4,
                                           "work_quality": 4}, page=survey)
        assert out_of_range.status_code == 422 and 'data-field="satisfaction"' in text(out_of_range)
        assert owner.post(survey, {"satisfaction": score, "response_speed": 4, "staff_attitude": 4,
                                   "work_quality": 4, "comments": "—"}, page=survey).status_code == 303
        assert 'data-testid="survey-answered">' in text(owner.get(survey))
    scores = {s.owner_id: (s.kind, s.score) for s in rows(app, SatisfactionScore)}
    assert scores == {"owner_wang": ("survey", 2), "owner_li": ("survey", 5)}
    complete(browser("cs_zhang"), "Task_FollowUp", {"follow_up_note": "已回访 Called back"})

    clock.advance(timedelta(days=14, seconds=1))
    assert runner.invoke(args=["timers", "fire-due"]).exit_code == 0
    review = task_link(text(reviewer.get("/tasks/?scope=offered")), "Task_ReviewResults")
    page = text(reviewer.get(review))
    for name, value in (("responses", "2"), ("response_rate", "100"), ("satisfaction_rate", "50"),
                        ("average_score", "3.5"), ("low_scores", "1")):
        assert re.search(rf'name="{name}"[^>]*value="{value}"|value="{value}"[^>]*name="{name}"', page), name


def test_a_low_score_follow_up_can_start_a_rectification(app, demo, browser):
    assert browser("qa_sun").post("/processes/satisfaction_survey/start", {},
                                  page="/processes/satisfaction_survey/start").status_code == 303
    owner = browser("owner_wang")
    survey = re.search(r'href="(/feedback/survey/[^"]+)"', text(owner.get("/requests/"))).group(1)
    assert owner.post(survey, {"satisfaction": 2, "response_speed": 2, "staff_attitude": 3,
                               "work_quality": 2}, page=survey).status_code == 303
    cs = browser("cs_zhang")
    url = task_link(text(cs.get("/tasks/?scope=offered")), "Task_FollowUp")
    found = {"follow_up_note": "维修不及时 Repairs come late", "needs_rectification": "y"}
    unnamed = cs.post(url, found, page=url)
    assert unnamed.status_code == 422
    assert 'data-field="responsible"' in text(unnamed) and 'data-field="rectify_by"' in text(unnamed)
    found["rectify_by"] = "2026-01-16"
    stranger = cs.post(url, {**found, "responsible": "nobody"}, page=url)
    assert stranger.status_code == 422 and 'data-field="responsible"' in text(stranger)
    assert instances(app, "rectification") == []
    done = cs.post(url, {**found, "responsible": "sup_zhao"}, page=url)
    assert done.status_code == 302, text(done)[:3000]
    [questionnaire] = [q for q in instances(app, "survey_questionnaire") if q.end_event_id]
    assert questionnaire.end_event_id == "EndEvent_FollowedUp"
    [rectification] = instances(app, "rectification")
    with app.app_context():
        started = workflow_engine().instance(rectification.id).variables
    assert {name: started[name] for name in ("problem", "source", "source_reference", "responsible")} == {
        "problem": "低分回访 Low score 2: 维修不及时 Repairs come late", "source": "satisfaction",
        "source_reference": questionnaire.business_key, "responsible": "sup_zhao"}


def test_the_meeting_agenda_comes_from_the_analysis_and_measures_become_rectifications(app, demo, browser):
    manager = browser("mgr_wu")
    assert manager.post("/processes/improvement_meeting/start", {},
                        page="/processes/improvement_meeting/start").status_code == 303
    url = task_link(text(manager.get("/tasks/?scope=offered")), "Task_HoldMeeting")
    page = text(manager.get(url))
    assert "超时 Deadlines breached" in page and "7. 改进措施 Measures to decide" in page
    with app.app_context():
        task = workflow_engine().task(url.rsplit("/", 1)[-1])
    echoed = {k: v for k, v in task.data.items() if k in {f.id for f in task.form.fields}}
    echoed["agenda"] = echoed["agenda"].replace("\n", "\r\n")  # as a browser's text area sends it
    held = manager.post(url, {**echoed, "meeting_date": "2026-01-05", "attendees": "吴经理, 孙质检, 赵强",
                              "minutes": "响应及时率需提高 Response times must improve", "has_measures": "y"},
                        page=url)
    assert held.status_code == 302, text(held)[:3000]
    for number, (who, another) in enumerate((("tech_chen", "y"), ("sup_zhao", "")), start=1):
        measure = task_link(text(manager.get("/tasks/?scope=offered")), "Task_RecordMeasure")
        sent = manager.post(measure, {"measure": f"第{number}项改进措施 Measure {number}", "responsible": who,
                                      "deadline": "2026-01-31", "another_measure": another}, page=measure)
        assert sent.status_code == 302, text(sent)[:3000]
    with app.app_context():
        started = [workflow_engine().instance(r.id).variables for r in instances(app, "rectification")]
        meeting = workflow_engine().instance(instances(app, "improvement_meeting")[0].id)
    assert sorted((v["source"], v["responsible"]) for v in started) == [("meeting", "sup_zhao"),
                                                                         ("meeting", "tech_chen")]
    assert (meeting.end_event_id, meeting.variables["measures_count"]) == ("EndEvent_Held", 2)
