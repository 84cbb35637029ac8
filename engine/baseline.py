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
from .serialization import SERIALIZER, LoadedSpecs, dump_state, load_state


def in_memory_completion_times(
    spec_json: str, start_data: Mapping[str, Any], steps: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[float]:
    """Seconds per user task to deserialize the full JSON (spec included), complete the
    task, run engine steps and serialize again — one instance, the given steps in order."""
    _, script_engine, workflow = _started(spec_json, start_data)
    state = SERIALIZER.serialize_json(workflow)
    samples = []
    for element_id, data in steps:
        began = time.perf_counter()
        workflow = SERIALIZER.deserialize_json(state)
        workflow.script_engine = script_engine
        _complete(workflow, element_id, data)
        state = SERIALIZER.serialize_json(workflow)
        samples.append(time.perf_counter() - began)
    return samples


def shared_spec_completion_times(
    spec_json: str, start_data: Mapping[str, Any], steps: Iterable[tuple[str, Mapping[str, Any]]]
) -> tuple[list[float], list[float]]:
    """The library's own share of a completion as this engine stores instances (the
    version's spec objects shared, the state without its spec): seconds per user task to
    deserialize, complete, run on and serialize (``cold``), and the same without the
    deserialization, the instance being in memory already (``warm``)."""
    specs, script_engine, workflow = _started(spec_json, start_data)
    state = dump_state(workflow)

    def loaded() -> BpmnWorkflow:
        workflow = load_state(state, SERIALIZER.VERSION, specs)
        workflow.script_engine = script_engine
        return workflow

    cold, warm = [], []
    for element_id, data in steps:
        in_memory = loaded()
        began = time.perf_counter()
        _complete(in_memory, element_id, data)
        dump_state(in_memory)
        warm.append(time.perf_counter() - began)
        began = time.perf_counter()
        workflow = loaded()
        _complete(workflow, element_id, data)
        state = dump_state(workflow)
        cold.append(time.perf_counter() - began)
    return cold, warm


def _started(spec_json: str, start_data: Mapping[str, Any]):
    """(specs, script engine, a new instance run to its first user task)."""
    specs = LoadedSpecs(spec_json)
    script_engine = build_script_engine()
    workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=script_engine)
    workflow.task_tree.data.update(start_data)
    _advance(workflow)
    return specs, script_engine, workflow


def _complete(workflow: BpmnWorkflow, element_id: str, data: Mapping[str, Any]) -> None:
    """Complete the ready user task of ``element_id`` with ``data`` and run on."""
    task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                if t.task_spec.bpmn_id == element_id)
    task.data.update(data)
    task.run()
    _advance(workflow)


def _advance(workflow: BpmnWorkflow) -> None:
    """Engine steps, completing external service tasks as a no-op worker would (the
    application's record steps), until only user tasks and timers wait."""
    advance(workflow, _complete_service_task)


def _complete_service_task(task) -> bool:
    if not is_waiting_service_task(task):
        return False
    task.complete()
    return True
