"""The timer worker loop: sweep due timers, then sleep until the next one is due.

Each sweep touches only instances with a due timer (an indexed query on ``timer.due_at``),
and each instance is advanced in its own transaction. Several workers may run at once: they
divide the due instances between them (row locks on PostgreSQL, leases on SQLite, see
:mod:`engine.timer_claims`), and a worker killed mid-sweep loses nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .errors import EngineError
from .facade import WorkflowEngine

log = logging.getLogger("propflow.timers")


def sweep(engine: WorkflowEngine, batch: int = 200) -> int:
    """Start due periodic processes and fire every due timer; returns how many instances
    were started or advanced."""
    total = len(engine.fire_due_schedules())
    while True:
        advanced = engine.fire_due_timers(batch, on_error=_report)
        total += advanced
        engine.checkpoint()  # SQLite's log, between transactions
        if advanced < batch:  # a short batch: nothing more was due (or the rest failed)
            return total


def _report(instance_id: str, exc: EngineError) -> None:
    # One broken instance (a failing script, say) must not stop the others: it stays
    # due and is reported on every sweep until someone fixes it.
    log.error("instance %s could not be advanced: %s", instance_id, exc)


def run(
    engine: WorkflowEngine,
    *,
    stop: threading.Event,
    max_interval: float = 30.0,
    wait: Callable[[float], bool] | None = None,
) -> None:
    """Sweep until ``stop`` is set, sleeping until the next due time (at most
    ``max_interval`` seconds, so timers armed by other processes are noticed)."""
    wait = wait or stop.wait
    while not stop.is_set():
        try:
            fired = sweep(engine)
            if fired:
                log.info("advanced %d instance(s)", fired)
        except Exception:  # the database may be briefly away; keep the worker alive
            log.exception("timer sweep failed; retrying")
        wait(_seconds_until_next(engine, max_interval))


def _seconds_until_next(engine: WorkflowEngine, max_interval: float) -> float:
    try:
        next_due = engine.next_timer_due()
    except Exception:
        return max_interval
    if next_due is None:
        return max_interval
    delta = (next_due - engine.clock.now()).total_seconds()
    return min(max(delta, 0.05), max_interval)
