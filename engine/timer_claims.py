"""Sharing due timers between several timer workers.

PostgreSQL: a worker fires an instance only after locking its row with
``SELECT … FOR UPDATE SKIP LOCKED``. An instance another worker is firing is skipped, not
waited for, and a worker that dies loses its locks with its connection, so the next sweep
takes its instances over at once.

SQLite has no row locks: a worker first claims a batch of due instances with a lease
(``timer_lease``), which other workers respect until it expires or, for a holder on their
own host, as soon as that process no longer exists. Firing an instance deletes its lease in
the same transaction.

Neither mechanism is what keeps a timer from firing twice: firing re-reads the instance's
due timers inside its own transaction, under the row lock (PostgreSQL) or the database's
write lock (SQLite), and saves under the row version check. They divide the work, so
workers do not queue up behind each other on the same instances.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.orm import Session

from . import audit_chain
from .models import ProcessInstance, TimerLease

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Holder:
    """The process that holds a lease."""

    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid())  # after a fork: the child's pid

    def has_gone(self, lease: TimerLease) -> bool:
        """Whether ``lease``'s holder is a process on this host that no longer exists."""
        if lease.host != self.host or lease.pid == self.pid:
            return False
        try:
            os.kill(lease.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, as another user's process
            return False
        return False


def uses_row_locks(engine: Engine) -> bool:
    """Whether workers on this database lock rows (PostgreSQL) rather than take leases."""
    return engine.dialect.name == "postgresql"


def claim(session: Session, due: Sequence[str], now: datetime, holder: Holder,
          lease: timedelta = LEASE) -> list[str]:
    """Lease those of the ``due`` instances no other live worker holds; their ids."""
    if not due:
        return []
    current = {row.instance_id: row for row in session.scalars(
        select(TimerLease).where(TimerLease.instance_id.in_(due)))}
    claimed = []
    for instance_id in due:
        row = current.get(instance_id)
        if row is None:
            row = TimerLease(instance_id=instance_id)
            session.add(row)
        elif (row.expires_at > now and (row.host, row.pid) != (holder.host, holder.pid)
              and not holder.has_gone(row)):
            continue
        row.host, row.pid, row.expires_at = holder.host, holder.pid, now + lease
        claimed.append(instance_id)
    return claimed


def unleased(now: datetime, host: str):
    """A condition for due-instance queries: no lease another worker could still hold
    (none, an expired one, or one from this host, whose holder :func:`claim` checks)."""
    return or_(TimerLease.instance_id.is_(None), TimerLease.expires_at <= now, TimerLease.host == host)


def take(session: Session, instance_id: str) -> ProcessInstance | None:
    """The instance, ready to fire in this transaction: locked (PostgreSQL; None when another
    worker has it locked) or with its lease, if any, given up with the work (SQLite)."""
    if uses_row_locks(session.get_bind()):
        audit_chain.lock_before_row_locks(session)  # the head first, as every writer does
        return session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                               .with_for_update(skip_locked=True)).first()
    release(session, instance_id)
    return session.get(ProcessInstance, instance_id)


def release(session: Session, instance_id: str) -> None:
    session.execute(delete(TimerLease).where(TimerLease.instance_id == instance_id))
