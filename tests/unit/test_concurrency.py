"""Two people completing the same task at once: exactly one wins, the other is told."""

import contextlib
import threading

import pytest
from sqlalchemy import func, select

from engine import ConcurrentUpdate, Conflict, TaskNotReady, WorkflowEngine, runtime
from engine.models import AuditAction, UserTaskCandidate
from tests.conftest import FIXTURES

APPROVAL = {"approval.bpmn": (FIXTURES / "approval.bpmn").read_bytes()}


def race(engines, action):
    """Run ``action(engine)`` in one thread per engine, released together."""
    barrier = threading.Barrier(len(engines))
    outcomes: list = [None] * len(engines)

    def run(index, engine):
        barrier.wait(timeout=10)
        try:
            outcomes[index] = action(engine)
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def approvals(engine):
    engine.deploy(APPROVAL, name="approval")
    return engine


def test_two_concurrent_completions_one_wins(approvals, sa_engine, clock):
    task_id = approvals.start("approval", {"amount": 1}).open_tasks[0].id
    engines = [approvals, WorkflowEngine(sa_engine, clock)]
    outcomes = race(engines, lambda e: e.complete_user_task(
        task_id, {"approved": True, "comment": f"by {id(e)}"}, user=f"user{id(e)}"))
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], Conflict), losers[0]
    history = approvals.history(winners[0].id)
    assert len([h for h in history if h.action == AuditAction.TASK_COMPLETED]) == 1


def test_lost_update_is_refused_even_when_both_read_first(approvals, sa_engine, clock, monkeypatch):
    """Both commands load the same version before either writes (forced with a barrier
    where the database allows it): the second write must fail its version check."""
    started = approvals.start("approval", {"amount": 1})
    task_id = started.open_tasks[0].id
    both_loaded = threading.Barrier(2)
    real_advance = runtime.advance

    def advance_after_both_loaded(workflow, *args):
        # SQLite serializes writers up front: there the second cannot have loaded yet.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_loaded.wait(timeout=2)
        return real_advance(workflow, *args)

    monkeypatch.setattr(runtime, "advance", advance_after_both_loaded)
    engines = [approvals, WorkflowEngine(sa_engine, clock)]
    outcomes = race(engines, lambda e: e.complete_user_task(task_id, {"approved": True}, user="u"))
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    loser = next(o for o in outcomes if isinstance(o, Exception))
    # PostgreSQL lets both read: the row version refuses the second write. SQLite queues
    # the second writer, which then finds the task gone.
    expected = ConcurrentUpdate if sa_engine.dialect.name == "postgresql" else TaskNotReady
    assert isinstance(loser, expected), repr(loser)
    assert approvals.instance(started.id).end_event_id == "EndApproved"


def test_completing_a_task_someone_else_finished_names_them(approvals):
    task_id = approvals.start("approval", {"amount": 1}).open_tasks[0].id
    approvals.complete_user_task(task_id, {"approved": True}, user="wang")
    with pytest.raises(Conflict, match="already completed by wang"):
        approvals.complete_user_task(task_id, {"approved": False}, user="li")


def test_a_completion_checks_the_task_it_completes(approvals, sa_engine):
    """``prepare`` (a caller's permission check and form parsing) sees the task as the
    command read it, inside the command's transaction: what it returns is completed, and
    when it refuses nothing is written."""
    started = approvals.start("approval", {"amount": 1})
    task_id = started.open_tasks[0].id
    approvals.claim(task_id, user="wang")
    before = approvals.instance(started.id)
    history = approvals.history(started.id)

    class Refused(Exception):
        pass

    def refuse(task):
        assert (task.id, task.assignee, task.data["amount"]) == (task_id, "wang", 1)
        task.data["amount"] = 99  # the caller's copy: the case keeps its own
        raise Refused

    with pytest.raises(Refused):
        approvals.complete_user_task(task_id, user="li", prepare=refuse)
    after = approvals.instance(started.id)
    assert after.row_version == before.row_version and after.variables["amount"] == 1
    assert [t.id for t in after.open_tasks] == [task_id] and approvals.history(started.id) == history

    seen = []
    done = approvals.complete_user_task(task_id, user="wang", prepare=lambda task: seen.append(task.assignee)
                                        or {"approved": True, "comment": "checked"})
    assert seen == ["wang"] and done.variables["comment"] == "checked"
    with sa_engine.connect() as connection:  # the worklist row went, and its candidates with it
        assert connection.scalar(select(func.count()).select_from(UserTaskCandidate).where(
            UserTaskCandidate.task_id == task_id)) == 0
    with pytest.raises(TaskNotReady):
        approvals.complete_user_task(task_id, user="wang", prepare=lambda task: seen.append("again") or {})
    assert seen == ["wang"]  # a task no longer open is not offered to the check


def test_a_completion_committed_between_the_task_read_and_the_rest_is_a_conflict(approvals, sa_engine, clock,
                                                                                 monkeypatch):
    """Someone else completes the task after this command read it but before it read the
    case's other rows (PostgreSQL: each statement sees the latest commit): the check must not
    see a task without its candidates (a 404 to the user) — the answer is the lost race."""
    if sa_engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers before their first read")
    task_id = approvals.start("approval", {"amount": 1}).open_tasks[0].id
    other = WorkflowEngine(sa_engine, clock)
    real = WorkflowEngine._task_and_instance.__func__

    def read_then_someone_else_completes(cls, session, read_id):
        found = real(cls, session, read_id)
        monkeypatch.undo()
        other.complete_user_task(read_id, {"approved": True}, user="wang")
        return found

    monkeypatch.setattr(WorkflowEngine, "_task_and_instance", classmethod(read_then_someone_else_completes))
    checked = []
    with pytest.raises(TaskNotReady, match="already completed by wang"):
        approvals.complete_user_task(task_id, user="li", prepare=lambda task: checked.append(task) or {
            "approved": False})
    assert checked == []


def test_claim_conflicts(approvals):
    task_id = approvals.start("approval", {"amount": 1}).open_tasks[0].id
    assert approvals.claim(task_id, user="wang").assignee == "wang"
    with pytest.raises(Conflict, match="already claimed by wang"):
        approvals.claim(task_id, user="li")
    assert approvals.assign(task_id, "li", by="supervisor").assignee == "li"
    assert approvals.unclaim(task_id, user="li").assignee is None
    actions = [h.action for h in approvals.history(approvals.task(task_id).instance_id)]
    assert actions.count(AuditAction.TASK_CLAIMED) == 1
    assert AuditAction.TASK_ASSIGNED in actions and AuditAction.TASK_UNCLAIMED in actions
