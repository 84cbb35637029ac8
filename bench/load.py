"""HTTP load benchmark: the real app under gunicorn on loopback, driven by simulated people.

    .venv/bin/python bench/load.py [--db sqlite|postgresql] [--workers 1] [--clients 1 4]
                                   [--scenario complete submit worklist work mixed]
                                   [--duration 10] [--open-tasks 100000] [--json]
    .venv/bin/python bench/load.py --suite      # the README's table (about 8 minutes)

Each run starts ``scripts/serve.sh`` (gunicorn with WEB_WORKERS processes, no timer worker)
on a fresh database — a temporary SQLite file, or a new database on the PostgreSQL server
given by ``--pg-url`` (default: PROPFLOW_TEST_PG_URL, else ``scripts/postgres.sh start``) —
loads the demo accounts and diagrams with the real CLI (``flask demo load``), signs one
staff member and one owner in through the login form, seeds open tasks, and then runs
client processes, each with one keep-alive HTTP connection, for a bounded time:

- ``complete``: staff post task forms (the browser's POST, CSRF token included) for the six
  staff steps of a service request (register, review, confirm, dispatch, work, record), on
  instances the serving worker has not loaded before (its instance cache misses);
- ``work``: the browser's way through a task: open the task page, then post the form;
- ``submit``: owners submit new requests (multipart, as the browser sends it): create the
  instance and run it to its first user task;
- ``worklist``: staff load their worklist (tasks offered to them, first page);
- ``mixed``: half the clients are owners submitting and reading their case, half are staff
  opening tasks, completing them and going back to the worklist.

Reports per operation: count, throughput per second, p50/p95/p99 latency in ms, errors.
Open tasks are seeded by copying real waiting instances (see :func:`clone_instances`), and
``--open-tasks N`` adds N more by one INSERT … SELECT per table (:func:`add_filler`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

STAFF, OWNER, PASSWORD = "bench_staff", "bench_owner", "bench-password-1"
SECRET = "bench-secret-" + secrets.token_hex(8)
REQUEST = {"owner_name": "王先生 Bench", "contact_phone": "13800000000", "building": "3", "unit": "1201",
           "service_type": "facility", "description": "单元门禁卡失灵 The card reader is broken"}
# The six staff steps of a request: (element id, the form as the browser posts it, the
# same values as the engine takes them, to bring a template instance past the step).
STEPS = [
    ("Task_Register", {**{k: v for k, v in REQUEST.items() if k != "owner_name"},
                       "registration_note": "已核实 verified"}, {"registration_note": "ok"}),
    ("Task_Review", {"decision": "approve", "priority": "normal", "review_note": "ok"},
     {"decision": "approve"}),
    ("Task_Confirm", {"confirmed_time": "2026-12-01T10:00", "confirmed_by_phone": "y",
                      "confirmation_note": "ok"},
     {"confirmed_time": "2026-12-01T10:00", "confirmed_by_phone": True}),
    ("Task_Dispatch", {"technician": STAFF, "dispatch_note": "ok"}, {"technician": STAFF}),
    ("Task_WorkFacility", {"sop_safety_zone": "y", "sop_inspect_parts": "y", "sop_function_test": "y",
                           "sop_site_clean": "y", "work_notes": "ok"}, {}),
    ("Task_Record", {"work_content": "replaced the reader", "work_started_at": "2026-12-01T10:05",
                     "work_finished_at": "2026-12-01T10:50", "materials": "reader"}, None),
]
SCENARIOS = ("complete", "work", "submit", "worklist", "mixed")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- the database and the server ----------------------------------------------------------

@contextlib.contextmanager
def fresh_database(kind: str, pg_url: str | None, folder: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in ``folder``, or a database of its own on the
    PostgreSQL server (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = make_url(pg_url or postgres_server())
    name = f"propflow_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_server() -> str:
    url = os.environ.get("PROPFLOW_TEST_PG_URL")
    if url:
        return url
    done = subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(url: str, workers: int, folder: Path) -> Iterator[int]:
    """``scripts/serve.sh`` (what ``make serve`` runs) on ``url``: gunicorn with ``workers``
    web workers and no timer worker; yields the port once /health answers."""
    port = free_port()
    env = {**os.environ, "BIN": str(ROOT / ".venv" / "bin"), "DATABASE_URL": url, "PORT": str(port),
           "PROPFLOW_SECRET_KEY": SECRET, "WEB_WORKERS": str(workers), "TIMER_WORKERS": "0",
           "PROPFLOW_UPLOAD_FOLDER": str(folder / "uploads")}
    log = (folder / f"serve-{port}.log").open("wb")
    process = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = (folder / f"serve-{port}.log").read_text()
                raise RuntimeError(f"the server stopped: {output[-2000:]}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 60 s")
            time.sleep(0.1)  # polling another process for readiness, bounded above
        yield port
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


# --- seeding ------------------------------------------------------------------------------

def prepare(url: str, folder: Path):
    """Schema, the demo's diagrams and accounts (the real CLI), and the bench's two people;
    returns the app used to seed (its engine is disposed before clients fork)."""
    from app import create_app
    from engine import upgrade_schema
    from web.extensions import db
    from web.models import Role, User

    upgrade_schema(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "UPLOAD_FOLDER": str(folder / "uploads"),
                      "TESTING": True})
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    with app.app_context():
        now = datetime.now(UTC)
        for username, roles, skills in (
                (STAFF, [Role.CUSTOMER_SERVICE, Role.SERVICE_SUPERVISOR, Role.TECHNICIAN],
                 ["plumbing", "electrical", "facility", "cleaning", "other"]),
                (OWNER, [Role.OWNER], [])):
            user = User(username=username, display_name=username, locale="en", active=True,
                        phone="13800000000", building="3", unit="1201", created_at=now)
            user.set_password(PASSWORD)
            user.set_roles(roles)
            user.set_skills(skills)
            db.session.add(user)
        db.session.commit()
    return app


def templates(app) -> list[tuple[str, str]]:
    """One real instance waiting at each staff step, brought there through the engine:
    (instance id, element id)."""
    from web import service_requests, workflow_engine

    found = []
    with app.app_context():
        engine = workflow_engine()
        for index, (element_id, _, _) in enumerate(STEPS):
            values = {**REQUEST, "channel": "online", "owner_id": OWNER}
            instance = service_requests.submit(engine, values=values, photos=[], user=OWNER,
                                               now=engine.clock.now())
            for earlier_id, _, data in STEPS[:index]:
                task = next(t for t in engine.instance(instance.id).open_tasks if t.element_id == earlier_id)
                engine.complete_user_task(task.id, data, user=STAFF)
            assert [t.element_id for t in engine.instance(instance.id).open_tasks] == [element_id]
            found.append((instance.id, element_id))
    return found


def clone_instances(app, template_id: str, count: int) -> list[str]:
    """``count`` copies of a waiting instance, each a real one the engine can load and
    move on: its state with every task id replaced by a fresh one, and its worklist,
    candidate, timer, deadline and case rows to match. Returns the copies' open task ids.
    (No audit entries are copied: a copy's history starts at the task it waits at.)"""
    from engine.models import Deadline, ProcessInstance, Timer, UserTask, UserTaskCandidate
    from web.extensions import db
    from web.models import ServiceCase

    def rows(connection, model, column):
        found = connection.execute(select(model.__table__).where(column == template_id))
        return [dict(r._mapping) for r in found]

    with app.app_context(), db.engine.begin() as connection:
        instance = rows(connection, ProcessInstance, ProcessInstance.id)[0]
        tasks = rows(connection, UserTask, UserTask.instance_id)
        candidates = [dict(r._mapping) for r in connection.execute(select(UserTaskCandidate.__table__).where(
            UserTaskCandidate.task_id.in_([t["id"] for t in tasks])))]
        timers = rows(connection, Timer, Timer.instance_id)
        deadlines = rows(connection, Deadline, Deadline.instance_id)
        case = rows(connection, ServiceCase, ServiceCase.instance_id)
        batch: dict[str, list[dict]] = {name: [] for name in ("i", "t", "c", "tm", "d", "s")}
        task_ids = []
        for number in range(count):
            ids = {template_id: str(uuid.uuid4())}

            def new(old: str, ids=ids) -> str:
                return ids.setdefault(old, str(uuid.uuid4()))

            key = f"{instance['business_key']}-{number}"
            batch["i"].append({**instance, "id": ids[template_id], "business_key": key,
                               "state": UUID_TEXT.sub(lambda m: new(m.group(0)), instance["state"])})
            batch["t"] += [{**t, "id": new(t["id"]), "instance_id": ids[template_id]} for t in tasks]
            batch["c"] += [{**c, "task_id": new(c["task_id"])} for c in candidates]
            batch["tm"] += [{**t, "task_id": new(t["task_id"]), "instance_id": ids[template_id]}
                            for t in timers]
            batch["d"] += [{**d, "instance_id": ids[template_id]} for d in deadlines]
            batch["s"] += [{**s, "instance_id": ids[template_id], "business_key": key} for s in case]
            task_ids += [new(t["id"]) for t in tasks]
            if len(batch["i"]) >= 500 or number == count - 1:
                for name, model in (("i", ProcessInstance), ("t", UserTask), ("c", UserTaskCandidate),
                                    ("tm", Timer), ("d", Deadline), ("s", ServiceCase)):
                    if batch[name]:
                        connection.execute(insert(model.__table__), batch[name])
                    batch[name] = []
    return task_ids


def add_filler(app, template_id: str, count: int) -> None:
    """``count`` more open tasks, fast: per table one INSERT … SELECT copying the template's
    rows ``count`` times with new ids made from a counter, each task created and due a
    second before the one before (a backlog). The copies carry the template's state
    unchanged (so the database is as large as with real instances) but are never loaded:
    they fill the worklist, the instance table and their indexes."""
    from web.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        numbers = ("generate_series(1, :count) AS n(i)" if postgres else "n")
        prefix = ("" if postgres
                  else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) ")

        def made(tag: str) -> str:
            return (f"'00000000-0000-4000-{tag}-' || lpad(n.i::text, 12, '0')" if postgres
                    else f"printf('00000000-0000-4000-{tag}-%012d', n.i)")

        def earlier(column: str) -> str:  # a backlog: each copy a second older than the last
            return (f"p.{column} - n.i * interval '1 second'" if postgres
                    else f"datetime(p.{column}, '-' || n.i || ' seconds')")

        copies = {
            "process_instance": ("id", made("8000"), "business_key", "p.business_key || '-F' || n.i"),
            "user_task": ("id", made("9000"), "instance_id", made("8000"),
                          "created_at", earlier("created_at"), "due_at", earlier("due_at")),
            "user_task_candidate": ("task_id", made("9000")),
            "service_case": ("instance_id", made("8000"), "business_key", "p.business_key || '-F' || n.i"),
        }
        where = {
            "process_instance": "p.id = :template", "user_task": "p.instance_id = :template",
            "user_task_candidate": "p.task_id IN (SELECT id FROM user_task WHERE instance_id = :template)",
            "service_case": "p.instance_id = :template"}
        for table, replaced in copies.items():
            columns = [c.name for c in db.metadata.tables[table].columns]
            values = dict(zip(replaced[::2], replaced[1::2], strict=True))
            chosen = ", ".join(values.get(c, f"p.{c}") for c in columns)
            connection.execute(text(f"{prefix}INSERT INTO {table} ({', '.join(columns)}) "
                                    f"SELECT {chosen} FROM {table} p, {numbers} WHERE {where[table]}"),
                               {"count": count, "template": template_id})


def open_tasks(app) -> int:
    """How many tasks are open; on PostgreSQL the planner's statistics are brought up to date
    first, as autovacuum would have done in a database that grew to this size."""
    from engine.models import UserTask
    from web.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))
        return db.session.scalar(select(func.count()).select_from(UserTask))


# --- the clients --------------------------------------------------------------------------

@dataclass
class Person:
    """A signed-in browser: its session cookie and the CSRF token its pages carry."""

    cookie: str
    token: str


class Connection:
    """One keep-alive HTTP connection with a cookie jar of one cookie."""

    def __init__(self, port: int, cookie: str = ""):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = cookie

    def send(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
             keep_cookie: bool = True) -> tuple[int, bytes, str | None]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if content_type:
            headers["Content-Type"] = content_type
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        data = response.read()
        for header in response.msg.get_all("Set-Cookie") or ():
            if header.startswith("session=") and keep_cookie:
                self.cookie = header.split(";", 1)[0]
        return response.status, data, response.getheader("Location")


CSRF = re.compile(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def sign_in(port: int, username: str) -> Person:
    connection = Connection(port)
    _, page, _ = connection.send("GET", "/login")
    token = CSRF.search(page).group(1).decode()
    body = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token})
    status, _, _ = connection.send("POST", "/login", body.encode(), "application/x-www-form-urlencoded")
    if status != 302:
        raise RuntimeError(f"{username} could not sign in: {status}")
    _, page, _ = connection.send("GET", "/")
    match = CSRF.search(page)
    if match is None:  # the home page has no form: any page with one carries the same token
        _, page, _ = connection.send("GET", "/requests/new" if username == OWNER else "/tasks/")
        match = CSRF.search(page)
    return Person(connection.cookie, match.group(1).decode())


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """A form as the browser encodes it with a file input left empty."""
    boundary = "----propflowbench" + secrets.token_hex(8)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename=""\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n\r\n".encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Plan:
    role: str  # "staff" or "owner"
    scenario: str
    port: int
    person: Person
    tasks: list[tuple[str, int]] = field(default_factory=list)  # (task id, step index)
    start_at: float = 0.0
    stop_at: float = 0.0


class Client:
    """One simulated person working until ``plan.stop_at`` on one keep-alive connection."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.connection = Connection(plan.port, plan.person.cookie)
        self.samples: list[tuple[float, str, float, bool]] = []
        token = plan.person.token
        self.forms = [urllib.parse.urlencode({**form, "csrf_token": token}).encode() for _, form, _ in STEPS]
        self.new_request = multipart({**REQUEST, "preferred_time": "", "csrf_token": token})
        self.tasks = iter(plan.tasks)

    def timed(self, op: str, expected: int, method: str, path: str, body=None, content_type=None,
              keep_cookie=True) -> str | None:
        """One request, timed to the last byte of its answer; returns its Location."""
        began = time.perf_counter()
        try:
            status, _, location = self.connection.send(method, path, body, content_type, keep_cookie)
            ok = status == expected
        except (OSError, http.client.HTTPException):
            self.connection.http.close()
            ok, location = False, None
        self.samples.append((time.time(), op, time.perf_counter() - began, ok))
        return location

    def run(self) -> list[tuple[float, str, float, bool]]:
        while time.time() < self.plan.start_at:
            time.sleep(0.001)  # the clients start together
        while time.time() < self.plan.stop_at and self.step():
            pass
        self.connection.http.close()
        return self.samples

    def step(self) -> bool:
        """One round of this person's work; False when the seeded tasks ran out."""
        scenario = self.plan.scenario
        if self.plan.role == "owner":
            # As with a completion below: only a client that reads the flash (the case page,
            # in ``mixed``) keeps the cookie carrying it; otherwise every submission's unread
            # message would pile up in the cookie, to be decoded and signed on every request.
            location = self.timed("submit", 303, "POST", "/requests/new", *self.new_request,
                                  keep_cookie=scenario == "mixed")
            if scenario == "mixed" and location:
                self.timed("case page", 200, "GET", urllib.parse.urlsplit(location).path)
            return True
        if scenario == "worklist":
            self.timed("worklist", 200, "GET", "/tasks/?scope=offered")
            return True
        task = next(self.tasks, None)
        if task is None:
            return False  # the report says how many were done, and in how long
        task_id, step = task
        if scenario in ("work", "mixed"):
            self.timed("task page", 200, "GET", f"/tasks/{task_id}")
        # A browser follows the redirect to the worklist and reads the flash there; this
        # client does that only in ``mixed``, and otherwise keeps its cookie without the
        # unread flash so that it does not grow.
        self.timed("complete", 302, "POST", f"/tasks/{task_id}", self.forms[step],
                   "application/x-www-form-urlencoded", keep_cookie=scenario == "mixed")
        if scenario == "mixed":
            self.timed("worklist", 200, "GET", "/tasks/?scope=offered")
        return True


def run_client(plan: Plan) -> list[tuple[float, str, float, bool]]:
    return Client(plan).run()


# --- one measurement ----------------------------------------------------------------------

@dataclass
class Report:
    db: str
    workers: int
    clients: int
    scenario: str
    open_tasks: int
    seconds: float
    operations: dict[str, dict[str, float]]


def _default_signals() -> None:
    """Clients die of SIGTERM as usual (the bench's own handler is for its main process)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(port: int, people: dict[str, Person], scenario: str, clients: int, duration: float,
            warmup: float, pool: list[tuple[str, int]]) -> tuple[dict[str, dict[str, float]], float]:
    """Run ``clients`` client processes for ``warmup`` + ``duration`` seconds; figures
    over the last ``duration`` (or until the seeded tasks ran out)."""
    roles = (["owner"] * clients if scenario == "submit"
             else ["owner" if n % 2 == 0 else "staff" for n in range(clients)] if scenario == "mixed"
             else ["staff"] * clients)
    staff = [n for n, role in enumerate(roles) if role == "staff"]
    start = time.time() + 0.5
    plans = [Plan(role, scenario, port, people[role], start_at=start, stop_at=start + warmup + duration)
             for role in roles]
    for position, n in enumerate(staff):
        plans[n].tasks = pool[position::len(staff)]
    workers = multiprocessing.get_context("fork").Pool(clients, initializer=_default_signals)
    try:
        results = workers.map(run_client, plans, chunksize=1)
        workers.close()  # every client is done: let them exit, do not kill them
    finally:
        workers.terminate()
        workers.join()
    counted_from = start + warmup
    samples = [s for result in results for s in result if s[0] >= counted_from]
    ended = max((s[0] + s[2] for s in samples), default=counted_from)
    seconds = max(min(ended, start + warmup + duration) - counted_from, 1e-9)
    operations = {}
    for op in sorted({s[1] for s in samples}):
        times = sorted(s[2] * 1000 for s in samples if s[1] == op and s[3])
        errors = sum(1 for s in samples if s[1] == op and not s[3])
        operations[op] = {
            "count": len(times), "per_second": round(len(times) / seconds, 1),
            "p50_ms": round(statistics.median(times), 2) if times else None,
            "p95_ms": round(percentile(times, 0.95), 2) if times else None,
            "p99_ms": round(percentile(times, 0.99), 2) if times else None, "errors": errors}
    return operations, seconds


def session(db: str, pg_url: str | None, workers: int, runs: list[tuple[str, int]], duration: float,
            warmup: float, filler: int) -> list[Report]:
    """One fresh database and server; ``runs`` (scenario, clients) one after the other."""
    # Enough seeded tasks for each completing run at up to 300 completions/s per busy core.
    needs = [int((warmup + duration) * 300 * min(clients, workers, 2)) + 50
             if scenario in ("complete", "work", "mixed") else 0 for scenario, clients in runs]
    per_step = max(5, -(-sum(needs) // len(STEPS)))
    with tempfile.TemporaryDirectory(prefix="propflow-load-") as name:
        folder = Path(name)
        with fresh_database(db, pg_url, folder) as url:
            app = prepare(url, folder)
            began = time.perf_counter()
            waiting = templates(app)
            pools = [[(task, step) for task in clone_instances(app, instance_id, per_step)]
                     for step, (instance_id, _) in enumerate(waiting)]
            if filler:
                add_filler(app, waiting[0][0], filler)
            seeded = time.perf_counter() - began
            pool = [task for group in zip(*pools, strict=True) for task in group]  # steps interleaved
            count = open_tasks(app)
            print(f"# {db}, {workers} web worker(s): {count} open tasks seeded in {seeded:.1f} s",
                  file=sys.stderr)
            from web.extensions import db as flask_db

            with app.app_context():
                flask_db.engine.dispose()
            reports = []
            with served(url, workers, folder) as port:
                people = {"staff": sign_in(port, STAFF), "owner": sign_in(port, OWNER)}
                for (scenario, clients), need in zip(runs, needs, strict=True):
                    mine, pool = pool[:need], pool[need:]
                    operations, seconds = measure(port, people, scenario, clients, duration, warmup, mine)
                    reports.append(Report(db, workers, clients, scenario, count, round(seconds, 1),
                                          operations))
                    print_report(reports[-1])
            return reports


def print_report(report: Report) -> None:
    print(f"{report.db} · {report.workers} worker(s) · {report.clients} client(s) · {report.scenario} · "
          f"{report.open_tasks} open tasks · {report.seconds} s")
    for op, figures in report.operations.items():
        print(f"  {op:<10} {figures['count']:>7} done  {figures['per_second']:>8}/s  "
              f"p50 {figures['p50_ms']} ms  p95 {figures['p95_ms']} ms  p99 {figures['p99_ms']} ms  "
              f"errors {figures['errors']}")
    sys.stdout.flush()


# The README's table: what issue 7's targets are measured on.
SUITE = [
    ("sqlite", 1, [("complete", 1), ("complete", 4), ("work", 1), ("submit", 1), ("submit", 4),
                   ("worklist", 1), ("mixed", 4)], 0),
    ("postgresql", 2, [("complete", 4), ("submit", 4), ("mixed", 4)], 0),
    ("postgresql", 4, [("complete", 4), ("complete", 8), ("submit", 4), ("mixed", 8)], 0),
    ("sqlite", 1, [("worklist", 1), ("complete", 1)], 100_000),
    ("postgresql", 4, [("worklist", 1), ("worklist", 4), ("complete", 4)], 100_000),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", help="a PostgreSQL server (a database is created on it and dropped)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn web workers")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--scenario", choices=SCENARIOS, nargs="+", default=["complete"])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds run first and not counted")
    parser.add_argument("--open-tasks", type=int, default=0, help="extra open tasks copied in first")
    parser.add_argument("--suite", action="store_true", help="the README's set of runs")
    parser.add_argument("--json", action="store_true", help="print every report as JSON too")
    args = parser.parse_args()
    # Stopped from outside: still stop the server and drop the database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    reports: list[Report] = []
    if args.suite:
        for db, workers, runs, filler in SUITE:
            reports += session(db, args.pg_url, workers, runs, args.duration, args.warmup, filler)
    else:
        runs = [(scenario, clients) for scenario in args.scenario for clients in args.clients]
        reports = session(args.db, args.pg_url, args.workers, runs, args.duration, args.warmup,
                          args.open_tasks)
    if args.json:
        print(json.dumps([asdict(r) for r in reports]))


if __name__ == "__main__":
    main()
