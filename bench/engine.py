"""Engine benchmark: how close a persisted user-task completion gets to the library's
own in-memory floor, and whether the timer sweep scales with due timers, not all timers.

    .venv/bin/python bench/engine.py [--instances 200] [--filler 99000]

Prints medians in milliseconds and the ratios the README reports. Runs on a temporary
SQLite database; nothing is left behind.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from engine import ManualClock, WorkflowEngine, baseline, make_engine, upgrade_schema, worker
from engine.models import ProcessInstance, Timer
from engine.specs import compile_deployment

BPMN = Path(__file__).resolve().parent.parent / "bpmn"
# The service-request process alone: the periodic spot check would add its own instances
# to the sweeps.
FILES = {name: (BPMN / name).read_bytes()
         for name in ("service_request.bpmn", "priority_proposal.dmn", "service_level.dmn")}
REQUEST = {
    "channel": "online", "owner_id": "owner_wang", "owner_name": "王先生",
    "contact_phone": "13800000000", "building": "3", "unit": "1201",
    "service_type": "facility", "description": "单元门禁卡失灵 The card reader is broken",
}
STEPS = [  # the happy path: eight user tasks
    ("Task_Register", {"registration_note": "ok"}),
    ("Task_Review", {"decision": "approve"}),
    ("Task_Confirm", {"confirmed_time": "2026-01-05T14:00", "confirmed_by_phone": True}),
    ("Task_Dispatch", {"technician": "tech_chen"}),
    ("Task_WorkFacility", {"sop_safety_zone": True, "sop_function_test": True}),
    ("Task_Record", {"work_content": "replaced", "work_started_at": "2026-01-05T14:00",
                     "work_finished_at": "2026-01-05T14:40"}),
    ("Task_Acceptance", {"acceptance": "accepted"}),
    ("Task_Rate", {"satisfaction": 5}),
]


# The diagram's record steps (dispatch, score) as no-ops: the floor compared against does
# no application work either.
RECORDS = {"propflow.service_request.dispatched": lambda call: {},
           "propflow.satisfaction.record": lambda call: {}}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def raw_library(instances: int) -> float:
    """Per user task: deserialize the full JSON, complete the task, serialize it back —
    what an application using the library directly does for each request."""
    spec_json = compile_deployment(FILES)[0].spec_json
    start = {**REQUEST, "started_at": "2026-01-05T09:00:00+00:00"}
    samples: list[float] = []
    for _ in range(instances):
        samples.extend(baseline.in_memory_completion_times(spec_json, start, STEPS))
    return median_ms(samples)


def persisted(url: str, instances: int, instance_cache: int) -> tuple[float, float]:
    """Per user task through the facade on SQLite: validate, run, save state, worklist,
    timers, deadlines and audit in one transaction. Also returns start-to-first-task."""
    clock = ManualClock()
    engine = WorkflowEngine(make_engine(url), clock, instance_cache_size=instance_cache, services=RECORDS)
    engine.deploy(FILES, name="bench", duplicate_filtering=True)
    starts, samples = [], []
    for _ in range(instances):
        began = time.perf_counter()
        instance = engine.start("service_request", REQUEST, business_key="B", user="owner_wang")
        starts.append(time.perf_counter() - began)
        for element_id, data in STEPS:
            task = next(t for t in instance.open_tasks if t.element_id == element_id)
            began = time.perf_counter()
            instance = engine.complete_user_task(task.id, data, user="bench")
            samples.append(time.perf_counter() - began)
    return median_ms(samples), median_ms(starts)


def sweep_time(url: str, due: int, filler: int, rounds: int = 3) -> float:
    """Seconds to fire ``due`` timers while ``filler`` more instances wait on later ones
    (median of ``rounds`` sweeps, each over freshly due instances)."""
    clock = ManualClock()
    sa_engine = make_engine(url)
    engine = WorkflowEngine(sa_engine, clock, instance_cache_size=0)
    engine.deploy(FILES, name="bench", duplicate_filtering=True)
    template = engine.start("service_request", REQUEST, business_key="T")
    with sa_engine.begin() as connection:
        row = connection.execute(select(ProcessInstance).where(
            ProcessInstance.id == template.id)).mappings().one()
        base = {k: v for k, v in row.items() if k != "id"}
        far = clock.now() + timedelta(days=3650)
        for offset in range(0, filler, 5000):
            ids = [str(uuid.uuid4()) for _ in range(min(5000, filler - offset))]
            # Filler rows are copies of a real instance whose timers lie years ahead:
            # they are never due, so their state is never loaded; they only fill the tables.
            connection.execute(insert(ProcessInstance), [{**base, "id": i} for i in ids])
            connection.execute(insert(Timer), [
                {"task_id": str(uuid.uuid4()), "instance_id": i, "element_id": "filler", "due_at": far}
                for i in ids])
    engine.cancel(template.id, user="bench")
    timings = []
    for _ in range(rounds):
        for _ in range(due):
            engine.start("service_request", REQUEST, business_key="D")
        clock.advance(hours=25)
        began = time.perf_counter()
        fired = worker.sweep(engine)
        timings.append(time.perf_counter() - began)
        assert fired == due, (fired, due)
        clock.advance(days=10)  # past every later deadline of this round's requests…
        worker.sweep(engine)  # …so the next round starts with only its own timers due
    sa_engine.dispose()
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="instances per completion run")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--filler", type=int, default=99_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        def url(name: str) -> str:
            path = Path(folder) / f"{name}.db"
            upgrade_schema(f"sqlite:///{path}")
            return f"sqlite:///{path}"

        raw = raw_library(args.instances)
        warm, start = persisted(url("warm"), args.instances, instance_cache=1024)
        cold, _ = persisted(url("cold"), args.instances, instance_cache=0)
        small = sweep_time(url("sweep_small"), args.due, 0)
        large = sweep_time(url("sweep_large"), args.due, args.filler)

    figures = {
        "raw_library_ms_per_task": round(raw, 3),
        "persisted_ms_per_task": round(warm, 3),
        "persisted_cold_ms_per_task": round(cold, 3),
        "persisted_over_raw": round(warm / raw, 2),
        "persisted_cold_over_raw": round(cold / raw, 2),
        "start_to_first_task_ms": round(start, 3),
        f"sweep_{args.due}_due_among_{args.due}_s": round(small, 3),
        f"sweep_{args.due}_due_among_{args.due + args.filler}_s": round(large, 3),
        "sweep_large_over_small": round(large / small, 2),
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
