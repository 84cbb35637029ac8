"""The monthly satisfaction survey (R-3.2, S-3) on the engine alone: a campaign samples owners,
sends each a questionnaire, collects for two weeks and has the results reviewed; a
questionnaire is answered, followed up (starting a rectification when one is needed), reminded
or closed unanswered — straight through and reloaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import AuditAction, InstanceStatus, InvalidTaskData, WorkflowEngine
from tests.conftest import FACT_STEPS, read_files

FILES = read_files("satisfaction_survey.bpmn", "survey_questionnaire.bpmn", "rectification.bpmn")
PERIOD = {"period_start": "2025-12-01", "period_end": "2025-12-31"}
SUMMARY = {"responses": 2, "response_rate": 100, "average_score": 3.5, "satisfaction_rate": 50,
           "low_scores": 1, "meets_target": False}
PLEASED = {"satisfaction": 5, "response_speed": 4, "staff_attitude": 5, "work_quality": 4}
UNHAPPY = {"satisfaction": 2, "response_speed": 2, "staff_attitude": 3, "work_quality": 2,
           "comments": "报修三天才来人 Three days before anyone came"}
SENT_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the ManualClock's start
NOTE = "已道歉并说明新的报修流程 Apologised, explained the new repair line"


class Survey:
    """The two survey processes deployed with fake application services that log their calls."""

    def __init__(self, sa_engine, clock, mode, owners):
        self.sa_engine, self.clock, self.mode = sa_engine, clock, mode
        self.calls: list[tuple] = []
        self.services = self._services(list(owners))
        self._engine = WorkflowEngine(sa_engine, clock, services=self.services)
        self._engine.deploy(FILES, name="survey")

    def _services(self, owners):
        def sample(call):
            return {"owners": list(owners), "survey_size": len(owners), **PERIOD}

        def send(call):
            found = call.variables
            for owner in found["owners"]:
                call.start("survey_questionnaire", {
                    "owner_id": owner, "campaign": call.business_key,
                    "period_start": found["period_start"], "period_end": found["period_end"],
                }, business_key=f"{call.business_key}-{owner}")
            self.calls.append(("send", call.business_key))
            return {"sent": len(found["owners"])}

        def summarise(call):
            self.calls.append(("summarise", call.business_key))
            return dict(SUMMARY)

        def record(call):
            found = call.variables
            self.calls.append(("record", found["owner_id"], found["campaign"], found["satisfaction"]))
            return {}

        def rectify(call):
            found = call.variables
            self.calls.append(("rectify", call.business_key, call.actor))
            return {"last_rectification": call.start("rectification", {
                "problem": f"低分回访 Low score {found['satisfaction']}: {found['follow_up_note']}",
                "source": "satisfaction", "source_reference": call.business_key,
                "responsible": found["responsible"], "deadline": found["rectify_by"]},
                business_key=f"RC-{call.business_key}")}

        return {**FACT_STEPS, "propflow.survey.sample": sample, "propflow.survey.send": send,
                "propflow.survey.summarise": summarise, "propflow.satisfaction.record": record,
                "propflow.satisfaction.rectify": rectify}

    @property
    def engine(self) -> WorkflowEngine:
        if self.mode == "straight":
            return self._engine
        return WorkflowEngine(self.sa_engine, self.clock, services=self.services, instance_cache_size=0)

    def questionnaires(self):
        ids = self.engine.find_instances(process_key="survey_questionnaire")
        return sorted((self.engine.instance(i) for i in ids), key=lambda q: q.variables["owner_id"])

    def ask(self, owner="owner_li"):
        return self.engine.start("survey_questionnaire", {"owner_id": owner, "campaign": "SV-1", **PERIOD},
                                 business_key=f"SV-1-{owner}").id

    def do(self, instance_id, element_id, data, user):
        task = next(t for t in self.engine.instance(instance_id).open_tasks if t.element_id == element_id)
        return self.engine.complete_user_task(task.id, data, user=user)


@pytest.fixture(params=["straight", "reload"])
def make(request, sa_engine, clock):
    return lambda owners=("owner_li", "owner_wang"): Survey(sa_engine, clock, request.param, owners)


def test_a_campaign_asks_each_sampled_owner_and_its_results_are_reviewed(make, clock):
    survey = make()
    campaign = survey.engine.start("satisfaction_survey", {}, business_key="SV-1", user="qr_lin")
    assert campaign.status == InstanceStatus.RUNNING and campaign.open_tasks == ()
    assert campaign.variables["sent"] == 2
    li, wang = survey.questionnaires()
    for questionnaire, owner in ((li, "owner_li"), (wang, "owner_wang")):
        answer = questionnaire.open_tasks[0]
        assert (answer.element_id, answer.assignee, answer.candidate_groups) == (
            "Task_Answer", owner, ("owner",))
        assert questionnaire.variables["campaign"] == "SV-1"
        assert questionnaire.variables["period_start"] == "2025-12-01"
    survey.do(li.id, "Task_Answer", PLEASED, "owner_li")
    survey.do(wang.id, "Task_Answer", UNHAPPY, "owner_wang")
    clock.advance(days=14)
    assert survey.engine.fire_due_timers() == 0  # due exactly now: fires the second after
    assert ("summarise", "SV-1") not in survey.calls
    clock.advance(seconds=1)
    assert survey.engine.fire_due_timers() == 1
    review = survey.engine.instance(campaign.id).open_tasks[0]
    assert (review.element_id, review.candidate_groups) == ("Task_ReviewResults", ("quality_reviewer",))
    shown = survey.engine.task(review.id).data
    assert {name: shown[name] for name in SUMMARY} == SUMMARY
    assert survey.calls == [("send", "SV-1"), ("record", "owner_li", "SV-1", 5),
                            ("record", "owner_wang", "SV-1", 2), ("summarise", "SV-1")]
    with pytest.raises(InvalidTaskData) as caught:
        survey.do(campaign.id, "Task_ReviewResults", {"satisfaction_rate": 95}, "qr_lin")
    assert set(caught.value.errors) == {"satisfaction_rate", "conclusion"}
    # A browser sends the read-only figures back unchanged: that is no change.
    echoed = {**{name: str(value) for name, value in SUMMARY.items()}, **PERIOD}
    done = survey.do(campaign.id, "Task_ReviewResults",
                     {**echoed, "conclusion": "响应速度需改进 Response speed needs work"}, "qr_lin")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Reviewed")


def test_an_empty_sample_ends_the_campaign_at_once(make):
    survey = make(owners=())
    campaign = survey.engine.start("satisfaction_survey", {}, business_key="SV-1", user="qr_lin")
    assert (campaign.status, campaign.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_NobodyToAsk")
    assert survey.questionnaires() == [] and survey.calls == []


def test_a_pleased_owner_is_recorded_and_done(make):
    survey = make()
    questionnaire = survey.ask()
    done = survey.do(questionnaire, "Task_Answer", PLEASED, "owner_li")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Answered")
    assert survey.calls == [("record", "owner_li", "SV-1", 5)]


def test_a_low_score_is_recorded_and_followed_up_by_customer_service(make):
    survey = make()
    questionnaire = survey.ask()
    follow_up = survey.do(questionnaire, "Task_Answer", UNHAPPY, "owner_li").open_tasks[0]
    assert survey.calls == [("record", "owner_li", "SV-1", 2)]
    assert (follow_up.element_id, follow_up.candidate_groups) == ("Task_FollowUp", ("customer_service",))
    shown = survey.engine.task(follow_up.id).data
    assert (shown["satisfaction"], shown["comments"]) == (2, UNHAPPY["comments"])
    with pytest.raises(InvalidTaskData) as caught:
        survey.do(questionnaire, "Task_FollowUp", {"satisfaction": 4}, "cs_zhou")
    assert set(caught.value.errors) == {"satisfaction", "follow_up_note"}
    done = survey.do(questionnaire, "Task_FollowUp", {"follow_up_note": NOTE}, "cs_zhou")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_FollowedUp")
    assert done.variables["needs_rectification"] is False
    assert survey.calls == [("record", "owner_li", "SV-1", 2)]  # not ticked: no rectification
    assert survey.engine.find_instances(process_key="rectification") == []


def test_a_follow_up_that_finds_a_service_problem_starts_a_rectification(make):
    survey = make()
    questionnaire = survey.ask()
    survey.do(questionnaire, "Task_Answer", UNHAPPY, "owner_li")
    with pytest.raises(InvalidTaskData) as caught:
        survey.do(questionnaire, "Task_FollowUp", {"follow_up_note": NOTE, "needs_rectification": True},
                  "cs_zhou")
    assert set(caught.value.errors) == {"responsible", "rectify_by"}
    assert survey.engine.find_instances(process_key="rectification") == []
    done = survey.do(questionnaire, "Task_FollowUp", {
        "follow_up_note": NOTE, "needs_rectification": True, "responsible": "sup_zhao",
        "rectify_by": "2026-01-12"}, "cs_zhou")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_FollowedUp")
    assert survey.calls[-1] == ("rectify", "SV-1-owner_li", "cs_zhou")
    [rectification_id] = survey.engine.find_instances(process_key="rectification")
    rectification = survey.engine.instance(rectification_id)
    names = ("problem", "source", "source_reference", "responsible", "deadline")
    assert {name: rectification.variables[name] for name in names} == {
        "problem": f"低分回访 Low score 2: {NOTE}", "source": "satisfaction",
        "source_reference": "SV-1-owner_li", "responsible": "sup_zhao", "deadline": "2026-01-12"}
    assert [(t.element_id, t.assignee) for t in rectification.open_tasks] == [("Task_Rectify", "sup_zhao")]
    assert done.variables["last_rectification"] == rectification_id


def test_reminded_after_five_days_and_closed_unanswered_after_ten(make, clock):
    survey = make()
    questionnaire = survey.ask()
    clock.set(SENT_AT + timedelta(days=5, seconds=1))
    assert survey.engine.fire_due_timers() == 1
    assert [t.element_id for t in survey.engine.instance(questionnaire).open_tasks] == ["Task_Answer"]
    reminders = [e for e in survey.engine.history(questionnaire) if e.action == AuditAction.NOTIFIED]
    assert [(e.element_id, e.data["to"]) for e in reminders] == [("EndEvent_Reminded", "owner_li")]
    clock.set(SENT_AT + timedelta(days=10))
    assert survey.engine.fire_due_timers() == 0
    clock.advance(seconds=1)
    assert survey.engine.fire_due_timers() == 1
    closed = survey.engine.instance(questionnaire)
    assert (closed.status, closed.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_NoAnswer")
    assert survey.calls == []  # nothing to record


@pytest.mark.parametrize(("field", "value"), [("satisfaction", 6), ("satisfaction", 0), ("work_quality", 6),
                                              ("staff_attitude", "很好")])
def test_scores_outside_one_to_five_are_refused(make, field, value):
    survey = make()
    questionnaire = survey.ask()
    with pytest.raises(InvalidTaskData) as caught:
        survey.do(questionnaire, "Task_Answer", {**PLEASED, field: value}, "owner_li")
    assert list(caught.value.errors) == [field]
    assert survey.calls == []


def test_every_score_is_required(make):
    survey = make()
    with pytest.raises(InvalidTaskData) as caught:
        survey.do(survey.ask(), "Task_Answer", {"comments": "没意见 None"}, "owner_li")
    assert set(caught.value.errors) == {"satisfaction", "response_speed", "staff_attitude", "work_quality"}


def test_reviewers_and_managers_may_start_a_campaign_by_hand_but_not_a_questionnaire(make):
    engine = make().engine

    def startable(groups):  # the rectification deployed alongside has starter groups of its own
        return [view.key for view, _ in engine.startable(groups) if view.key != "rectification"]

    assert startable(["quality_reviewer"]) == ["satisfaction_survey"]
    assert startable(["manager"]) == ["satisfaction_survey"]
    assert engine.startable(["owner", "customer_service"]) == []


def test_started_on_the_first_of_the_month_by_the_worker(make, clock):
    engine = make(owners=()).engine
    started = engine.fire_due_schedules()  # 1 January 09:00 in Shanghai (01:00 UTC) is past
    assert [engine.instance(i).business_key for i in started] == ["satisfaction_survey-20260101-0100"]
    assert engine.fire_due_schedules() == []
    assert engine.next_timer_due() == datetime(2026, 2, 1, 1, 0, tzinfo=UTC)
    clock.set(datetime(2026, 2, 1, 0, 59, tzinfo=UTC))
    assert engine.fire_due_schedules() == []
    clock.set(datetime(2026, 2, 1, 1, 0, tzinfo=UTC))
    started = engine.fire_due_schedules()
    assert [engine.instance(i).business_key for i in started] == ["satisfaction_survey-20260201-0100"]


def test_the_third_run_is_on_the_first_of_march(make, clock):
    engine = make(owners=()).engine
    engine.fire_due_schedules()
    clock.set(datetime(2026, 2, 1, 1, 0, tzinfo=UTC))
    engine.fire_due_schedules()
    assert engine.next_timer_due() == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
