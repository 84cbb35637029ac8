"""Time, injectable.

The engine reads time only through a :class:`Clock`. SpiffWorkflow reads the wall clock
itself (``datetime.now(timezone.utc)`` inside its timer module) and takes no clock
parameter, so :func:`clock_in_effect` swaps that module's ``datetime`` for a subclass whose
``now()`` asks the clock of the engine operation in progress (a context variable, so
threads and engines with different clocks do not disturb each other).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests and replays."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)


_current: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "propflow_clock", default=None
)


class _ClockedDatetime(datetime):
    """Stands in for ``datetime`` inside the library's timer module."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        value = clock.now()
        return value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)


def _install() -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _ClockedDatetime  # type: ignore[attr-defined]


_install()


@contextlib.contextmanager
def clock_in_effect(clock: Clock) -> Iterator[None]:
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)


def as_utc(value: datetime) -> datetime:
    """Timezone-aware UTC; naive values (as SQLite returns them) are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
