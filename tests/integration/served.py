"""The app served for real, for the fault and concurrency tests: a database prepared with
accounts and cases of ``tests/fixtures/fault_work.bpmn``, gunicorn web workers over
loopback, plain HTTP clients (HTTP Basic for the REST API, a signed-in session with its
CSRF token for pages), and a check that the database is consistent afterwards."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from engine import WorkflowEngine, make_engine, runtime
from engine.models import (
    AuditAction,
    AuditEvent,
    InstanceStatus,
    MessageSubscription,
    ProcessInstance,
    Timer,
    UserTask,
)
from engine.serialization import load_state
from tests.conftest import FIXTURES, ROOT

BIN = ROOT / ".venv" / "bin"
FAULT_FILES = {"fault_work.bpmn": (FIXTURES / "fault_work.bpmn").read_bytes()}
PASSWORD = "fault-test-password"
CLERKS = tuple(f"cs{n}" for n in range(1, 7))  # customer service: the fixture's tasks are theirs
SUPERVISORS = ("sup1", "sup2")
WORKERS = ("svc1",)  # integration accounts: external-task workers
# A connection that breaks mid-request: the worker serving it was killed.
CUT = (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead, socket.timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(database_url: str, *, cases: int, external: int = 0, uploads: Path | None = None,
            also_deploy: dict[str, bytes] | None = None) -> list[str]:
    """Accounts (one password hash for all: scrypt is slow on purpose), the fixture (and
    ``also_deploy``) deployed, ``cases`` fault_work instances and ``external``
    fault_external ones started. Returns the fault_work instance ids."""
    from app import create_app
    from web import workflow_engine
    from web.extensions import db
    from web.models import Role, User

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "prepare",
                      "UPLOAD_FOLDER": str(uploads or ROOT / "var" / "uploads")})
    password_hash = generate_password_hash(PASSWORD)
    now = datetime.now(UTC)
    accounts = ([(name, Role.CUSTOMER_SERVICE) for name in CLERKS]
                + [(name, Role.SERVICE_SUPERVISOR) for name in SUPERVISORS]
                + [(name, Role.INTEGRATION) for name in WORKERS] + [("owner1", Role.OWNER)])
    with app.app_context():
        for username, role in accounts:
            user = User(username=username, display_name=username, password_hash=password_hash,
                        locale="en", active=True, created_at=now, building="1", unit="101",
                        phone="13800000000")
            user.set_roles([role])
            db.session.add(user)
        db.session.commit()
        engine = workflow_engine()
        engine.deploy({**FAULT_FILES, **(also_deploy or {})}, name="faults")
        started = [engine.start("fault_work", {"ref": f"R-{n}"}, business_key=f"F-{n}", user="cs1").id
                   for n in range(cases)]
        for n in range(external):
            engine.start("fault_external", {}, business_key=f"X-{n}", user="cs1")
        db.engine.dispose()
    return started


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@dataclass
class Client:
    """One person or program over real HTTP: a new connection per request (gunicorn's
    sync workers close them), cookies kept, redirects not followed."""

    port: int
    username: str | None = None
    timeout: float = 60.0
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None

    def request(self, method: str, path: str, *, json_body=None, form: dict | None = None,
                files: dict[str, list[tuple[str, bytes]]] | None = None, basic: bool = False) -> Answer:
        headers = {"Accept": "text/html", "Accept-Language": "en"}
        body = None
        if files is not None:
            body, headers["Content-Type"] = _multipart(form or {}, files)
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if basic:
            token = base64.b64encode(f"{self.username}:{PASSWORD}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, dict(response.getheaders()), response.read())
            for cookie in response.headers.get_all("Set-Cookie") or ():
                self.cookies.update((name, morsel.value) for name, morsel in SimpleCookie(cookie).items())
        finally:
            connection.close()
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            match = _CSRF.search(answer.text)
            self.csrf = match.group(1) if match else self.csrf
        return answer

    def rest(self, method: str, path: str, body=None) -> Answer:
        return self.request(method, f"/engine-rest{path}", json_body=body, basic=True)

    def login(self) -> Client:
        self.request("GET", "/login")
        answer = self.request("POST", "/login", form={"username": self.username, "password": PASSWORD,
                                                      "csrf_token": self.csrf})
        assert answer.status == 302, answer.text[:500]
        self.request("GET", "/tasks/")
        return self

    def post_form(self, path: str, form: dict, files: dict | None = None) -> Answer:
        return self.request("POST", path, form={**form, "csrf_token": self.csrf}, files=files)


def _multipart(fields: dict[str, str], files: dict[str, list[tuple[str, bytes]]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, uploads in files.items():
        for filename, content in uploads:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                         + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Gunicorn:
    """gunicorn with ``workers`` sync web workers on a free loopback port, as
    ``scripts/serve.sh`` runs it; ``app`` is the factory to serve."""

    def __init__(self, database_url: str, *, workers: int = 3, app: str = "app:create_app()",
                 env: dict[str, str] | None = None, wrap: list[str] | None = None):
        self.port = free_port()
        self.workers = workers
        command = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
                   "--graceful-timeout", "5", app]
        self.process = subprocess.Popen(
            [*(wrap or []), *command], cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={**os.environ, "DATABASE_URL": database_url,
                                           "PROPFLOW_SECRET_KEY": "fault-tests", **(env or {})})
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def worker_pids(self) -> list[int]:
        """The web workers: gunicorn's children (the arbiter is the process started here;
        a ``wrap`` command must exec into it)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            if parent == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def wait_ready(self, within: float = 60.0) -> None:
        """Until /health answers and every worker is up (a bounded poll of another process)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace")
                raise AssertionError(f"gunicorn exited: {output[-3000:]}")
            try:
                ok = Client(self.port, timeout=5).request("GET", "/health").status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            if ok and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.05)  # polling another process, not controlling time
        raise AssertionError("gunicorn did not become ready")

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        output = self.process.stdout.read().decode(errors="replace")
        self.process.stdout.close()
        return output


def check_consistent(database_url: str) -> dict[str, Counter]:
    """Every instance loads, and its state, its worklist rows, its message subscriptions and
    its audit trail tell the same story: each user task completed in the state was audited
    exactly once, and each open one has its row; the audit chain verifies. Returns, per
    instance, how often each action was audited."""
    sa_engine = make_engine(database_url)
    engine = WorkflowEngine(sa_engine, instance_cache_size=0)
    try:
        report = engine.verify_audit_chain()
        assert report.ok, f"audit chain broken: {report}"
        actions: dict[str, Counter] = {}
        with engine.read_session() as session:
            for instance in session.scalars(select(ProcessInstance)):
                actions[instance.id] = _check_instance(engine, session, instance)
        return actions
    finally:
        sa_engine.dispose()


def _check_instance(engine: WorkflowEngine, session, instance: ProcessInstance) -> Counter:
    definition = engine._definition(session, instance.definition_id)
    workflow = load_state(instance.state, instance.serializer_version, definition.specs)
    audit = session.execute(select(AuditEvent.action, AuditEvent.task_id).where(
        AuditEvent.instance_id == instance.id)).all()
    created = {task for action, task in audit if action == AuditAction.TASK_CREATED}
    completions = Counter(task for action, task in audit if action == AuditAction.TASK_COMPLETED)
    done_in_state = {str(t) for t in runtime.completed_task_ids(workflow)} & created
    ready_in_state = {t.id for t in runtime.ready_user_tasks(workflow, definition.elements)}
    rows = set(session.scalars(select(UserTask.id).where(UserTask.instance_id == instance.id)))
    where = f"instance {instance.business_key}"
    assert all(n == 1 for n in completions.values()), f"{where}: a task completed twice: {completions}"
    assert set(completions) == done_in_state, f"{where}: state and audit disagree on completions"
    assert rows == ready_in_state, f"{where}: worklist rows {rows} but the state waits in {ready_in_state}"
    assert created == done_in_state | ready_in_state, f"{where}: a task neither open nor done"
    waiting = {m.task_id for m in runtime.waiting_messages(workflow)}
    subscribed = set(session.scalars(select(MessageSubscription.task_id).where(
        MessageSubscription.instance_id == instance.id)))
    assert waiting == subscribed, f"{where}: message subscriptions {subscribed}, state waits for {waiting}"
    running = instance.status == InstanceStatus.RUNNING
    armed = {t.task_id for t in runtime.waiting_timers(workflow)} if running else set()
    timers = set(session.scalars(select(Timer.task_id).where(Timer.instance_id == instance.id)))
    assert armed == timers, f"{where}: timer rows {timers}, state waits for {armed}"
    return Counter(action for action, _ in audit)


class Proxy:
    """A loopback TCP proxy in front of the database server, which a test cuts (every open
    connection closed, new ones closed at once) and restores — the server itself, shared
    with other tests, is never touched."""

    def __init__(self, host: str, port: int):
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(source, target), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        self._close(source, target)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        self._up = False
        with self._lock:
            cut = list(self._open)
        self._close(*cut)

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)
