"""Listings that hide confidential instances (personnel records), on the engine alone and on
both databases: an instance of a confidential process is listed only when the variable it
was started with is allowed; other processes are untouched. Every listing, count and
hand-out that can carry an instance's data takes the same rule."""

import pytest

from engine import TaskFilter, WorkflowEngine, listings
from engine.external import MessageNotCorrelated, TopicRequest
from engine.views import Confidential, InstanceFilter, TaskSearch, Visibility
from tests.conftest import FIXTURES

FILES = {name: (FIXTURES / name).read_bytes() for name in ("personnel_appraisal.bpmn", "approval.bpmn")}
NOTIFY = [TopicRequest("test.personnel.notify", lock_duration_ms=60_000)]


def rule(*allowed: str) -> Confidential:
    return Confidential(frozenset({"appraisal", "training_need"}), "staff", frozenset(allowed))


@pytest.fixture
def cases(engine: WorkflowEngine):
    """Two appraisals (tech_a's, tech_b's) and one ordinary approval."""
    engine.deploy(FILES, name="confidential")
    started = {who: engine.start("appraisal", {"staff": who, "reviewer_group": "service_supervisor"},
                                 business_key=f"AP-{who}").id for who in ("tech_a", "tech_b")}
    started["other"] = engine.start("approval", {"amount": 5}, business_key="APPROVAL-1").id
    return started


def keys(views) -> list[str]:
    return sorted(v.business_key for v in views)


@pytest.mark.parametrize(("allowed", "expected"), [
    ((), ["APPROVAL-1"]),
    (("tech_a",), ["AP-tech_a", "APPROVAL-1"]),
    (("tech_a", "tech_b"), ["AP-tech_a", "AP-tech_b", "APPROVAL-1"]),
])
def test_user_tasks_and_their_counts(engine, cases, allowed, expected):
    where = TaskFilter(candidate_groups=("service_supervisor", "managers"), confidential=rule(*allowed))
    assert keys(engine.user_tasks(where)) == expected
    assert engine.count_user_tasks(where) == len(expected)
    assert keys(engine.user_tasks(TaskFilter(candidate_groups=("service_supervisor", "managers")))) == [
        "AP-tech_a", "AP-tech_b", "APPROVAL-1"]  # no rule, nothing hidden


def test_task_search_and_instance_listings(engine, cases):
    hidden_b = rule("tech_a")
    found = listings.tasks(engine, TaskSearch(where=TaskFilter(confidential=hidden_b)))
    assert keys(found) == ["AP-tech_a", "APPROVAL-1"]
    assert listings.count_tasks(engine, TaskSearch(where=TaskFilter(confidential=hidden_b))) == 2
    assert keys(listings.instances(engine, InstanceFilter(confidential=hidden_b))) == [
        "AP-tech_a", "APPROVAL-1"]
    assert listings.count_instances(engine, InstanceFilter(confidential=hidden_b)) == 2
    # The rule also holds inside a visibility's task filters and with the duration sort.
    seen = InstanceFilter(visible=Visibility(tasks=(TaskFilter(candidate_groups=("service_supervisor",),
                                                                confidential=hidden_b),)))
    assert keys(listings.instances(engine, seen)) == ["AP-tech_a"]
    assert keys(listings.instances(engine, InstanceFilter(confidential=hidden_b),
                                   sort=[("duration", False)])) == ["AP-tech_a", "APPROVAL-1"]
    assert {a.instance_id for a in listings.activities(engine, InstanceFilter(confidential=rule()))} == {
        cases["other"]}


def test_external_tasks_are_neither_fetched_nor_listed(engine, cases):
    assert engine.fetch_and_lock("w1", NOTIFY, confidential=rule()) == []
    assert engine.external_tasks(confidential=rule("tech_b")) == [
        t for t in engine.external_tasks() if t.business_key == "AP-tech_b"]
    [locked] = engine.fetch_and_lock("w1", NOTIFY, confidential=rule("tech_b"))
    assert (locked.business_key, locked.variables["staff"]) == ("AP-tech_b", "tech_b")
    assert len(engine.fetch_and_lock("w2", NOTIFY)) == 1  # tech_a's, to a worker with no rule


def test_messages_do_not_reach_hidden_instances(engine, cases):
    with pytest.raises(MessageNotCorrelated):
        engine.correlate_message("personnel_ping", business_key="AP-tech_a", confidential=rule("tech_b"))
    [done] = engine.correlate_message("personnel_ping", business_key="AP-tech_a", confidential=rule("tech_a"))
    assert done.instance_id == cases["tech_a"]
