"""How close a task completion comes to its floor on this stack, measured piece by piece.

    .venv/bin/python bench/floor.py [--per-step 120]

A staff member's completion of a task form (the six staff steps of a service request, on
SQLite, in process through Flask's test client, medians in milliseconds) against what any
implementation of the same completion on the product's stack must spend:

- **library**: SpiffWorkflow completing the step, running on to the next user task and
  serializing the state, with the version's spec objects shared as the engine shares them
  (``engine.baseline.shared_spec_completion_times``); for an instance not in memory, also
  deserializing it first;
- **web stack**: the same form posted to a route that does everything the task page does
  except the engine's work: Flask, Flask-Login loading the signed-in user through
  Flask-SQLAlchemy, Flask-WTF's CSRF check, the task's WTForms form validated and converted,
  a flash message and the redirect;
- **SQL**: the statements a real completion ran, captured and replayed straight through the
  sqlite3 module on a copy of the database taken before them: the user's read, then the
  command in one ``BEGIN IMMEDIATE`` … ``COMMIT`` (no SQLAlchemy, no ORM).

The sum is a floor only in the sense that each part is the least this stack does for it;
reaching it would need every part at once with nothing in between. Nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py: seeding and signing in, shared with the HTTP benchmark)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def library_floor(rounds: int) -> tuple[float, float]:
    """(cold, warm) per user task over the engine benchmark's first six steps, the same
    six elements the web client completes here."""
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
    bench_engine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_engine)
    from engine import baseline
    from engine.specs import compile_deployment

    spec_json = compile_deployment(bench_engine.FILES)[0].spec_json
    start = {**bench_engine.REQUEST, "started_at": "2026-01-05T09:00:00+00:00"}
    cold, warm = [], []
    for _ in range(rounds):
        c, w = baseline.shared_spec_completion_times(spec_json, start, bench_engine.STEPS[:6])
        cold += c
        warm += w
    return median_ms(cold), median_ms(warm)


class Client:
    """One signed-in staff member posting task forms through Flask's test client."""

    def __init__(self, app):
        self.client = app.test_client()
        token = load.CSRF.search(self.client.get("/login").data).group(1).decode()
        response = self.client.post("/login", data={"username": load.STAFF, "password": load.PASSWORD,
                                                    "csrf_token": token})
        assert response.status_code == 302, response.status_code
        self.token = load.CSRF.search(self.client.get("/tasks/").data).group(1).decode()
        self.cookie = self.client.get_cookie("session").value

    def post(self, path: str, step: int) -> float:
        began = time.perf_counter()
        response = self.client.post(path, data={**load.STEPS[step][1], "csrf_token": self.token})
        took = time.perf_counter() - began
        assert response.status_code == 302, (path, response.status_code, response.data[:300])
        response.close()
        self.client.set_cookie("session", self.cookie)  # no flash messages piling up
        return took


def add_floor_route(app, forms) -> None:
    """``POST /floor/<step>``: the task page's POST without the engine."""
    from flask import abort, flash, redirect, request, url_for
    from flask_babel import gettext
    from flask_login import login_required

    from forms import build_form_class, form_data
    from web.authz import staff_required

    def floor(step: int):
        definition = forms[step]
        form = build_form_class(definition)(request.form)
        if not form.validate():
            abort(422)
        form_data(form, definition)
        flash(gettext("Done: %(name)s", name=load.STEPS[step][0]), "success")
        return redirect(url_for("worklist.index"))

    app.add_url_rule("/floor/<int:step>", "floor", login_required(staff_required(floor)), methods=["POST"])


@contextlib.contextmanager
def captured(app):
    """The statements each request ran, as the driver got them: [[(sql, params, many)]]."""
    from sqlalchemy import event

    from web.extensions import db

    requests: list[list] = []

    def record(_connection, _cursor, statement, parameters, _context, executemany):
        if not statement.startswith(("BEGIN", "PRAGMA")):  # transactions are replayed as such
            requests[-1].append((statement, parameters, executemany))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield requests
    finally:
        event.remove(engine, "before_cursor_execute", record)


def replay(database: Path, requests: list[list]) -> list[float]:
    """Each request's statements through sqlite3: the user's read in a read transaction,
    the rest in one write transaction, as the app runs them."""
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    reader, writer = connect(), connect()
    times = []
    for statements in requests:
        (user_sql, user_params, _), *command = statements
        began = time.perf_counter()
        reader.execute("BEGIN")
        reader.execute(user_sql, user_params).fetchall()
        writer.execute("BEGIN IMMEDIATE")
        for sql, params, many in command:
            (writer.executemany if many else writer.execute)(sql, params).fetchall()
        writer.execute("COMMIT")
        reader.execute("ROLLBACK")
        times.append(time.perf_counter() - began)
    reader.close()
    writer.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-step", type=int, default=120, help="tasks per staff step and measure")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    from app import create_app
    from web import workflow_engine
    from web.extensions import db

    with tempfile.TemporaryDirectory(prefix="propflow-floor-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        seeding = load.prepare(url, folder)
        waiting = load.templates(seeding)
        names, per = ("cold", "warm", "sql"), args.per_step
        copies = [load.clone_instances(seeding, iid, per * len(names)) for iid, _ in waiting]
        batches = {name: [[(t, step) for t in copies[step][n * per:(n + 1) * per]]
                          for step in range(len(waiting))] for n, name in enumerate(names)}
        with seeding.app_context():
            db.engine.dispose()
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": load.SECRET,
                          "UPLOAD_FOLDER": str(folder / "uploads")})
        with app.app_context():
            engine = workflow_engine()
            forms = [engine.task(batches["cold"][step][0][0], with_data=False).form
                     for step in range(len(waiting))]
        add_floor_route(app, forms)
        client = Client(app)
        # The steps taken in turn, as the HTTP benchmark's clients take them.
        mixed = {name: [pair for group in zip(*steps, strict=True) for pair in group]
                 for name, steps in batches.items()}

        web = [client.post(f"/floor/{step}", step) for _ in range(args.per_step)
               for step in range(len(forms))]
        cold = [client.post(f"/tasks/{task_id}", step) for task_id, step in mixed["cold"]]
        warm = []
        for task_id, step in mixed["warm"]:
            client.client.get(f"/tasks/{task_id}").close()
            warm.append(client.post(f"/tasks/{task_id}", step))
        with app.app_context():
            db.engine.dispose()
        copy = folder / "before.db"
        with sqlite3.connect(folder / "bench.db") as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with captured(app) as requests:
            for task_id, step in mixed["sql"]:
                requests.append([])
                client.post(f"/tasks/{task_id}", step)
        with app.app_context():
            db.engine.dispose()
        sql = replay(copy, requests)

    library_cold, library_warm = library_floor(max(args.per_step // 2, 1))
    figures = {"statements": statistics.median(len(r) for r in requests),
               "library_cold_ms": library_cold, "library_warm_ms": library_warm,
               "web_stack_ms": median_ms(web), "sql_ms": median_ms(sql)}
    print(f"statements per completion: {figures['statements']}")
    print(f"library: {library_cold} ms (instance deserialized), {library_warm} ms (in memory)")
    print(f"web stack: {figures['web_stack_ms']} ms; SQL: {figures['sql_ms']} ms")
    for name, library, measured in (("cold", library_cold, median_ms(cold)),
                                    ("warm", library_warm, median_ms(warm))):
        floor = round(library + figures["web_stack_ms"] + figures["sql_ms"], 2)
        figures |= {f"{name}_floor_ms": floor, f"{name}_ms": measured}
        print(f"{name}: floor {floor} ms, Propflow {measured} ms ({measured / floor:.2f}× the floor)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
