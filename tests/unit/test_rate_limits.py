"""The sign-in rate limit's counters in the database (web/rate_limits.py): fixed windows that
count across processes and start afresh once expired."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import time_machine
from sqlalchemy import func, select

from web.models import RateLimitCounter
from web.rate_limits import PURGE_EVERY, DatabaseStorage

START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def counters(sa_engine) -> int:
    with sa_engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(RateLimitCounter))


def test_hits_count_up_within_the_window_and_start_again_after_it(sa_engine):
    store = DatabaseStorage(engine=sa_engine)
    with time_machine.travel(START, tick=False) as traveller:
        assert [store.incr("login/1.2.3.4|cs_zhang", 60) for _ in range(3)] == [1, 2, 3]
        assert store.get("login/1.2.3.4|cs_zhang") == 3
        assert store.get("login/1.2.3.4|someone_else") == 0
        assert store.get_expiry("login/1.2.3.4|cs_zhang") == START.timestamp() + 60
        traveller.shift(59)
        assert store.incr("login/1.2.3.4|cs_zhang", 60) == 4
        traveller.shift(2)  # the window is over: the next hit starts a new one
        assert store.get("login/1.2.3.4|cs_zhang") == 0
        assert store.incr("login/1.2.3.4|cs_zhang", 60) == 1
        assert store.get_expiry("login/1.2.3.4|cs_zhang") == START.timestamp() + 61 + 60


def test_concurrent_hits_are_all_counted(sa_engine):
    stores = [DatabaseStorage(engine=sa_engine) for _ in range(4)]  # as four web processes
    barrier = threading.Barrier(len(stores))
    seen: list[int] = []

    def hammer(store):
        barrier.wait(timeout=10)
        seen.extend(store.incr("login/1.2.3.4|cs_zhang", 60) for _ in range(25))

    threads = [threading.Thread(target=hammer, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(seen) == list(range(1, 101))  # no hit lost, none counted twice
    assert stores[0].get("login/1.2.3.4|cs_zhang") == 100


def test_expired_counters_are_purged_and_clear_and_reset_work(sa_engine):
    store = DatabaseStorage(engine=sa_engine)
    with time_machine.travel(START, tick=False) as traveller:
        for n in range(PURGE_EVERY - 1):
            store.incr(f"login/10.0.0.{n}|x", 60)
        traveller.shift(61)
        assert counters(sa_engine) == PURGE_EVERY - 1
        store.incr("login/10.0.0.1|late", 60)  # the purging hit
        assert counters(sa_engine) == 1
        store.clear("login/10.0.0.1|late")
        assert store.get("login/10.0.0.1|late") == 0
        store.incr("login/a|b", 60)
        assert store.reset() == 1 and counters(sa_engine) == 0
    assert store.check()
