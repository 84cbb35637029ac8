"""Many people and programs acting on the same cases at the same moment, over real HTTP to
gunicorn with several web workers: completing, claiming, assigning, giving back, sending
messages and fetching external tasks. Each request ends in success or a clear conflict
(409 in Camunda's words on the REST API; the conflict page, or the message on the page a
form leads to, in the browser); exactly one of the rivals wins; what the database keeps is
the winner's; nothing is silently overwritten."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import select

from engine import make_engine
from engine.models import AuditAction, AuditEvent, ExternalTask, UserTask
from tests.conftest import BACKENDS, scratch_database
from tests.integration.served import (
    BIN,
    CLERKS,
    SUPERVISORS,
    WORKERS,
    Answer,
    Client,
    Gunicorn,
    check_consistent,
    prepare,
)

pytestmark = pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn not installed")
EXTERNAL = 24


def race(actions: list[Callable[[], Answer]]) -> list[Answer]:
    """Run the actions in one thread each, released together."""
    start = threading.Barrier(len(actions))
    answers: list = [None] * len(actions)

    def run(index: int) -> None:
        start.wait(timeout=30)
        answers[index] = actions[index]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(answer is not None for answer in answers), "a racer got no answer"
    return answers


def string(value: str) -> dict:
    return {"value": value, "type": "String"}


def one_winner(answers: list[Answer], won: Callable[[Answer], bool], lost: Callable[[Answer], bool]) -> int:
    """The index of the one winner; every other answer is a clear conflict."""
    winners = [n for n, answer in enumerate(answers) if won(answer)]
    assert len(winners) == 1, [(a.status, a.text[:300]) for a in answers]
    for n, answer in enumerate(answers):
        assert n in winners or lost(answer), (answer.status, answer.text[:1000])
    return winners[0]


def rest_conflict(answer: Answer) -> bool:
    body = answer.json() if answer.status == 409 else None
    return bool(body) and body["type"] in (
        "TaskAlreadyClaimedException", "OptimisticLockingException", "InvalidRequestException") \
        and body["message"]


def flashed_error(client: Client, answer: Answer) -> str | None:
    """Where a form's redirect leads, the error the page shows."""
    if answer.status != 303:
        return None
    page = client.request("GET", answer.headers["Location"]).text
    start = page.find('class="flash error"')
    return page[start:page.find("</p>", start)] if start >= 0 else None


def open_task(client: Client, instance_id: str, element: str) -> dict:
    [task] = client.rest("GET", f"/task?processInstanceId={instance_id}&taskDefinitionKey={element}").json()
    return task


def audited(database_url: str, action: AuditAction) -> list[tuple[str, str, dict]]:
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        rows = connection.execute(select(AuditEvent.task_id, AuditEvent.actor, AuditEvent.data).where(
            AuditEvent.action == action)).all()
    sa_engine.dispose()
    return [tuple(row) for row in rows]


def assignee(database_url: str, task_id: str) -> str | None:
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        found = connection.scalar(select(UserTask.assignee).where(UserTask.id == task_id))
    sa_engine.dispose()
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request, sqlite_template, tmp_path_factory):
    """One database per backend for the module: each test races on cases of its own."""
    with scratch_database(request.param, sqlite_template, tmp_path_factory.mktemp("races")) as url:
        yield url


@pytest.fixture(scope="module")
def served(database_url):
    """gunicorn with three web workers; cases 0-3 for completions, 4-7 for claims, 8 for
    messages; the external tasks for the workers."""
    cases = prepare(database_url, cases=9, external=EXTERNAL)
    server = Gunicorn(database_url, workers=3)
    server.cases = cases
    yield server
    output = server.stop()
    assert "Traceback" not in output, output[-5000:]


def test_racing_completions_one_wins_the_rest_are_told(served, database_url):
    clerks = [Client(served.port, name) for name in CLERKS[:4]]
    tasks = [open_task(clerks[0], instance_id, "Task_Fill")["id"] for instance_id in served.cases[:3]]
    winners = {}
    for task_id in tasks:  # the REST API: four workers, four different values
        answers = race([lambda c=c, t=task_id: c.rest("POST", f"/task/{t}/complete", {
            "variables": {"value": string(f"by {c.username}")}}) for c in clerks])
        winners[task_id] = clerks[one_winner(answers, lambda a: a.status == 204, rest_conflict)].username

    browsers = [Client(served.port, name).login() for name in CLERKS[:3]]
    task_id = open_task(clerks[0], served.cases[3], "Task_Fill")["id"]
    for person in browsers:
        person.request("GET", f"/tasks/{task_id}")
    answers = race([lambda p=p: p.post_form(f"/tasks/{task_id}", {"value": f"by {p.username}"})
                    for p in browsers])
    winner = one_winner(answers, lambda a: a.status == 302,
                        lambda a: a.status == 409 and "This task is no longer open" in a.text)
    winners[task_id] = browsers[winner].username

    completions = audited(database_url, AuditAction.TASK_COMPLETED)
    for task_id, winner in winners.items():
        [(_, actor, data)] = [c for c in completions if c[0] == task_id]
        assert (actor, data) == (winner, {"submitted": {"value": f"by {winner}"}})  # the winner's, only
    check_consistent(database_url)


def test_racing_claims_assignments_and_give_backs_never_overwrite_silently(served, database_url):
    clerk = Client(served.port, CLERKS[0])
    tasks = [open_task(clerk, instance_id, "Task_Fill")["id"] for instance_id in served.cases[4:8]]

    # Claims: three over the REST API, two in the browser, one supervisor claiming for a sixth.
    rest = [Client(served.port, name) for name in CLERKS[:3]]
    browsers = [Client(served.port, name).login() for name in CLERKS[3:5]]
    supervisor = Client(served.port, SUPERVISORS[0])
    for person in browsers:
        person.request("GET", f"/tasks/{tasks[0]}")
    names = [c.username for c in rest] + [p.username for p in browsers] + [CLERKS[5]]
    answers = race([*(lambda c=c: c.rest("POST", f"/task/{tasks[0]}/claim", {"userId": c.username})
                      for c in rest),
                    *(lambda p=p: p.post_form(f"/tasks/{tasks[0]}/claim", {}) for p in browsers),
                    lambda: supervisor.rest("POST", f"/task/{tasks[0]}/claim", {"userId": CLERKS[5]})])
    clients = [*rest, *browsers, supervisor]

    def claimed(n: int) -> bool:
        answer = answers[n]
        return answer.status == 204 or (answer.status == 303 and
                                        answer.headers["Location"].endswith(f"/tasks/{tasks[0]}"))

    def told(n: int) -> bool:
        flash = flashed_error(clients[n], answers[n]) or ""
        return rest_conflict(answers[n]) or any(m in flash for m in (
            "already claimed by", "Someone else has claimed", "changed by someone else"))

    winners = [n for n in range(len(answers)) if claimed(n)]
    outcomes = ["won" if n in winners else "told" if told(n) else
                (answers[n].status, answers[n].headers.get("Location"), answers[n].text[:300])
                for n in range(len(answers))]
    assert sorted(map(str, outcomes)) == ["told"] * (len(answers) - 1) + ["won"], outcomes
    assert assignee(database_url, tasks[0]) == names[winners[0]]

    # Assignments: two supervisors hand the same task to different people from the page they
    # both saw, while a clerk claims it for herself.
    sups = [Client(served.port, name).login() for name in SUPERVISORS]
    claimer = Client(served.port, CLERKS[0])
    for sup in sups:
        sup.request("GET", f"/tasks/{tasks[1]}")
    assign = f"/tasks/{tasks[1]}/assign"
    answers = race([lambda: sups[0].post_form(assign, {"assignee": CLERKS[1], "seen": ""}),
                    lambda: sups[1].post_form(assign, {"assignee": CLERKS[2], "seen": ""}),
                    lambda: claimer.rest("POST", f"/task/{tasks[1]}/claim", {"userId": CLERKS[0]})])
    outcomes = [("conflict" if rest_conflict(answers[2]) else "won" if answers[2].status == 204 else "?")]
    outcomes = [*(("conflict" if flashed_error(s, a) else "won") if a.status == 303 else "?"
                  for s, a in zip(sups, answers[:2], strict=True)), *outcomes]
    assert sorted(outcomes) == ["conflict", "conflict", "won"], [(a.status, a.text[:200]) for a in answers]
    expected = [CLERKS[1], CLERKS[2], CLERKS[0]][outcomes.index("won")]
    assert assignee(database_url, tasks[1]) == expected

    # Giving back while a supervisor reassigns: the clerk holds the task; she gives it back
    # just as the supervisor hands it (from her) to someone else.
    holder = Client(served.port, CLERKS[3]).login()
    assert holder.rest("POST", f"/task/{tasks[2]}/claim", {"userId": CLERKS[3]}).status == 204
    holder.request("GET", f"/tasks/{tasks[2]}")
    sups[0].request("GET", f"/tasks/{tasks[2]}")
    answers = race([lambda: holder.post_form(f"/tasks/{tasks[2]}/unclaim", {}),
                    lambda: sups[0].post_form(f"/tasks/{tasks[2]}/assign",
                                              {"assignee": CLERKS[4], "seen": CLERKS[3]})])
    # Refused: a message on the worklist — or, for the clerk, 404 when her request read the
    # task after the hand-over committed (it is no longer hers to see, as below).
    refused = [answers[0].status == 404 or flashed_error(holder, answers[0]) is not None,
               flashed_error(sups[0], answers[1]) is not None]
    assert answers[1].status == 303 and answers[0].status in (303, 404), [a.status for a in answers]
    assert sorted(refused) == [False, True], (refused, [(a.status, a.text[:200]) for a in answers])
    assert assignee(database_url, tasks[2]) == (CLERKS[4] if refused[0] else None)

    # The same two, one after the other, each from the page it saw before the other acted:
    # whoever comes second is refused, whatever the order.
    holder.rest("POST", f"/task/{tasks[3]}/claim", {"userId": CLERKS[3]})
    holder.request("GET", f"/tasks/{tasks[3]}")
    sups[0].request("GET", f"/tasks/{tasks[3]}")
    handed = sups[0].post_form(f"/tasks/{tasks[3]}/assign", {"assignee": CLERKS[4], "seen": CLERKS[3]})
    assert flashed_error(sups[0], handed) is None
    stale = holder.post_form(f"/tasks/{tasks[3]}/unclaim", {})  # her page still says it is hers
    assert stale.status == 404  # not hers any more: she no longer sees it
    assert assignee(database_url, tasks[3]) == CLERKS[4]
    sups[1].request("GET", f"/tasks/{tasks[3]}")  # sees CLERKS[4]
    assert flashed_error(sups[0], sups[0].post_form(f"/tasks/{tasks[3]}/assign", {
        "assignee": CLERKS[5], "seen": CLERKS[4]})) is None
    stale = sups[1].post_form(f"/tasks/{tasks[3]}/assign", {"assignee": CLERKS[1], "seen": CLERKS[4]})
    assert "reassigned meanwhile" in (flashed_error(sups[1], stale) or "")
    assert assignee(database_url, tasks[3]) == CLERKS[5]
    over = supervisor.rest("POST", f"/task/{tasks[3]}/claim", {"userId": CLERKS[1]})
    assert over.status == 409 and over.json()["type"] == "TaskAlreadyClaimedException"

    changes = Counter(task for task, _, _ in audited(database_url, AuditAction.TASK_CLAIMED)
                      + audited(database_url, AuditAction.TASK_ASSIGNED)
                      + audited(database_url, AuditAction.TASK_UNCLAIMED))
    assert [changes[t] for t in tasks] == [1, 1, 2, 3]  # the winners' changes only
    check_consistent(database_url)


def test_racing_messages_and_completions_on_one_case(served, database_url):
    clerks = [Client(served.port, name) for name in CLERKS[:4]]
    instance_id = served.cases[8]
    fill = open_task(clerks[0], instance_id, "Task_Fill")["id"]

    def signal(client: Client) -> Answer:
        return client.rest("POST", "/message", {
            "messageName": "fault_signal", "processInstanceId": instance_id,
            "processVariables": {"signal": string(f"from {client.username}")}})

    def complete() -> Answer:
        return clerks[3].rest("POST", f"/task/{fill}/complete", {"variables": {"value": string("x")}})

    answers = race([*(lambda c=c: signal(c) for c in clerks[:3]), complete])
    signals = answers[:3]
    delivered = [n for n, a in enumerate(signals) if a.status == 204]
    assert len(delivered) <= 1, [(a.status, a.text) for a in signals]
    for answer in signals:  # nobody left waiting for it (400), or lost the race for the case (409)
        assert answer.status in (204, 400, 409), answer.text
    # A loser of the race for the case (409) tries again, as Camunda clients do.
    if not delivered:
        assert signal(clerks[0]).status == 204
        delivered = [0]
    if answers[3].status != 204:
        assert rest_conflict(answers[3]), answers[3].text
        assert complete().status == 204
    received = [data for _, _, data in audited(database_url, AuditAction.MESSAGE_RECEIVED)]
    assert received == [{"message": "fault_signal",
                         "variables": {"signal": f"from {clerks[delivered[0]].username}"}}]
    open_task(clerks[0], instance_id, "Task_Check")  # both halves arrived: the case moved on
    check_consistent(database_url)


def test_racing_external_workers_never_get_the_same_task(served, database_url):
    workers = [Client(served.port, WORKERS[0]) for _ in range(4)]

    def fetch(n: int) -> Answer:
        return workers[n].rest("POST", "/external-task/fetchAndLock", {
            "workerId": f"w{n}", "maxTasks": 4,
            "topics": [{"topicName": "fault.send", "lockDuration": 600000}]})

    got: dict[str, list[str]] = {f"w{n}": [] for n in range(4)}
    for _ in range(4):
        for n, answer in enumerate(race([lambda n=n: fetch(n) for n in range(4)])):
            assert answer.status == 200, answer.text
            got[f"w{n}"] += [task["id"] for task in answer.json()]
    fetched = [task for tasks in got.values() for task in tasks]
    assert len(fetched) == len(set(fetched)) == EXTERNAL  # every task once, none twice

    owners = [(worker, task) for worker, tasks in got.items() for task in tasks]
    answers = race([lambda w=w, t=t: workers[0].rest("POST", f"/external-task/{t}/complete", {"workerId": w})
                    for w, t in owners[:12]])
    assert all(a.status == 204 for a in answers), [a.text for a in answers if a.status != 204]
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        left = set(connection.scalars(select(ExternalTask.id)))
    sa_engine.dispose()
    assert left == {t for _, t in owners[12:]}
    check_consistent(database_url)
