"""Forcing two commands to interleave on PostgreSQL: each runs in its own thread with its
outcome (a result or the exception) kept; one is held at a point of the test's choosing
while the other goes on until the server says it waits for a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, text


def start(outcomes: dict[str, object], name: str, action: Callable[[], object]) -> threading.Thread:
    """``action`` in a new thread; its result, or what it raised, lands in ``outcomes[name]``."""
    def run():
        try:
            outcomes[name] = action()
        except Exception as exc:  # the outcome is what the test checks
            outcomes[name] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_blocked(sa_engine: Engine, thread: threading.Thread, *, seconds: float = 30) -> None:
    """Return once some session of this database waits for a lock (or ``thread`` ended)."""
    for _ in range(int(seconds * 100)):
        if not thread.is_alive() or _waiting_for_a_lock(sa_engine):
            return
        thread.join(timeout=0.01)


def _waiting_for_a_lock(sa_engine: Engine) -> bool:
    with sa_engine.connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))
