"""When a periodic process (a timer start event) next starts an instance.

A missed period is caught up once, not once per period missed: a worker that was down for
three weeks starts one weekly spot check, not three.
"""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

from .catalogue import StartTimer
from .clock import as_utc


def first_run(timer: StartTimer, now: datetime) -> datetime | None:
    if timer.kind == "timeDate":
        return as_utc(Timer.get_datetime(timer.value))
    if timer.kind == "timeDuration":
        return now + Timer.get_timedelta_from_start(Timer.parse_iso_duration(timer.value), now)
    cycles, start, _ = Timer.parse_iso_recurring_interval(timer.value)
    return None if cycles == 0 else as_utc(start)


def following(timer: StartTimer, previous: datetime, runs: int, now: datetime) -> datetime | None:
    """The run after ``previous``, given ``runs`` already made; None when there is none."""
    if timer.kind != "timeCycle":
        return None
    cycles, start, _ = Timer.parse_iso_recurring_interval(timer.value)
    if cycles != -1 and runs >= cycles:
        return None
    upcoming = _step(timer.value, previous, start)
    while upcoming <= now:
        upcoming = _step(timer.value, upcoming, start)
    return upcoming


def catch_up(timer: StartTimer, due: datetime, runs: int,
             now: datetime) -> tuple[datetime, int, datetime | None]:
    """The period to run now — the latest one due, so a worker back after months starts
    this month's survey, not January's — the runs counted (missed periods included), and
    when the next one is due."""
    run_at, runs = due, runs + 1
    upcoming = following(timer, run_at, runs, run_at)
    while upcoming is not None and upcoming <= now:
        run_at, runs = upcoming, runs + 1
        upcoming = following(timer, run_at, runs, run_at)
    return run_at, runs, upcoming


def _step(cycle: str, previous: datetime, start: datetime) -> datetime:
    """``previous`` plus the cycle's period, by the calendar of the cycle's own zone: P1M
    from 1 January is 1 February, then 1 March (the library's fixed 31 days would drift)."""
    period = Timer.parse_iso_duration(cycle.upper().split("/")[-1])
    local = previous.astimezone(start.tzinfo)
    return as_utc(local + Timer.get_timedelta_from_start(period, local))
