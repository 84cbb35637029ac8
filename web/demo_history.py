"""Six weeks of past operations for the demo (``flask demo load --history``): requests,
ratings, feedback and a spot check, replayed through the real diagrams on a clock of their
own, so the dashboard, the meeting agenda and the archives have something true to show.

Everything goes through the engine as people would do it — forms validated, timers fired
when their time comes, facts recorded by the diagrams' own steps — only faster. The replay
is seeded: the same history every time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine import InstanceNotRunning, ManualClock, TaskNotReady, WorkflowEngine

from . import service_requests
from .demo import _OWNERS, _TECHNICIAN, _WORK_TASK

WEEKS = 6
REQUESTS = 48
FEEDBACK = 10
# Scores owners give, and how often (a company a little under its 90 % target).
_SCORES = [5] * 50 + [4] * 33 + [3] * 9 + [2] * 6 + [1] * 2
_TYPES = ["plumbing"] * 4 + ["electrical"] * 3 + ["facility"] * 2 + ["cleaning"] * 2 + ["other"]
_PROBLEMS = {
    "plumbing": "厨房水管漏水 Kitchen pipe leaking", "electrical": "走廊灯不亮 Corridor light out",
    "facility": "单元门闭门器损坏 Door closer broken", "cleaning": "楼道需要清洁 Stairwell needs cleaning",
    "other": "信报箱锁坏了 Mailbox lock broken",
}
_FEEDBACK = [
    ("complaint", "urgent", "夜间施工噪音 Night-time building noise"),
    ("complaint", "normal", "垃圾清运不及时 Rubbish collected late"),
    ("suggestion", "normal", "增加电动车充电桩 More e-bike chargers"),
    ("praise", "normal", "保洁阿姨很负责 The cleaner is very conscientious"),
    ("inquiry", "normal", "物业费缴费方式 How to pay the service fee"),
]


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    act: Callable[[], None] = field(compare=False)


class _Replay:
    """A queue of steps in time order; before each, the clock moves and due timers fire."""

    def __init__(self, engine: WorkflowEngine, start: datetime):
        self.clock = ManualClock(start)
        self.engine = engine.with_clock(self.clock)
        self.queue: list[_Step] = []
        self.count = 0
        self.skipped = 0

    def at(self, when: datetime, act: Callable[[], None]) -> None:
        self.count += 1
        heapq.heappush(self.queue, _Step(when, self.count, act))

    def run(self, until: datetime) -> None:
        while self.queue and self.queue[0].at < until:
            step = heapq.heappop(self.queue)
            self.clock.set(max(step.at, self.clock.now()))
            self.engine.fire_due_timers()
            try:
                step.act()
            except (TaskNotReady, InstanceNotRunning):
                self.skipped += 1  # the case went another way (a timer closed it): as in life
        self.clock.set(until)
        self.engine.fire_due_timers()

    def complete(self, key: Callable[[], str | None], element: str, data: dict, user: str,
                 optional: bool = False) -> Callable[[], None]:
        """A step: complete ``element`` of the case ``key()`` names (if it is open, when
        ``optional``)."""

        def act() -> None:
            instance_id = key()
            open_tasks = self.engine.instance(instance_id).open_tasks if instance_id else ()
            task = next((t for t in open_tasks if t.element_id == element), None)
            if task is None:
                self.skipped += 0 if optional else 1
                return
            self.engine.complete_user_task(task.id, data, user=user)

        return act


def replay(engine: WorkflowEngine, now: datetime) -> Iterator[str]:
    start = (now - timedelta(weeks=WEEKS)).replace(hour=1, minute=0, second=0, microsecond=0)
    history = _Replay(engine, start)
    rng = random.Random(2026)
    span = (now - timedelta(days=2) - start) / REQUESTS
    for number in range(REQUESTS):
        _request(history, rng, number, start + span * number + timedelta(hours=rng.randint(0, 10)))
    for number in range(FEEDBACK):
        _feedback(history, rng, number, start + timedelta(days=2 + number * 4, hours=rng.randint(0, 8)))
    history.at(start + timedelta(weeks=WEEKS - 2, hours=2), lambda: _spot_check(history))
    history.run(until=now - timedelta(minutes=1))
    yield (f"history: {REQUESTS} requests and {FEEDBACK} feedback items over {WEEKS} weeks "
           f"({history.skipped} steps overtaken by timers)")


def _request(history: _Replay, rng: random.Random, number: int, submitted: datetime) -> None:
    service_type = rng.choice(_TYPES)
    owner = rng.choice(list(_OWNERS))
    emergency = service_type in ("plumbing", "electrical") and rng.random() < 0.2
    case: dict[str, str] = {}

    def submit() -> None:
        channel = rng.choice(["online", "online", "phone", "on_site"])
        case["id"] = service_requests.submit(history.engine, values={
            "channel": channel, "owner_id": owner, **_OWNERS[owner], "service_type": service_type,
            "description": _PROBLEMS[service_type]}, photos=[],
            user=owner if channel == "online" else "cs_zhang", now=history.clock.now(),
            business_key=f"SR-{submitted:%Y%m%d}-H{number:03d}").id

    history.at(submitted, submit)
    steps = _request_steps(rng, submitted, service_type, owner, emergency)
    for when, element, data, user in steps:
        history.at(when, history.complete(lambda: case.get("id"), element, data, user))
    # The supervisor follows up on any missed deadline once the work is done.
    for element in ("Task_ResponseOverdue", "Task_HandlingOverdue"):
        history.at(steps[-1][0] + timedelta(hours=2), history.complete(
            lambda: case.get("id"), element, {"action_taken": "已督办并向业主致歉 Chased and apologised"},
            "sup_zhao", optional=True))


def _request_steps(rng: random.Random, submitted: datetime, service_type: str, owner: str,
                   emergency: bool) -> list[tuple[datetime, str, dict, str]]:
    """When each person does their step: now and then late, mostly on time."""
    technician = _TECHNICIAN[service_type]
    late = rng.random() < 0.08  # customer service misses the 24 h answer now and then
    registered = submitted + timedelta(hours=26 if late else rng.uniform(0.3, 3))
    visit = f"{registered + timedelta(hours=rng.uniform(1, 20)):%Y-%m-%dT%H:%M}"
    hours = rng.uniform(0.5, 1.5) if emergency else rng.uniform(1, 6)
    if emergency and rng.random() < 0.25:
        hours = rng.uniform(2.5, 4)  # an emergency handled late
    done = registered + timedelta(minutes=50, hours=hours)
    priority = "emergency" if emergency else rng.choice(["normal", "high", "low"])
    record = {"work_content": "已按标准完成 Done to standard", "work_started_at": visit,
              "work_finished_at": visit, "materials": "—"}
    steps = [
        (registered, "Task_Register", {"registration_note": "已核实 Verified"}, "cs_zhang"),
        (registered + timedelta(minutes=20), "Task_Review", {"decision": "approve", "priority": priority},
         "sup_zhao"),
        (registered + timedelta(minutes=40), "Task_Confirm",
         {"confirmed_time": visit, "confirmed_by_phone": True}, "cs_zhang"),
        (registered + timedelta(minutes=50), "Task_Dispatch", {"technician": technician}, "sup_zhao"),
        (done, _WORK_TASK[service_type], {}, technician),
        (done + timedelta(minutes=5), "Task_Record", record, technician),
        (done + timedelta(hours=3), "Task_Acceptance", {"acceptance": "accepted"}, owner),
    ]
    if rng.random() < 0.1:
        return steps  # never rated: the case closes unrated after 7 days
    score = rng.choice(_SCORES)
    rated = done + timedelta(hours=rng.uniform(5, 40))
    comment = "" if score >= 4 else "还可以更好 Could be better"
    steps.append((rated, "Task_Rate", {"satisfaction": score, "satisfaction_comment": comment}, owner))
    if score < 4:
        steps.append((rated + timedelta(hours=20), "Task_FollowUp",
                      {"follow_up_result": "已回访并致歉 Called and apologised"}, "cs_zhang"))
    return steps


def _feedback(history: _Replay, rng: random.Random, number: int, received: datetime) -> None:
    category, urgency, subject = _FEEDBACK[number % len(_FEEDBACK)]
    owner = rng.choice(list(_OWNERS))
    item: dict[str, str] = {}

    channel = rng.choice(["online", "phone", "letter"]) if number % 3 else "online"

    def submit() -> None:
        item["id"] = history.engine.start("feedback", {
            "channel": channel, "owner_id": owner, "subject": subject, "content": subject,
            "letter_date": f"{received:%Y-%m-%d}",
        }, business_key=f"FB-{received:%Y%m%d}-H{number:03d}",
            user=owner if channel == "online" else "cs_zhang").id

    def key() -> str | None:
        return item.get("id")

    reply_hours = rng.uniform(1, 3) if urgency == "urgent" else rng.uniform(3, 30)
    handle = {"handling_note": "已处理 Handled",
              "reply": "感谢反馈，已安排处理 Thank you, it has been dealt with"}
    if category == "complaint" and number % 2 == 0:
        handle |= {"needs_rectification": True, "responsible": "sup_zhao",
                   "rectify_by": f"{received + timedelta(days=10):%Y-%m-%d}"}
    history.at(received, submit)
    history.at(received + timedelta(hours=0.5), history.complete(
        key, "Task_Classify", {"category": category, "urgency": urgency}, "cs_zhang"))
    history.at(received + timedelta(hours=reply_hours),
               history.complete(key, "Task_Handle", handle, "cs_zhang"))
    history.at(received + timedelta(hours=reply_hours + 20), history.complete(
        key, "Task_OwnerVerdict", {"reply_satisfied": "yes" if rng.random() < 0.8 else "no",
                                   "owner_comment": "希望更快 Hoped for sooner"}, owner))


def _spot_check(history: _Replay) -> None:
    """One weekly check by hand: the first sampled request fails, the rest pass."""
    check = history.engine.start("spot_check", {}, business_key=f"SC-{history.clock.now():%Y%m%d}-H",
                                 user="sup_zhao")
    failed = False
    while check.open_tasks:
        task = check.open_tasks[0]
        answer = {"check_result": "passed", "followed_sop": True, "record_complete": True}
        if not failed:
            failed = True
            answer = {"check_result": "failed",
                      "findings": "服务记录缺少现场照片 No site photos in the record",
                      "responsible": "tech_chen",
                      "rectify_by": f"{history.clock.now() + timedelta(days=5):%Y-%m-%d}"}
        check = history.engine.complete_user_task(task.id, answer, user="sup_zhao")
