"""External tasks (Camunda's fetch-and-lock pattern) and message correlation, on the
engine alone: straight through and reloaded, both databases."""

import threading
from datetime import timedelta

import pytest

from engine import AuditAction, ConcurrentUpdate, InvalidTaskData, WorkflowEngine, queries
from engine.external import LockedByAnotherWorker, MessageNotCorrelated, TopicRequest
from tests import interleave
from tests.conftest import FIXTURES

FILES = {"external_work.bpmn": (FIXTURES / "external_work.bpmn").read_bytes()}
SMS = [TopicRequest("sms", lock_duration_ms=60_000)]


@pytest.fixture(params=["straight", "reload"])
def engines(request, sa_engine, clock):
    kept = WorkflowEngine(sa_engine, clock)
    kept.deploy(FILES, name="external")

    def engine() -> WorkflowEngine:
        fresh = WorkflowEngine(sa_engine, clock, instance_cache_size=0)
        return kept if request.param == "straight" else fresh

    return engine


def open_tasks(engine, instance_id) -> list[str]:
    return sorted(t.element_id for t in engine().instance(instance_id).open_tasks)


def test_a_worker_locks_completes_and_the_case_waits_for_the_message(engines, clock):
    case = engines().start("notify", {"phone": "13800000001"}, business_key="N-1")
    with engines().read_session() as session:  # the review diagram counts it as waiting there
        assert queries.element_counts(session, case.definition_id)["Task_Sms"].open_tasks == 1
    [task] = engines().fetch_and_lock("w1", SMS)
    assert (task.topic, task.element_id, task.business_key, task.variables["phone"]) == (
        "sms", "Task_Sms", "N-1", "13800000001")
    assert task.lock_expires_at == clock.now() + timedelta(minutes=1)
    assert engines().fetch_and_lock("w2", SMS) == []  # locked
    with pytest.raises(LockedByAnotherWorker):
        engines().complete_external_task(task.id, "w2", {})
    engines().complete_external_task(task.id, "w1", {"sms_id": "M-77"})
    assert engines().external_tasks() == []
    [done] = engines().correlate_message("payment_received", business_key="N-1", variables={"amount": 5})
    finished = engines().instance(case.id)
    assert (done.instance_id, done.started, finished.status.value) == (case.id, False, "completed")
    assert (finished.variables["sms_id"], finished.variables["amount"]) == ("M-77", 5)


def test_an_expired_lock_frees_the_task_for_another_worker(engines, clock):
    engines().start("notify", {}, business_key="N-1")
    [first] = engines().fetch_and_lock("w1", SMS)
    clock.advance(minutes=1)
    [again] = engines().fetch_and_lock("w2", SMS)
    assert (again.id, again.worker_id) == (first.id, "w2")
    with pytest.raises(LockedByAnotherWorker):
        engines().complete_external_task(first.id, "w1", {})


def test_failures_retry_after_the_timeout_and_none_left_is_an_incident(engines, clock):
    engines().start("notify", {}, business_key="N-1")
    [task] = engines().fetch_and_lock("w1", SMS)
    engines().fail_external_task(task.id, "w1", message="gateway down", retries=1, retry_timeout_ms=30_000)
    assert engines().fetch_and_lock("w1", SMS) == []
    clock.advance(seconds=30)
    [task] = engines().fetch_and_lock("w1", SMS)
    assert (task.retries, task.error_message) == (1, "gateway down")
    engines().fail_external_task(task.id, "w1", message="still down", details="trace", retries=0)
    clock.advance(days=1)
    assert engines().fetch_and_lock("w1", SMS) == []
    [incident] = engines().external_tasks(topic="sms")
    assert (incident.retries, incident.error_message, incident.error_details) == (0, "still down", "trace")


def test_a_bpmn_error_takes_the_boundary_event_and_an_uncaught_one_changes_nothing(engines):
    case = engines().start("notify", {}, business_key="N-1")
    [task] = engines().fetch_and_lock("w1", SMS)
    with pytest.raises(InvalidTaskData) as caught:
        engines().throw_bpmn_error(task.id, "w1", "NO_SUCH_CODE")
    assert "NO_SUCH_CODE" in str(caught.value.errors)
    assert [t.id for t in engines().external_tasks()] == [task.id]
    engines().throw_bpmn_error(task.id, "w1", "NO_PHONE", variables={"reason": "no mobile number"})
    assert open_tasks(engines, case.id) == ["Task_Call"]
    assert engines().instance(case.id).variables["reason"] == "no mobile number"
    assert engines().external_tasks() == []


def test_a_message_nobody_waits_for_starts_the_process_whose_start_event_catches_it(engines):
    [started] = engines().correlate_message("payment_received", business_key="P-9", variables={"amount": 7})
    instance = engines().instance(started.instance_id)
    assert (started.started, instance.process_key, instance.business_key) == (True, "by_message", "P-9")
    assert open_tasks(engines, instance.id) == ["Task_Check"]
    assert instance.variables["amount"] == 7


def test_ambiguous_or_unmatched_messages_are_refused(engines):
    with pytest.raises(MessageNotCorrelated):
        engines().correlate_message("no_such_message")
    first = engines().start("notify", {}, business_key="N-1")
    second = engines().start("notify", {}, business_key="N-2")
    for task in engines().fetch_and_lock("w1", SMS, max_tasks=5):
        engines().complete_external_task(task.id, "w1", {})
    with pytest.raises(MessageNotCorrelated):
        engines().correlate_message("payment_received")
    assert open_tasks(engines, first.id) == open_tasks(engines, second.id) == []
    delivered = engines().correlate_message("payment_received", all_matches=True)
    assert sorted(d.instance_id for d in delivered) == sorted([first.id, second.id])


def test_a_topic_served_in_process_is_never_handed_out(sa_engine, clock):
    engine = WorkflowEngine(sa_engine, clock, services={"sms": lambda call: {"sms_id": "local"}})
    engine.deploy(FILES, name="external")
    engine.start("notify", {}, business_key="N-1")
    assert engine.fetch_and_lock("w1", SMS) == [] and engine.external_tasks() == []


def test_a_message_that_lost_the_race_for_its_instance_is_a_conflict(engines, sa_engine, clock, monkeypatch):
    """Another command delivers the same message and commits after this one read the waiting
    subscription but before it loaded the instance, which runs on: a lost race (409 over
    REST), not a crash (it was a 500). PostgreSQL allows that interleaving (each statement
    sees the latest commit); SQLite's writers queue up front, so there it cannot happen."""
    if sa_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers before their first read")
    engines().deploy({"fault_work.bpmn": (FIXTURES / "fault_work.bpmn").read_bytes()}, name="fault")
    case = engines().start("fault_work", {"ref": "R-1"}, business_key="F-1")
    other = WorkflowEngine(sa_engine, clock)
    real = WorkflowEngine._subscriptions
    interleaved = []

    def read_then_someone_else_delivers(session, *args, **kwargs):
        found = real(session, *args, **kwargs)
        if not interleaved:
            interleaved.append(True)
            other.correlate_message("fault_signal", business_key="F-1", variables={"signal": "first"})
        return found

    monkeypatch.setattr(WorkflowEngine, "_subscriptions", staticmethod(read_then_someone_else_delivers))
    with pytest.raises(ConcurrentUpdate):
        engines().correlate_message("fault_signal", business_key="F-1", variables={"signal": "second"})
    monkeypatch.undo()
    running = engines().instance(case.id)
    assert running.status.value == "running"
    assert [t.element_id for t in running.open_tasks] == ["Task_Fill"]
    received = [e for e in engines().history(case.id) if e.action == AuditAction.MESSAGE_RECEIVED]
    assert [e.data["variables"] for e in received] == [{"signal": "first"}]
    with pytest.raises(MessageNotCorrelated):  # the retry: nobody waits for it any more
        engines().correlate_message("fault_signal", business_key="F-1", variables={"signal": "second"})


@pytest.mark.parametrize("report", ["failure", "completion"])
def test_a_worker_whose_expired_lock_is_taken_meanwhile_is_refused(engines, sa_engine, clock, monkeypatch,
                                                                   report):
    """w1's lock expired and w2's fetchAndLock takes the task while w1 reports on it: w1
    must read who holds the task after w2 committed, and be refused, not overwrite w2's
    lock (a failure) or finish the task under it (a completion). PostgreSQL only: SQLite's
    writers queue up front."""
    if sa_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers before their first read")
    engines().start("notify", {}, business_key="N-1")
    [first] = engines().fetch_and_lock("w1", SMS)
    clock.advance(minutes=1)
    fetching = WorkflowEngine(sa_engine, clock)
    locked, go = threading.Event(), threading.Event()
    real_view = WorkflowEngine._external_view

    def lock_then_wait(self, *args, **kwargs):  # w2 has locked the task, not yet committed
        locked.set()
        assert go.wait(timeout=30)
        return real_view(self, *args, **kwargs)

    monkeypatch.setattr(fetching, "_external_view", lock_then_wait.__get__(fetching))
    outcomes: dict[str, object] = {}
    w2 = interleave.start(outcomes, "w2", lambda: fetching.fetch_and_lock("w2", SMS))
    assert locked.wait(timeout=30)
    w1_reports = ((lambda: engines().fail_external_task(first.id, "w1", message="gateway down", retries=3))
                  if report == "failure" else (lambda: engines().complete_external_task(first.id, "w1", {})))
    w1 = interleave.start(outcomes, "w1", w1_reports)
    interleave.wait_until_blocked(sa_engine, w1)  # w1 waits for what w2 holds (or went past it)
    go.set()
    w2.join(timeout=60)
    w1.join(timeout=60)
    assert [t.worker_id for t in outcomes["w2"]] == ["w2"], outcomes
    assert isinstance(outcomes["w1"], LockedByAnotherWorker), outcomes
    [task] = engines().external_tasks()
    assert (task.worker_id, task.error_message) == ("w2", None)
