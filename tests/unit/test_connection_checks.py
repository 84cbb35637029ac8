"""Pooled PostgreSQL connections are tested before use only after sitting idle
(engine.db.ping_idle_connections): a busy pool makes no extra round trips, an idle one is
checked, and a dead one found by the check takes the whole pool with it."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from engine import db as engine_db
from engine.db import make_engine
from tests.conftest import scratch_database


@pytest.fixture
def pg_engine(sqlite_template, tmp_path):
    with scratch_database("postgresql", sqlite_template, tmp_path) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def pings(pg_engine, monkeypatch):
    """The checks made, counted; the idle time read from a clock the test moves."""
    clock = Clock()
    monkeypatch.setattr(engine_db, "_idle_clock", clock)
    made = []
    real = pg_engine.dialect.do_ping

    def ping(dbapi_connection):
        made.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(pg_engine.dialect, "do_ping", ping)
    return clock, made


def use(engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.postgres
def test_a_connection_back_within_the_window_is_used_without_a_check(pg_engine, pings):
    clock, made = pings
    use(pg_engine)  # connected just now: nothing to check
    for _ in range(5):
        clock.now += engine_db.PING_AFTER_IDLE / 2
        use(pg_engine)
    assert made == []
    clock.now += engine_db.PING_AFTER_IDLE
    use(pg_engine)
    assert len(made) == 1


@pytest.mark.postgres
def test_an_idle_connection_found_dead_is_replaced_and_the_pool_emptied(pg_engine, pings):
    clock, made = pings
    with pg_engine.connect() as first, pg_engine.connect() as second:
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar() for c in (first, second)}
    outside = create_engine(pg_engine.url, poolclass=NullPool)
    with outside.begin() as killer:  # both pooled connections die behind the pool's back
        killer.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                       {"pids": sorted(pids)})
    outside.dispose()
    clock.now += engine_db.PING_AFTER_IDLE * 2
    with pg_engine.connect() as connection:  # checked, found dead, pool invalidated, reconnected
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() not in pids
    assert len(made) == 1
    with pg_engine.connect() as first, pg_engine.connect() as second:
        now = {c.execute(text("SELECT pg_backend_pid()")).scalar() for c in (first, second)}
    assert not now & pids and len(made) == 1  # the other dead one went with the pool, unchecked
