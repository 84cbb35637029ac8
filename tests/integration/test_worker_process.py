"""The real timer worker process, killed with SIGKILL in the middle of a sweep, loses
nothing and fires nothing twice once restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from engine import AuditAction, ManualClock, WorkflowEngine
from engine.models import AuditEvent, Timer
from tests.conftest import ROOT, SERVICE_REQUEST_FILES, read_files
from tests.unit.test_service_request import REQUEST

INSTANCES = 300


def breaches(sa_engine) -> list[str]:
    with sa_engine.connect() as connection:
        return list(connection.scalars(select(AuditEvent.instance_id).where(
            AuditEvent.action == AuditAction.DEADLINE_BREACHED)))


def due_timers(sa_engine, now) -> int:
    with sa_engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Timer).where(Timer.due_at <= now))


def worker(database_url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "timers", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def overdue_requests(sa_engine) -> None:
    """Requests submitted three days ago (by the engine's clock): all response deadlines are
    due by the wall clock the worker process uses."""
    engine = WorkflowEngine(sa_engine, ManualClock(datetime.now(UTC) - timedelta(days=3)))
    engine.deploy(read_files(*SERVICE_REQUEST_FILES), name="sr")
    for number in range(INSTANCES):
        engine.start("service_request", REQUEST, business_key=f"SR-{number}")


def kill_mid_sweep(process: subprocess.Popen, sa_engine) -> None:
    deadline = time.monotonic() + 60
    while len(breaches(sa_engine)) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling another process, not controlling time
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()


def restart_and_check_each_fired_once(database_url: str, sa_engine) -> None:
    restarted = worker(database_url, "fire-due")
    output, _ = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, output
    fired = breaches(sa_engine)
    assert len(fired) == INSTANCES, "a timer was lost"
    assert len(set(fired)) == INSTANCES, "a timer fired twice"
    assert due_timers(sa_engine, datetime.now(UTC)) == 0


def test_kill_9_mid_sweep_then_restart(database_url, sa_engine):
    overdue_requests(sa_engine)
    kill_mid_sweep(worker(database_url, "fire-due"), sa_engine)
    fired_before_kill = len(breaches(sa_engine))
    assert 0 < fired_before_kill < INSTANCES  # killed in the middle of real work
    restart_and_check_each_fired_once(database_url, sa_engine)


def test_timers_run_fires_while_running_and_stops_on_sigterm(database_url, sa_engine):
    past = ManualClock(datetime.now(UTC) - timedelta(days=3))
    engine = WorkflowEngine(sa_engine, past)
    engine.deploy(read_files(*SERVICE_REQUEST_FILES), name="sr")
    started = [engine.start("service_request", REQUEST, business_key=f"SR-{n}").id for n in range(3)]

    process = worker(database_url, "run", "--max-interval", "1")
    deadline = time.monotonic() + 60
    while len(breaches(sa_engine)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling another process, not controlling time
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert sorted(breaches(sa_engine)) == sorted(started)
    assert b"timer worker stopped" in output


def test_two_workers_share_the_sweep_and_one_killed_is_taken_over(database_url, sa_engine):
    overdue_requests(sa_engine)
    doomed, survivor = worker(database_url, "fire-due"), worker(database_url, "fire-due")
    kill_mid_sweep(doomed, sa_engine)
    output, _ = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, output
    # The killed worker's claims (SQLite leases of a process gone from this host, PostgreSQL
    # locks gone with its connection) are taken over by the next sweep, not left waiting.
    restart_and_check_each_fired_once(database_url, sa_engine)
