"""SQL statements per request, counted on the real database: completing a task through
its HTML form, the worklist page and a REST completion stay within the number reached
when they were optimised (issue 7), and the worklist's does not grow with the tasks on
the page — so an N+1 or a query added to every request fails here, not in production.

Transaction control (BEGIN, COMMIT, SAVEPOINT …) is not counted: SQLite issues BEGIN as a
statement, PostgreSQL does not."""

from __future__ import annotations

import base64
import re
from contextlib import contextmanager

from sqlalchemy import event

from web import service_requests, workflow_engine
from web.demo import DEMO_PASSWORD
from web.extensions import db

# Reached in issue 7 (see bench/load.py and the README's load figures). Lower them when a
# change saves a query; raise them only for a reason written next to the number.
# A completion (SQLite; PostgreSQL has the same): the user with roles and skills (1); the
# task with its instance (1) and the instance's derived rows with the open tasks' candidates
# (for the permission check) and deadlines (1), read by the command that completes it; the
# old worklist row (1 DELETE: its candidates cascade), the audit chain's head (SELECT,
# UPDATE), the audit entries (one INSERT for all: 2 here), the instance's UPDATE, the new
# worklist row and its candidate.
HTML_COMPLETION = 10
# The same, with the caller's Basic credentials checked against the shared rate-limit
# counter (1) instead of the session's user.
REST_COMPLETION = 11
# The worklist: the user, the count (up to 1,000), the page read in its three slices of the
# order (urgent; due soonest; no due time: each off an index) with its candidates, the
# process versions for the filter, the user's reminders.
WORKLIST = 8
_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@contextmanager
def counted(app):
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_):
        if not _CONTROL.match(statement):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def submit(app, number: int) -> str:
    """A new request waiting for registration; returns its Task_Register id."""
    with app.app_context():
        engine = workflow_engine()
        instance = service_requests.submit(engine, values={
            "channel": "phone", "owner_id": "owner_wang", "owner_name": "王建国",
            "contact_phone": "13800000001", "building": "3", "unit": "1201", "service_type": "facility",
            "description": f"门禁 {number}: the card reader is broken"}, photos=[], user="cs_zhang",
            now=engine.clock.now())
    return next(t.id for t in instance.open_tasks if t.element_id == "Task_Register")


REGISTER = {"description": "门禁: the card reader is broken", "contact_phone": "13800000001", "building": "3",
            "unit": "1201", "service_type": "facility", "registration_note": "verified"}


def test_completing_a_task_through_its_form_takes_a_bounded_number_of_queries(app, demo, browser):
    task_id = submit(app, 1)
    person = browser("cs_zhang")
    assert person.get(f"/tasks/{task_id}").status_code == 200
    with counted(app) as statements:
        response = person.post(f"/tasks/{task_id}", REGISTER)
    assert response.status_code == 302
    assert len(statements) <= HTML_COMPLETION, "\n".join(statements)


def test_the_worklist_takes_the_same_queries_however_many_tasks_it_shows(app, demo, browser):
    person = browser("cs_zhang")
    person.get("/tasks/?scope=offered")  # the process versions are read once per process
    with counted(app) as few:
        assert person.get("/tasks/?scope=offered").status_code == 200
    for number in range(8):
        submit(app, number)
    with counted(app) as many:
        page = person.get("/tasks/?scope=offered")
    assert page.status_code == 200 and page.get_data(as_text=True).count('href="/tasks/') >= 9
    assert len(many) == len(few), "\n".join(many)
    assert len(many) <= WORKLIST, "\n".join(many)


def test_a_rest_completion_takes_a_bounded_number_of_queries(app, demo, client):
    task_id = submit(app, 1)
    token = base64.b64encode(f"cs_zhang:{DEMO_PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    assert client.get(f"/engine-rest/task/{task_id}", headers=headers).status_code == 200
    with counted(app) as statements:
        response = client.post(f"/engine-rest/task/{task_id}/complete", headers=headers,
                               json={"variables": {"registration_note": {"value": "verified"}}})
    assert response.status_code == 204, response.get_data(as_text=True)
    assert len(statements) <= REST_COMPLETION, "\n".join(statements)


def test_the_worklist_counts_exactly_up_to_its_limit_then_says_more(app, demo, browser, monkeypatch):
    from web import worklist

    with app.app_context():
        _user(app, "cs_zhang").locale = "en"  # the page in English, whatever is translated
        db.session.commit()
    person = browser("cs_zhang")
    for number in range(4):
        submit(app, number)
    with app.app_context():
        exact = workflow_engine().count_user_tasks(worklist.authz.offered_filter(_user(app, "cs_zhang")))
        capped = workflow_engine().count_user_tasks(worklist.authz.offered_filter(_user(app, "cs_zhang")),
                                                    at_most=exact - 2)
    assert capped == exact - 1  # stopped one past the limit
    monkeypatch.setattr(worklist, "COUNT_LIMIT", exact)
    assert f"{exact} tasks" in person.get("/tasks/?scope=offered").get_data(as_text=True)
    monkeypatch.setattr(worklist, "COUNT_LIMIT", exact - 1)
    assert f"&gt; {exact - 1} tasks" in person.get("/tasks/?scope=offered").get_data(as_text=True)


def _user(app, username):
    from sqlalchemy import select

    from web.models import User

    return db.session.scalar(select(User).where(User.username == username))
