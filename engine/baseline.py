"""The library used directly, as an application without this engine would use it.

Only for benchmarks: it is the floor that a persisted completion is compared against
(``bench/engine.py``), kept here so that nothing outside ``engine/`` imports the library.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from .runtime import advance, is_waiting_service_task
from .scripting import build_script_engine
from .serialization import SERIALIZER, LoadedSpecs


def in_memory_completion_times(
    spec_json: str, start_data: Mapping[str, Any], steps: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[float]:
    """Seconds per user task to deserialize the full JSON (spec included), complete the
    task, run engine steps and serialize again — one instance, the given steps in order."""
    specs = LoadedSpecs(spec_json)
    script_engine = build_script_engine()
    workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=script_engine)
    workflow.task_tree.data.update(start_data)
    _advance(workflow)
    state = SERIALIZER.serialize_json(workflow)
    samples = []
    for element_id, data in steps:
        began = time.perf_counter()
        workflow = SERIALIZER.deserialize_json(state)
        workflow.script_engine = script_engine
        task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == element_id)
        task.data.update(data)
        task.run()
        _advance(workflow)
        state = SERIALIZER.serialize_json(workflow)
        samples.append(time.perf_counter() - began)
    return samples



def _advance(workflow: BpmnWorkflow) -> None:
    """Engine steps, completing external service tasks as a no-op worker would (the
    application's record steps), until only user tasks and timers wait."""
    advance(workflow, _complete_service_task)


def _complete_service_task(task) -> bool:
    if not is_waiting_service_task(task):
        return False
    task.complete()
    return True
