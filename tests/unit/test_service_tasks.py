"""External service tasks whose topic has a registered function run inside the command's
transaction: their results become variables, and they may start other processes."""

import pytest
from sqlalchemy import func, select

from engine import InstanceStatus, InvalidTaskData, ScriptError, WorkflowEngine
from engine.models import ProcessInstance
from tests.conftest import FACT_STEPS, FIXTURES, read_files

FILES = {"sampled_check.bpmn": (FIXTURES / "sampled_check.bpmn").read_bytes(),
         **read_files("rectification.bpmn")}


def sample(call):
    return {"sample": ["SR-1", "SR-2"], "sampled_for": call.business_key}


def rectify(call):
    rectification = call.start("rectification", {
        "problem": f"Spot check {call.business_key} failed", "source": "spot_check",
        "source_reference": call.business_key, "responsible": "tech_chen", "deadline": "2026-01-09"},
        business_key=f"RC-{call.business_key}")
    return {"rectification_id": rectification}


@pytest.fixture
def checks(sa_engine, clock):
    engine = WorkflowEngine(sa_engine, clock, services={
        **FACT_STEPS, "propflow.test.sample": sample, "propflow.test.rectify": rectify})
    engine.deploy(FILES, name="checks")
    return engine


def test_service_result_becomes_variables(checks):
    started = checks.start("sampled_check", {}, business_key="SC-1")
    assert started.variables["sample"] == ["SR-1", "SR-2"]
    assert started.variables["sampled_for"] == "SC-1"
    assert [t.element_id for t in started.open_tasks] == ["Task_Inspect"]


def test_a_failed_check_starts_a_rectification_in_the_same_transaction(checks):
    started = checks.start("sampled_check", {}, business_key="SC-1")
    done = checks.complete_user_task(started.open_tasks[0].id, {"passed": False}, user="sup_zhao")
    assert (done.status, done.end_event_id) == (InstanceStatus.COMPLETED, "EndEvent_Rectifying")
    rectification = checks.instance(done.variables["rectification_id"])
    assert rectification.business_key == "RC-SC-1"
    assert rectification.variables["started_from"] == "SC-1"
    assert [t.assignee for t in rectification.open_tasks] == ["tech_chen"]


def test_a_failing_service_changes_nothing(sa_engine, clock):
    def broken(call):
        raise RuntimeError("sample store unavailable")

    engine = WorkflowEngine(sa_engine, clock, services={"propflow.test.sample": broken})
    engine.deploy(FILES, name="checks")
    with pytest.raises(ScriptError) as caught:
        engine.start("sampled_check", {}, business_key="SC-1")
    assert caught.value.element_id == "Task_Sample" and "unavailable" in str(caught.value)
    with sa_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_a_rectification_that_cannot_start_rolls_the_check_back(checks, sa_engine, clock):
    started = checks.start("sampled_check", {}, business_key="SC-1")
    engine = WorkflowEngine(sa_engine, clock, services={
        "propflow.test.sample": sample,
        "propflow.test.rectify": lambda call: {"id": call.start("rectification", {"problem": "x"})}})
    with pytest.raises(InvalidTaskData):
        engine.complete_user_task(started.open_tasks[0].id, {"passed": False}, user="sup_zhao")
    assert [t.element_id for t in checks.instance(started.id).open_tasks] == ["Task_Inspect"]


def test_a_topic_without_a_function_waits_for_an_external_worker(checks):
    started = checks.start("sampled_check", {}, business_key="SC-1")
    waiting = checks.complete_user_task(started.open_tasks[0].id, {"passed": True}, user="sup_zhao")
    assert waiting.status == InstanceStatus.RUNNING
    assert waiting.open_tasks == ()
