"""The audit trail is a hash chain: every entry written is chained in id order, by one
writer or several at once, and an edited, removed or cut-off entry is found (A-1, A-2)."""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from alembic import command
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from engine import AuditAction, ChainBreak, WorkflowEngine
from engine.audit_chain import GENESIS, entry_hash
from engine.db import alembic_config, session_factories
from engine.models import AuditChain, AuditEvent
from tests.conftest import FIXTURES

APPROVAL = {"approval.bpmn": (FIXTURES / "approval.bpmn").read_bytes()}
BEFORE_CHAIN = "0005"  # the revision before the chain's migration


@pytest.fixture
def approvals(engine):
    engine.deploy(APPROVAL, name="approval")
    return engine


@contextmanager
def guards_off(sa_engine):
    """What an operator with DDL rights can do: take the append-only triggers away."""
    with sa_engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change")
        yield connection


def entry_ids(sa_engine) -> list[int]:
    with sa_engine.connect() as connection:
        return list(connection.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def work_through(engine, cases: int) -> None:
    """Start ``cases`` approvals and take each through claims, a completion or a cancel."""
    for number in range(cases):
        started = engine.start("approval", {"amount": number + 1}, user="wang")
        task_id = started.open_tasks[0].id
        engine.claim(task_id, user="li")
        engine.unclaim(task_id, user="li")
        if number % 3 == 2:
            engine.cancel(started.id, user="zhao", reason="不再需要")
        else:
            engine.complete_user_task(task_id, {"approved": True, "comment": f"ok {number} ✓"}, user="li")


def test_the_canonical_form_is_fixed():
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    canonical = ('["' + GENESIS + '","2026-01-05T09:00:00.000000+00:00","started","wang","i-1",null,null,'
                 'null,{"a":"王","b":[1,2.5,null]}]')
    assert entry_hash(GENESIS, at=at, action=AuditAction.STARTED, actor="wang", instance_id="i-1",
                      task_id=None, element_id=None, element_name=None,
                      data={"b": [1, 2.5, None], "a": "王"}) == hashlib.sha256(canonical.encode()).hexdigest()


def test_every_field_is_covered():
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    fields = dict(at=at, action="started", actor="wang", instance_id="i", task_id="t", element_id="e",
                  element_name="n", data={"k": 1})
    base = entry_hash(GENESIS, **fields)
    changed = dict(at=at.replace(microsecond=1), action="cancelled", actor="li", instance_id="j",
                   task_id="u", element_id="f", element_name="m", data={"k": 2})
    for name, value in changed.items():
        assert entry_hash(GENESIS, **{**fields, name: value}) != base, name
    assert entry_hash("1" * 64, **fields) != base
    with pytest.raises(ValueError, match="timezone-aware"):
        entry_hash(GENESIS, **{**fields, "at": datetime(2026, 1, 5, 9, 0)})


def test_chain_is_continuous_across_many_commands(approvals, sa_engine):
    work_through(approvals, 9)
    report = approvals.verify_audit_chain(batch_size=7)  # several batches, one partly filled
    ids = entry_ids(sa_engine)
    assert (report.ok, report.checked, report.first_broken_id, report.reason) == (True, len(ids), None, None)
    with sa_engine.connect() as connection:
        rows = connection.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
        head = connection.execute(select(AuditChain)).one()
    assert rows[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(rows))
    assert (head.id, head.last_id, head.last_hash) == (1, rows[-1].id, rows[-1].hash)


def test_an_empty_trail_checks_out(engine):
    report = engine.verify_audit_chain()
    assert (report.ok, report.checked) == (True, 0)


def test_concurrent_writers_still_make_one_chain(approvals, sa_engine, clock):
    """Two engines (two connections) complete different cases at the same time."""
    per_writer = 8
    tasks = [approvals.start("approval", {"amount": n + 1}).open_tasks[0].id for n in range(2 * per_writer)]
    engines = [approvals, WorkflowEngine(sa_engine, clock)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def complete(engine, mine):
        barrier.wait(timeout=10)
        try:
            for task_id in mine:
                engine.complete_user_task(task_id, {"approved": True}, user=f"user{id(engine)}")
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=complete, args=(e, tasks[i::2])) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    report = approvals.verify_audit_chain()
    assert report.ok, report
    assert report.checked == len(entry_ids(sa_engine))
    with sa_engine.connect() as connection:
        completed = connection.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == AuditAction.TASK_COMPLETED))
    assert completed == 2 * per_writer


def test_an_edited_entry_is_found(approvals, sa_engine):
    work_through(approvals, 3)
    ids = entry_ids(sa_engine)
    victim = ids[len(ids) // 2]
    with guards_off(sa_engine) as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.id == victim).values(
            data={"submitted": {"approved": False}}))
    report = approvals.verify_audit_chain(batch_size=4)
    assert (report.ok, report.first_broken_id, report.reason) == (False, victim, ChainBreak.CONTENT)
    assert report.entry.id == victim and report.entry.data == {"submitted": {"approved": False}}
    assert report.previous_id == ids[ids.index(victim) - 1]
    assert report.checked == ids.index(victim) + 1


def test_an_edited_and_rehashed_entry_breaks_the_next_link(approvals, sa_engine):
    work_through(approvals, 2)
    ids = entry_ids(sa_engine)
    victim = ids[3]
    with guards_off(sa_engine) as connection:
        row = connection.execute(select(AuditEvent).where(AuditEvent.id == victim)).one()
        forged = entry_hash(row.prev_hash, at=row.at, action=row.action, actor="someone else",
                            instance_id=row.instance_id, task_id=row.task_id, element_id=row.element_id,
                            element_name=row.element_name, data=row.data)
        connection.execute(update(AuditEvent).where(AuditEvent.id == victim).values(
            actor="someone else", hash=forged))
    report = approvals.verify_audit_chain()
    assert (report.ok, report.first_broken_id, report.reason) == (False, ids[4], ChainBreak.PREVIOUS_HASH)
    assert report.previous_id == victim


def test_a_removed_entry_is_found(approvals, sa_engine):
    work_through(approvals, 3)
    ids = entry_ids(sa_engine)
    with guards_off(sa_engine) as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.id == ids[5]))
    report = approvals.verify_audit_chain(batch_size=5)
    assert (report.ok, report.first_broken_id, report.reason) == (False, ids[6], ChainBreak.PREVIOUS_HASH)
    assert report.previous_id == ids[4]


def test_a_cut_off_end_is_found(approvals, sa_engine):
    work_through(approvals, 2)
    ids = entry_ids(sa_engine)
    with guards_off(sa_engine) as connection:
        connection.execute(delete(AuditEvent).where(AuditEvent.id >= ids[-2]))
    report = approvals.verify_audit_chain()
    assert (report.ok, report.first_broken_id, report.reason) == (False, ids[-1], ChainBreak.HEAD)
    assert (report.entry, report.previous_id, report.checked) == (None, ids[-3], len(ids) - 2)


def test_an_entry_appended_behind_the_heads_back_is_found(approvals, sa_engine):
    approvals.start("approval", {"amount": 1}, user="wang")
    with sa_engine.connect() as connection:
        last = connection.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    fields = dict(at=at, action=AuditAction.CANCELLED, actor="someone", instance_id=last.instance_id,
                  task_id=None, element_id=None, element_name=None, data={})
    with sa_engine.begin() as connection:  # a well-formed link, but not through the engine
        new_id = connection.execute(AuditEvent.__table__.insert().values(
            **fields, prev_hash=last.hash, hash=entry_hash(last.hash, **fields))).inserted_primary_key[0]
    report = approvals.verify_audit_chain()
    assert (report.ok, report.first_broken_id, report.reason) == (False, new_id, ChainBreak.HEAD)
    # The product keeps working (on SQLite the engine numbers its entries itself: after
    # the highest id there, not the head's), and the break is still found: the next entry
    # follows the head, not the intruder.
    started = approvals.start("approval", {"amount": 2}, user="li")
    after = [e.id for e in approvals.history(started.id)]
    assert after and min(after) > new_id
    report = approvals.verify_audit_chain()
    assert (report.ok, report.first_broken_id, report.reason, report.previous_id) == (
        False, min(after), ChainBreak.PREVIOUS_HASH, new_id)


def test_savepoints_rolled_back_leave_no_gap(engine, sa_engine):
    """Entries dropped with a savepoint are not chained on: the next entry follows the last
    one that stayed, in the same transaction and after it."""
    _, write = session_factories(sa_engine)

    def entry(actor):
        return AuditEvent(at=datetime(2026, 1, 5, tzinfo=UTC), action=AuditAction.DEPLOYED, actor=actor,
                          data={})

    with write() as session:
        session.add(entry("kept"))
        session.flush()
        with session.begin_nested() as savepoint:
            session.add_all([entry("dropped"), entry("dropped too")])
            session.flush()
            savepoint.rollback()
        with session.begin_nested():
            session.add(entry("kept in a savepoint"))
        session.add(entry("kept after"))
        session.commit()
    with write() as session:
        session.add(entry("next transaction"))
        session.commit()
    with sa_engine.connect() as connection:
        actors = list(connection.scalars(select(AuditEvent.actor).order_by(AuditEvent.id)))
    assert actors == ["kept", "kept in a savepoint", "kept after", "next transaction"]
    report = engine.verify_audit_chain()
    assert (report.ok, report.checked) == (True, 4), report


def test_entries_written_around_the_engine_are_refused(sa_engine):
    """Sessions that do not chain cannot store an entry: its hashes are required."""
    with pytest.raises(IntegrityError), Session(sa_engine) as session:
        session.add(AuditEvent(at=datetime(2026, 1, 5, tzinfo=UTC), action=AuditAction.DEPLOYED,
                               actor="x", data={}))
        session.commit()


def test_migration_chains_existing_entries(approvals, sa_engine, database_url):
    work_through(approvals, 3)
    count = len(entry_ids(sa_engine))
    sa_engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, BEFORE_CHAIN)
    with sa_engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM audit_event")).keys()
    assert "hash" not in columns
    command.upgrade(config, "head")

    report = approvals.verify_audit_chain(batch_size=4)
    assert (report.ok, report.checked) == (True, count)
    with pytest.raises(DBAPIError, match="append-only"), sa_engine.begin() as connection:
        connection.execute(update(AuditEvent).values(actor="someone else"))
    with pytest.raises(DBAPIError, match="append-only"), sa_engine.begin() as connection:
        connection.execute(delete(AuditEvent))
    approvals.start("approval", {"amount": 1}, user="wang")  # the engine chains on from the head
    report = approvals.verify_audit_chain()
    assert report.ok and report.checked > count
