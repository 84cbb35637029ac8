"""Faults: a web worker killed with SIGKILL in the middle of a command, a database that is
briefly unreachable or locked, a disk that is full for uploads. Each time the person or
program asking is told clearly, nothing is half-written, and the app carries on."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import create_app
from engine import ManualClock, WorkflowEngine, make_engine
from engine import db as engine_db
from engine import worker as timer_worker
from engine.models import AuditAction, AuditEvent, ProcessInstance
from tests import faultpoints
from tests.conftest import ROOT, SERVICE_REQUEST_FILES, read_files
from tests.integration.conftest import Browser
from tests.integration.served import (
    BIN,
    CLERKS,
    CUT,
    PASSWORD,
    Client,
    Gunicorn,
    Proxy,
    check_consistent,
    prepare,
)
from tests.unit.test_service_request import REQUEST as SERVICE_REQUEST
from web import workflow_engine
from web.extensions import db
from web.models import ServiceCase

needs_gunicorn = pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn not installed")


def _open_task(client: Client, instance_id: str, element: str) -> str | None:
    tasks = client.rest("GET", f"/task?processInstanceId={instance_id}&taskDefinitionKey={element}").json()
    return tasks[0]["id"] if tasks else None


def _paused(folder: Path, within: float = 30.0) -> tuple[int, str]:
    """The worker holding its transaction open at the fault point, and the task it was completing."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for entry in folder.glob("paused-*"):
            task_id = entry.read_text()
            if task_id:
                return int(entry.name.removeprefix("paused-")), task_id
        time.sleep(0.01)  # polling another process, not controlling time
    pytest.fail("no worker reached the fault point")


class Load:
    """Clerks working through their share of the cases over the REST API at once: fill in
    the form, send the case its message, check it. Every answer is kept."""

    def __init__(self, port: int, instance_ids: list[str]):
        self.port, self.instance_ids = port, instance_ids
        self.answers: list[tuple[str, str, str, int | str]] = []  # (clerk, what, task or case, status)
        self._lock = threading.Lock()

    def _note(self, clerk: str, what: str, target: str, outcome: int | str) -> None:
        with self._lock:
            self.answers.append((clerk, what, target, outcome))

    def _call(self, client: Client, what: str, target: str, method: str, path: str, body) -> None:
        try:
            outcome: int | str = client.rest(method, path, body).status
        except CUT:
            outcome = "cut"
        self._note(client.username, what, target, outcome)

    def work(self, clerk: str, share: list[str]) -> None:
        client = Client(self.port, clerk)
        for instance_id in share:
            try:
                task_id = _open_task(client, instance_id, "Task_Fill")
            except CUT:
                task_id = None
            if task_id:
                self._call(client, "fill", task_id, "POST", f"/task/{task_id}/complete",
                           {"variables": {"value": {"value": f"by {clerk}", "type": "String"}}})
            self._call(client, "signal", instance_id, "POST", "/message", {
                "messageName": "fault_signal", "processInstanceId": instance_id,
                "processVariables": {"signal": {"value": f"from {clerk}", "type": "String"}}})

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.work, args=(clerk, self.instance_ids[n::len(CLERKS)]))
                   for n, clerk in enumerate(CLERKS)]
        for thread in threads:
            thread.start()
        return threads


@needs_gunicorn
def test_kill_9_web_worker_mid_command_loses_and_half_writes_nothing(database_url, tmp_path):
    cases = prepare(database_url, cases=30)
    faults = tmp_path / "faults"
    faults.mkdir()
    server = Gunicorn(database_url, workers=3, app="tests.faultpoints:create_app()",
                      env={"PROPFLOW_FAULT_DIR": str(faults)})
    try:
        load = Load(server.port, cases)
        (faults / "armed").touch()
        threads = load.run()
        killed_pid, killed_task = _paused(faults)
        os.kill(killed_pid, signal.SIGKILL)  # inside the transaction of a task completion
        while len(load.answers) < len(cases) // 2 and any(t.is_alive() for t in threads):
            time.sleep(0.01)  # polling the clients, not controlling time
        survivor = next(pid for pid in server.worker_pids() if pid != killed_pid)
        os.kill(survivor, signal.SIGKILL)  # and one more, wherever it is
        for thread in threads:
            thread.join(timeout=120)
        server.wait_ready()  # gunicorn's master replaced both
        assert len(server.worker_pids()) == 3 and killed_pid not in server.worker_pids()

        # Right after the kills, before anything repairs anything: nothing half-written.
        check_consistent(database_url)
        seen = {(what, target): outcome for _, what, target, outcome in load.answers}
        assert set(seen.values()) <= {204, "cut"}, seen  # done, or cut off with its worker
        assert seen[("fill", killed_task)] == "cut", "the killed worker's client should see its request cut"

        # Whatever is still open can be finished: nothing is stuck, and every answer that
        # said success is in the database.
        finishers = [threading.Thread(target=_finish, args=(server.port, clerk, cases[n::len(CLERKS)]))
                     for n, clerk in enumerate(CLERKS)]
        for thread in finishers:
            thread.start()
        for thread in finishers:
            thread.join(timeout=120)
    finally:
        output = server.stop()
    assert "Traceback" not in output, output[-5000:]

    actions = check_consistent(database_url)
    for instance_id in cases:
        assert actions[instance_id]["completed"] == 1, f"{instance_id} did not finish exactly once"
        assert actions[instance_id]["task_completed"] == 2
        assert actions[instance_id]["message_received"] == 1
    _every_success_is_stored(database_url, load.answers)
    assert _stored_value(database_url, killed_task) == "after the crash"  # not the killed attempt's


def _finish(port: int, clerk: str, share: list[str]) -> None:
    client = Client(port, clerk)
    for instance_id in share:
        task_id = _open_task(client, instance_id, "Task_Fill")
        if task_id:
            assert client.rest("POST", f"/task/{task_id}/complete", {"variables": {
                "value": {"value": "after the crash", "type": "String"}}}).status == 204
        waiting = client.rest("POST", "/message", {"messageName": "fault_signal",
                                                   "processInstanceId": instance_id})
        assert waiting.status in (204, 400), waiting.text  # 400: it had its message already
        check = _open_task(client, instance_id, "Task_Check")
        assert check, f"case {instance_id} did not reach its check"
        assert client.rest("POST", f"/task/{check}/complete", {"variables": {}}).status == 204


def _every_success_is_stored(database_url: str, answers) -> None:
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        done = {(row.task_id, row.actor): row.data for row in connection.execute(
            select(AuditEvent.task_id, AuditEvent.actor, AuditEvent.data).where(
                AuditEvent.action == AuditAction.TASK_COMPLETED))}
        received = {(row.instance_id, row.actor): row.data for row in connection.execute(
            select(AuditEvent.instance_id, AuditEvent.actor, AuditEvent.data).where(
                AuditEvent.action == AuditAction.MESSAGE_RECEIVED))}
    sa_engine.dispose()
    for clerk, what, target, outcome in answers:
        if outcome != 204:
            continue
        if what == "fill":
            assert done.get((target, clerk)) == {"submitted": {"value": f"by {clerk}"}}, (clerk, target)
        else:
            assert received.get((target, clerk), {}).get("variables") == {"signal": f"from {clerk}"}


def _stored_value(database_url: str, task_id: str):
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        [data] = connection.scalars(select(AuditEvent.data).where(
            AuditEvent.task_id == task_id, AuditEvent.action == AuditAction.TASK_COMPLETED)).all()
    sa_engine.dispose()
    return data["submitted"]["value"]


# --- a timer worker killed while firing ----------------------------------------------------

def test_kill_9_timer_worker_mid_firing_then_restart_fires_each_timer_once(database_url, sa_engine, tmp_path):
    """The worker stops inside the transaction that fires a response deadline (its breach,
    timer and escalation task written, not committed) and is killed there."""
    past = ManualClock(datetime.now(UTC) - timedelta(days=3))  # every response deadline is due
    engine = WorkflowEngine(sa_engine, past)
    engine.deploy(read_files(*SERVICE_REQUEST_FILES), name="sr")
    started = [engine.start("service_request", SERVICE_REQUEST, business_key=f"SR-{n}").id for n in range(12)]
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "armed").touch()
    env = {**os.environ, "DATABASE_URL": database_url, "PROPFLOW_FAULT_DIR": str(faults),
           "PROPFLOW_FAULT_ACTION": AuditAction.DEADLINE_BREACHED.value}
    doomed = subprocess.Popen([sys.executable, "-m", "flask", "--app", "tests.faultpoints:create_app()",
                               "timers", "fire-due"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    pid, instance_id = _paused(faults)
    assert pid == doomed.pid
    doomed.kill()
    doomed.communicate(timeout=30)

    check_consistent(database_url)  # its timer still armed, its state as before, no entry
    assert instance_id not in _breached(sa_engine)

    restarted = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "timers", "fire-due"],
                               cwd=ROOT,
                               env={**os.environ, "DATABASE_URL": database_url}, capture_output=True,
                               timeout=300)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert sorted(_breached(sa_engine)) == sorted(started)  # each once: none lost, none twice
    check_consistent(database_url)


def _breached(sa_engine) -> list[str]:
    with sa_engine.connect() as connection:
        return list(connection.scalars(select(AuditEvent.instance_id).where(
            AuditEvent.action == AuditAction.DEADLINE_BREACHED)))


# --- a database briefly unavailable -------------------------------------------------------

EN = {"Accept-Language": "en"}
UNAVAILABLE = "The database cannot be reached at the moment"


def _fill(value: str) -> dict:
    return {"variables": {"value": {"value": value, "type": "String"}}}


def _in_process_app(database_url: str, tmp_path: Path, **config):
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "UPLOAD_FOLDER": str(tmp_path / "uploads"), **config})


def _fill_tasks(app, cases: list[str]) -> list[str]:
    with app.app_context():
        engine = workflow_engine()
        return [next(t.id for t in engine.instance(i).open_tasks if t.element_id == "Task_Fill")
                for i in cases]


def _assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:2000]
    assert response.headers["Retry-After"] == "30"
    page = response.get_data(as_text=True)
    assert UNAVAILABLE in page and "Traceback" not in page and "psycopg" not in page


def _assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:2000]
    body = response.get_json()
    assert body["type"] == "ProcessEngineException" and "database cannot be reached" in body["message"]
    assert response.headers["Retry-After"] == "30"


def _rest_complete(client, task_id: str, value: str):
    return client.post(f"/engine-rest/task/{task_id}/complete", json=_fill(value),
                       headers=_basic(CLERKS[1]))


def _basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()}


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_postgresql_unreachable_answers_503_writes_nothing_and_recovers(database_url, tmp_path, monkeypatch):
    real = make_url(database_url)
    proxy = Proxy(real.host, real.port)
    via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        cases = prepare(via_proxy, cases=3)
        app = _in_process_app(via_proxy, tmp_path)
        fill = _fill_tasks(app, cases)
        clerk = Browser(app)
        clerk.get("/login", headers=EN)
        assert clerk.login(CLERKS[0], PASSWORD).status_code == 302
        assert clerk.get(f"/tasks/{fill[0]}", headers=EN).status_code == 200
        api = app.test_client()

        proxy.cut()  # while nobody asks: the pooled connections die unnoticed...
        proxy.restore()
        real_clock = engine_db._idle_clock  # ...and sit idle long enough to be tested before use
        monkeypatch.setattr(engine_db, "_idle_clock", lambda: real_clock() + engine_db.PING_AFTER_IDLE)
        assert clerk.get("/tasks/", headers=EN).status_code == 200  # not a dead pooled connection

        proxy.cut()
        _assert_unavailable_page(clerk.get("/tasks/", headers=EN))
        _assert_unavailable_page(clerk.client.post(f"/tasks/{fill[0]}", headers=EN, data={
            "value": "during the outage", "csrf_token": clerk.token}))
        _assert_unavailable_json(_rest_complete(api, fill[1], "during the outage"))
        assert api.get("/health").status_code == 503

        proxy.restore()  # no restart: the very next request works
        done = clerk.client.post(f"/tasks/{fill[0]}", headers=EN, data={
            "value": "after the outage", "csrf_token": clerk.token})
        assert done.status_code == 302, done.get_data(as_text=True)[:2000]
        assert _rest_complete(api, fill[1], "after the outage").status_code == 204

        # Cut in the middle of a command: its rows are written, its commit is not.
        with _cut_before_commit(proxy):
            _assert_unavailable_json(_rest_complete(api, fill[2], "cut mid-commit"))
        proxy.restore()
        assert api.get(f"/engine-rest/task/{fill[2]}", headers=_basic(CLERKS[1])).status_code == 200
        assert _rest_complete(api, fill[2], "after the cut").status_code == 204

        _service_step_loses_the_database(app, proxy)
        with app.app_context():
            db.engine.dispose()
    finally:
        proxy.close()
    actions = check_consistent(database_url)
    assert sorted(actions[i]["task_completed"] for i in cases) == [1, 1, 1]
    assert [_stored_value(database_url, t) for t in fill] == [
        "after the outage", "after the outage", "after the cut"]


@contextlib.contextmanager
def _cut_before_commit(proxy):
    """Cut the connection when a task completion is about to commit."""
    def cut(session):
        if session.info.pop(faultpoints.NOTED, None):
            proxy.cut()

    event.listen(Session, "after_flush", faultpoints.note_watched)
    event.listen(Session, "before_commit", cut)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", cut)
        event.remove(Session, "after_flush", faultpoints.note_watched)


def _service_step_loses_the_database(app, proxy) -> None:
    """A service-task function whose query fails because the database went away: the
    failure stays a database error (503 for the caller), not a failing diagram."""
    def send(call):
        proxy.cut()
        call.session.execute(select(ProcessInstance.id)).all()

    with app.app_context():
        engine = WorkflowEngine(db.engine, services={"fault.send": send})
        with pytest.raises(OperationalError):
            engine.start("fault_external", {}, business_key="X-cut")
    proxy.restore()
    with app.app_context():
        assert not workflow_engine_instances(app, "X-cut")


def workflow_engine_instances(app, business_key: str) -> list:
    return workflow_engine().find_instances(business_key=business_key)


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_the_timer_worker_rides_out_an_unreachable_database(database_url, clock, caplog):
    """Its sweep fails while the database is cut off (logged, not fatal: under make serve a
    worker that dies stops the whole service); the next one fires what is due, once."""
    real = make_url(database_url)
    proxy = Proxy(real.host, real.port)
    sa_engine = make_engine(real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        engine = WorkflowEngine(sa_engine, clock)
        engine.deploy(read_files(*SERVICE_REQUEST_FILES), name="sr")
        started = [engine.start("service_request", SERVICE_REQUEST).id for _ in range(2)]
        clock.advance(timedelta(hours=25))  # both response deadlines due
        proxy.cut()
        stop, waits = threading.Event(), []

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            if len(waits) == 1:
                proxy.restore()
            else:
                stop.set()
            return stop.is_set()

        timer_worker.run(engine, stop=stop, wait=wait)
        assert "timer sweep failed; retrying" in caplog.text
        with sa_engine.connect() as connection:
            breached = list(connection.scalars(select(AuditEvent.instance_id).where(
                AuditEvent.action == AuditAction.DEADLINE_BREACHED)))
        assert sorted(breached) == sorted(started)
    finally:
        sa_engine.dispose()
        proxy.close()
    check_consistent(database_url)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_locked_past_the_busy_timeout_answers_503_and_recovers(database_url, tmp_path):
    cases = prepare(database_url, cases=2)
    app = _in_process_app(database_url, tmp_path, SQLITE_BUSY_TIMEOUT=0.2)
    fill = _fill_tasks(app, cases)
    clerk = Browser(app)
    clerk.get("/login", headers=EN)
    assert clerk.login(CLERKS[0], PASSWORD).status_code == 302
    api = app.test_client()

    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing for longer than we wait
    try:
        assert clerk.get("/tasks/", headers=EN).status_code == 200  # reading goes on
        _assert_unavailable_page(clerk.client.post(f"/tasks/{fill[0]}", headers=EN, data={
            "value": "while locked", "csrf_token": clerk.token}))
        _assert_unavailable_json(_rest_complete(api, fill[1], "while locked"))
    finally:
        holder.rollback()
        holder.close()
    done = clerk.client.post(f"/tasks/{fill[0]}", headers=EN, data={
        "value": "after the lock", "csrf_token": clerk.token})
    assert done.status_code == 302
    assert _rest_complete(api, fill[1], "after the lock").status_code == 204
    with app.app_context():
        db.engine.dispose()
    check_consistent(database_url)
    assert [_stored_value(database_url, t) for t in fill] == ["after the lock", "after the lock"]


# --- a full disk for uploads --------------------------------------------------------------

REQUEST = {"owner_name": "Wang", "contact_phone": "13800000001", "building": "3", "unit": "1201",
           "service_type": "plumbing", "description": "The kitchen tap drips", "preferred_time": ""}
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(40 * 1024)  # a PNG by its signature; 40 KB
DISK_FULL = "The photos could not be stored"


def _can_mount_privately() -> bool:
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@needs_gunicorn
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_upload_disk_is_reported_and_leaves_no_files_or_case(database_url, tmp_path):
    """The upload folder is a real 64 KB tmpfs, mounted in the served app's own mount
    namespace (no root needed): the second 40 KB photo fills it half-way."""
    if not _can_mount_privately():
        pytest.skip("user namespaces are not available here (unshare -rm)")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    prepare(database_url, cases=0, also_deploy=read_files(*SERVICE_REQUEST_FILES))
    mount = 'mount -t tmpfs -o size=64k tmpfs "$PROPFLOW_UPLOAD_FOLDER" && exec "$@"'
    server = Gunicorn(database_url, workers=1, env={"PROPFLOW_UPLOAD_FOLDER": str(uploads)},
                      wrap=["unshare", "-rm", "sh", "-c", mount, "sh"])
    try:
        folder = Path(f"/proc/{server.process.pid}/root") / uploads.relative_to("/")  # its view
        owner = Client(server.port, "owner1").login()
        owner.request("GET", "/requests/new")
        refused = owner.post_form("/requests/new", REQUEST, files={"photos": [("a.png", PHOTO),
                                                                              ("b.png", PHOTO)]})
        assert refused.status == 507, refused.text[:3000]
        assert DISK_FULL in refused.text and REQUEST["description"] in refused.text  # the form, kept
        assert list(folder.iterdir()) == [], "a photo, or part of one, was left behind"
        assert _count(database_url, ServiceCase) == 0 and _count(database_url, ProcessInstance) == 0

        accepted = owner.post_form("/requests/new", REQUEST, files={"photos": [("a.png", PHOTO)]})
        assert accepted.status == 303, accepted.text[:3000]
        assert len(list(folder.iterdir())) == 1 and _count(database_url, ServiceCase) == 1
    finally:
        output = server.stop()
    assert "storing photos failed" in output and "No space left on device" in output  # logged


def _count(database_url: str, model) -> int:
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        found = connection.scalar(select(func.count()).select_from(model))
    sa_engine.dispose()
    return found
