"""Assignments that race on PostgreSQL, forced into the worst order: a command has read the
task's row when another command's change to it commits. Under READ COMMITTED the instance
read after that would already show the other change's row version, so the version check
alone would let the stale assignee check stand and overwrite the other change. (SQLite
takes the write lock before the first read: the other command waits, the order cannot
happen.)"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from engine import ConcurrentUpdate, WorkflowEngine
from engine.models import AuditAction, UserTask
from tests.conftest import FIXTURES

FILES = {"fault_work.bpmn": (FIXTURES / "fault_work.bpmn").read_bytes()}
POSTGRESQL_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def task_id(engine):
    engine.deploy(FILES, name="faults")
    started = engine.start("fault_work", {"ref": "R-1"})
    return next(t.id for t in started.open_tasks if t.element_id == "Task_Fill")


def after_reading_the_task(action, meanwhile):
    """Run ``action`` in a thread; as soon as it has loaded the task's row, run
    ``meanwhile`` to its commit, then let ``action`` go on. Returns what ``action`` returned
    or raised."""
    loaded = threading.Event()
    other_done = threading.Event()
    acting = threading.current_thread

    def on_load(_session, obj):
        if isinstance(obj, UserTask) and acting().name == "racer" and not loaded.is_set():
            loaded.set()
            assert other_done.wait(timeout=30), "the other command did not finish"

    outcome: list = []

    def run():
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    event.listen(Session, "loaded_as_persistent", on_load)
    try:
        racer = threading.Thread(target=run, name="racer")
        racer.start()
        assert loaded.wait(timeout=30)
        meanwhile()
        other_done.set()
        racer.join(timeout=60)
    finally:
        event.remove(Session, "loaded_as_persistent", on_load)
    return outcome[0]


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_an_assignment_from_a_stale_view_loses_to_a_claim_committed_meanwhile(engine, sa_engine, clock,
                                                                             task_id):
    other = WorkflowEngine(sa_engine, clock)
    outcome = after_reading_the_task(
        lambda: engine.assign(task_id, "cs2", by="sup1", expected_assignee=None),
        lambda: other.claim(task_id, user="cs1"))
    assert isinstance(outcome, ConcurrentUpdate), outcome
    assert engine.task(task_id).assignee == "cs1"  # the claim stands
    actions = [h.action for h in engine.history(engine.task(task_id).instance_id)]
    assert AuditAction.TASK_ASSIGNED not in actions


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_giving_back_loses_to_a_reassignment_committed_meanwhile(engine, sa_engine, clock, task_id):
    engine.claim(task_id, user="cs1")
    other = WorkflowEngine(sa_engine, clock)
    outcome = after_reading_the_task(
        lambda: engine.unclaim(task_id, user="cs1", expected_assignee="cs1"),
        lambda: other.assign(task_id, "cs3", by="sup1", expected_assignee="cs1"))
    assert isinstance(outcome, ConcurrentUpdate), outcome
    assert engine.task(task_id).assignee == "cs3"  # the reassignment stands


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_a_claim_loses_to_a_claim_committed_meanwhile(engine, sa_engine, clock, task_id):
    other = WorkflowEngine(sa_engine, clock)
    outcome = after_reading_the_task(lambda: engine.claim(task_id, user="cs2"),
                                     lambda: other.claim(task_id, user="cs1"))
    assert isinstance(outcome, ConcurrentUpdate), outcome
    assert engine.task(task_id).assignee == "cs1"
