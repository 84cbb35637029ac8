"""The audit trail as a hash chain (A-1, A-2).

Each entry stores ``prev_hash``, the hash of the entry before it, and ``hash``, a SHA-256
over ``prev_hash`` and its own content; the first entry follows 64 zeros. Editing an entry
breaks its own hash; removing or inserting one breaks the next entry's ``prev_hash``;
cutting the end off disagrees with the chain head.

The head (table ``audit_chain``, one row) is locked, read and moved by the transaction
that inserts the entries, so writers append one after the other: on PostgreSQL under
``SELECT … FOR UPDATE``, on SQLite under the writer's ``BEGIN IMMEDIATE``. An entry's id
is handed out at INSERT, after its writer took the head, so ids follow the chain. Because
the triggers refuse UPDATE, the hashes are set before the INSERT, in ``before_flush``. A
transaction reads the head once and writes it once, when it commits.

On PostgreSQL a writing transaction takes the head before its first write of any kind,
not only before its first audit entry, and before any row it locks to read
(:func:`lock_before_row_locks`: a timer worker's instance, fetchAndLock's external tasks):
every writer then locks the head before any row, and two commands cannot deadlock on
"instance row, then head" against "head, then instance row".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

from .models import AuditAction, AuditChain, AuditEvent
from .views import AuditEntry, ChainBreak, ChainReport

GENESIS = "0" * 64
HEAD_ID = 1
_HEAD = AuditChain.__table__
_ENTRIES = AuditEvent.__table__
_HEAD_KEY = "propflow.audit_chain.head"  # session.info: the _Head of the session's transaction
_PENDING = "propflow.audit_chain.pending"  # entries chained in this flush, and their last hash
_COMMITTING = "propflow.audit_chain.committing"  # the transaction whose commit has begun


def entry_hash(prev_hash: str, *, at: datetime, action: AuditAction | str, actor: str | None,
               instance_id: str | None, task_id: str | None, element_id: str | None,
               element_name: str | None, data: Any) -> str:
    """Hex SHA-256 of an entry's canonical form: a JSON array of ``prev_hash``, ``at`` in ISO
    8601 UTC with microseconds, the action's value, the other columns, and ``data``, with
    sorted keys, no spaces and UTF-8 text.

    :raise ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    record = [prev_hash, at.astimezone(UTC).isoformat(timespec="microseconds"), AuditAction(action).value,
              actor, instance_id, task_id, element_id, element_name, data]
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def register(factory: sessionmaker) -> None:
    """Chain every audit entry written through sessions of ``factory``."""
    event.listen(factory, "before_flush", _chain_new_entries)
    event.listen(factory, "after_flush", _advance_head)
    event.listen(factory, "do_orm_execute", _lock_before_bulk_write)
    event.listen(factory, "before_commit", _write_head)
    event.listen(factory, "after_transaction_end", _forget_after_savepoint)


@dataclass
class _Head:
    """The chain head as the transaction holding it sees it."""

    transaction: SessionTransaction
    last_hash: str
    last_id: int | None
    moved: bool = False  # entries appended since the row was last written
    stale: bool = False  # a savepoint ended: read the head again before appending
    next_id: int | None = None  # SQLite: the id the next entry gets (see _chain_new_entries)


def _held(session: Session) -> _Head | None:
    head = session.info.get(_HEAD_KEY)
    return head if head is not None and head.transaction is session.get_transaction() else None


def _take_head(session: Session) -> _Head:
    """The head, locked until the transaction ends; read once per transaction, and again
    after a savepoint ended (its entries may be gone)."""
    head = _held(session)
    if head is not None and not head.stale:
        return head
    connection = session.connection()
    locks = _locks_rows(session)
    row = connection.execute(_READ_HEAD_LOCKED if locks else _READ_HEAD_AND_LAST_ROW).one_or_none()
    if row is None:
        raise RuntimeError("the audit chain head is missing: upgrade the database schema")
    last_hash, last_id = row.last_hash, row.last_id
    next_id = None if locks else (row.last_row or 0) + 1
    own = None
    if head is not None:  # entries of ours that outlived the savepoint come after the row's
        query = select(_ENTRIES.c.id, _ENTRIES.c.hash).order_by(_ENTRIES.c.id.desc()).limit(1)
        if last_id is not None:
            query = query.where(_ENTRIES.c.id > last_id)
        own = connection.execute(query).one_or_none()
        if own is not None:
            last_hash, last_id = own.hash, own.id
    head = _Head(session.get_transaction(), last_hash, last_id, moved=own is not None, next_id=next_id)
    session.info[_HEAD_KEY] = head
    return head


_READ_HEAD_LOCKED = select(_HEAD.c.last_hash, _HEAD.c.last_id).where(_HEAD.c.id == HEAD_ID).with_for_update()
_READ_HEAD_AND_LAST_ROW = select(
    _HEAD.c.last_hash, _HEAD.c.last_id, select(func.max(_ENTRIES.c.id)).scalar_subquery().label("last_row"),
).where(_HEAD.c.id == HEAD_ID)


def _chain_new_entries(session: Session, _flush_context, _instances) -> None:
    session.info.pop(_PENDING, None)
    entries = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not entries:
        if (session.new or session.dirty or session.deleted) and _locks_rows(session):
            _take_head(session)
        return
    # The order the unit of work inserts one mapper's new rows in, hence their ids' order.
    entries.sort(key=lambda obj: inspect(obj).insert_order)
    head = _take_head(session)
    previous = head.last_hash
    for entry in entries:
        if head.next_id is not None:
            # SQLite: this transaction is the only writer (BEGIN IMMEDIATE), and the id is
            # the one SQLite would give (the highest there + 1). Given here, the entries go
            # out in one executemany instead of an INSERT … RETURNING each: SQLite does not
            # promise RETURNING's order for several rows, so the ORM sends them one by one.
            entry.id, head.next_id = head.next_id, head.next_id + 1
        # Hash what will be read back: the JSON column's round trip turns tuples into
        # lists and keys into strings.
        entry.data = json.loads(json.dumps(entry.data))
        entry.prev_hash = previous
        entry.hash = previous = entry_hash(
            previous, at=entry.at, action=entry.action, actor=entry.actor,
            instance_id=entry.instance_id, task_id=entry.task_id, element_id=entry.element_id,
            element_name=entry.element_name, data=entry.data)
    session.info[_PENDING] = (entries, previous)


def _advance_head(session: Session, _flush_context) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    entries, last_hash = pending
    head = _held(session)
    ids = [entry.id for entry in entries]
    if head is None or ids != sorted(ids):
        # Refuse a chain whose order the ids would contradict rather than store it broken.
        raise RuntimeError(f"audit entries got ids out of chain order: {ids}")
    head.last_hash, head.last_id, head.moved = last_hash, ids[-1], True
    if session.info.get(_COMMITTING) is head.transaction:
        _store(session, head)  # flushed after ours in before_commit: write at once


def _write_head(session: Session) -> None:
    """Before the transaction commits: chain what is still pending, then store the head."""
    if session.in_nested_transaction():
        return
    session.flush()
    head = _held(session)
    if head is not None:
        session.info[_COMMITTING] = head.transaction
        if head.moved:
            _store(session, head)


def _store(session: Session, head: _Head) -> None:
    session.connection().execute(
        update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(last_hash=head.last_hash, last_id=head.last_id))
    head.moved = False


def _forget_after_savepoint(session: Session, transaction: SessionTransaction) -> None:
    head = session.info.get(_HEAD_KEY)
    if transaction.nested and head is not None:
        head.stale = True


def _locks_rows(session: Session) -> bool:
    # On SQLite, BEGIN IMMEDIATE already made this transaction the only writer.
    return session.get_bind().dialect.name != "sqlite"


def lock_before_row_locks(session: Session) -> None:
    """Take the head now (PostgreSQL): before ``SELECT … FOR UPDATE`` and before reading
    rows that the command's checks rest on (an external task's lock holder), so that no
    writer can change them until this transaction ends."""
    if _locks_rows(session):
        _take_head(session)


def _lock_before_bulk_write(state: ORMExecuteState) -> None:
    """UPDATE and DELETE statements run by the session lock rows without a flush."""
    if (state.is_update or state.is_delete or state.is_insert) and _locks_rows(state.session):
        _take_head(state.session)


def verify(session: Session, batch_size: int = 1000) -> ChainReport:
    """Walk the chain in id order, ``batch_size`` entries at a time, recomputing each hash.

    On PostgreSQL the walk reads one snapshot (REPEATABLE READ) so that the head and every
    batch agree while others append; SQLite's read transactions are snapshots already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = session.execute(
        select(_HEAD.c.last_hash, _HEAD.c.last_id).where(_HEAD.c.id == HEAD_ID)).one_or_none()
    if head is None:
        return ChainReport(0, False, None, ChainBreak.HEAD)
    expected, previous_id, checked = GENESIS, None, 0
    for row in _entries(session, batch_size):
        checked += 1
        reason = _break_at(row, expected, head)
        if reason is not None:
            return ChainReport(checked, False, row.id, reason, _audit_entry(row), previous_id)
        expected, previous_id = row.hash, row.id
    if head.last_id != previous_id or head.last_hash != expected:
        # The head names an entry the walk never reached: the end of the trail is gone.
        return ChainReport(checked, False, head.last_id, ChainBreak.HEAD, None, previous_id)
    return ChainReport(checked, True, None, None)


def _entries(session: Session, batch_size: int):
    """Every entry in id order, without holding more than one batch in memory."""
    last_id = None
    while True:
        query = select(_ENTRIES).order_by(_ENTRIES.c.id).limit(batch_size)
        if last_id is not None:
            query = query.where(_ENTRIES.c.id > last_id)
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < batch_size:
            return
        last_id = rows[-1].id


def _break_at(row, expected: str, head) -> ChainBreak | None:
    if row.prev_hash != expected:
        return ChainBreak.PREVIOUS_HASH
    recomputed = entry_hash(
        row.prev_hash, at=row.at, action=row.action, actor=row.actor, instance_id=row.instance_id,
        task_id=row.task_id, element_id=row.element_id, element_name=row.element_name, data=row.data)
    if row.hash != recomputed:
        return ChainBreak.CONTENT
    past_head = head.last_id is None or row.id > head.last_id
    if past_head or (row.id == head.last_id and row.hash != head.last_hash):
        return ChainBreak.HEAD  # appended without moving the head, or the head disagrees
    return None


def _audit_entry(row) -> AuditEntry:
    return AuditEntry(row.id, row.at, AuditAction(row.action), row.actor, row.instance_id, row.task_id,
                      row.element_id, row.element_name, dict(row.data))
