"""Stepping one in-memory workflow and reading off what must be persisted.

Everything here works on a single :class:`BpmnWorkflow` and its catalogue; nothing
touches the database. :mod:`engine.facade` wraps each call in a unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .catalogue import ElementInfo
from .clock import as_utc
from .errors import ScriptError

PRIORITY_VARIABLE = "priority"  # a process variable of this name is indexed on the worklist
SKILL_PROPERTY = "propflow.skill"

# Bounds the engine-step loop: each pass runs every ready automatic task, so only a
# diagram whose timers keep firing at once (an R/PT0S cycle, say) could get near it.
_MAX_PASSES = 100


@dataclass(frozen=True)
class ReadyUserTask:
    id: str
    element_id: str
    assignee: str | None
    candidate_groups: tuple[str, ...]
    candidate_users: tuple[str, ...]
    due_at: datetime | None
    priority: str | None
    skill: str | None


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class FinishedTask:
    id: str
    element_id: str
    top_level: bool
    timer: bool
    data: dict[str, Any]  # the task's variables when it finished (not a copy: read only)
    due_at: datetime | None = None  # a timer's due time


def all_tasks(workflow: BpmnWorkflow) -> Iterator[Task]:
    yield from workflow.tasks.values()
    for subprocess in workflow.subprocesses.values():
        yield from subprocess.tasks.values()


def completed_task_ids(workflow: BpmnWorkflow) -> set[UUID]:
    return {task.id for task in all_tasks(workflow) if task.state == TaskState.COMPLETED}


def element_id(task: Task) -> str:
    return getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name


def advance(workflow: BpmnWorkflow, run_service: Callable[[Task], bool] | None = None) -> None:
    """Run automatic work until only user tasks and future events remain.

    The library refreshes timers at the end of ``do_engine_steps``; a timer found due
    there (an absolute deadline already past) is READY but not run, so loop. Service
    tasks stop in STARTED: ``run_service`` may complete them (returning True), which
    makes more work ready.
    """
    with translated_errors():
        for _ in range(_MAX_PASSES):
            workflow.do_engine_steps()
            served = False
            if run_service is not None:
                started = [t for t in all_tasks(workflow) if t.state == TaskState.STARTED]
                served = any([run_service(task) for task in started])
            if not served and not any(
                not task.task_spec.manual
                for task in all_tasks(workflow)
                if task.state == TaskState.READY
            ):
                return
    raise ScriptError("the process keeps producing automatic work; check its timers and loops")


class translated_errors:
    """Turn library exceptions raised while running into :class:`ScriptError`."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc is None or isinstance(exc, ScriptError):
            return False
        if isinstance(exc, WorkflowTaskException):
            task = getattr(exc, "task", None)
            element = element_id(task) if task is not None else None
            cause = _own_refusal(exc)
            raise ScriptError(str(cause) if cause else str(exc), element) from exc
        if isinstance(exc, SpiffWorkflowException):
            raise ScriptError(str(exc)) from exc
        return False


def _own_refusal(exc: BaseException) -> ScriptError | None:
    """Our refusal (unsafe source, a cost limit) under the library's wrapping, which
    would otherwise hide it behind "Error evaluating expression"."""
    seen: set[int] = set()
    inner: BaseException | None = exc
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, ScriptError):
            return inner
        inner = getattr(inner, "exception", None) or inner.__cause__ or inner.__context__
    return None


def ready_user_tasks(workflow: BpmnWorkflow, elements: dict[str, ElementInfo]) -> list[ReadyUserTask]:
    ready = []
    for task in all_tasks(workflow):
        if task.state != TaskState.READY or not task.task_spec.manual:
            continue
        info = elements.get(element_id(task))
        ready.append(ReadyUserTask(
            id=str(task.id),
            element_id=element_id(task),
            assignee=_evaluate_text(workflow, task, info.assignee) if info else None,
            candidate_groups=_evaluate_list(workflow, task, info.candidate_groups) if info else (),
            candidate_users=_evaluate_list(workflow, task, info.candidate_users) if info else (),
            due_at=_evaluate_datetime(workflow, task, info.due_date) if info else None,
            priority=_text(task.data.get(PRIORITY_VARIABLE)),
            skill=info.properties.get(SKILL_PROPERTY) if info else None,
        ))
    return ready


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def evaluate(workflow: BpmnWorkflow, task: Task, expression: str) -> Any:
    try:
        return workflow.script_engine.evaluate(task, expression)
    except Exception as exc:  # the library wraps everything; report the element
        raise ScriptError(f"cannot evaluate '{expression}': {_root_cause(exc)}", element_id(task)) from exc


def _root_cause(exc: BaseException) -> str:
    inner = getattr(exc, "exception", None) or exc.__cause__
    return f"{type(inner).__name__}: {inner}" if inner else str(exc)


def _evaluate_text(workflow, task, expression: str | None) -> str | None:
    if not expression:
        return None
    value = evaluate(workflow, task, expression)
    return None if value in (None, "") else str(value)


def _evaluate_list(workflow, task, entries: tuple[str, ...]) -> tuple[str, ...]:
    values: list[str] = []
    for entry in entries:
        if entry.startswith("="):
            result = evaluate(workflow, task, entry[1:])
            items = result if isinstance(result, (list, tuple)) else str(result or "").split(",")
            values.extend(str(item).strip() for item in items if str(item).strip())
        else:
            values.append(entry)
    return tuple(dict.fromkeys(values))


def _evaluate_datetime(workflow, task, expression: str | None) -> datetime | None:
    value = _evaluate_text(workflow, task, expression)
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ScriptError(f"due date '{value}' is not an ISO 8601 date-time", element_id(task)) from None


def waiting_timers(workflow: BpmnWorkflow) -> list[WaitingTimer]:
    """Every armed timer with its due time, read from the library's own record of it."""
    timers = []
    for task in list(workflow.event_manager.tasks.values()):
        if task.state != TaskState.WAITING or not _is_timer(task.task_spec.event_definition):
            continue
        due = _timer_due(task)
        if due is not None:
            timers.append(WaitingTimer(str(task.id), element_id(task), due))
    return timers


def _is_timer(definition) -> bool:
    if isinstance(definition, MultipleEventDefinition):
        return any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions)
    return isinstance(definition, TimerEventDefinition)


def _timer_due(task: Task) -> datetime | None:
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):
        if value.get("cycles") == 0:
            return None
        value = value.get("next")
    if not isinstance(value, str):
        return None
    parsed = TimerEventDefinition.parse_time_or_duration(value)
    return as_utc(parsed) if isinstance(parsed, datetime) else None


def finished_since(workflow: BpmnWorkflow, before: set[UUID]) -> list[FinishedTask]:
    """Tasks that completed during this command, oldest first."""
    finished = []
    for task in all_tasks(workflow):
        if task.state == TaskState.COMPLETED and task.id not in before:
            timer = _is_timer(getattr(task.task_spec, "event_definition", None))
            finished.append((task.last_state_change, FinishedTask(
                str(task.id), element_id(task), task.workflow is workflow, timer, task.data,
                _timer_due(task) if timer else None)))
    return [item for _, item in sorted(finished, key=lambda pair: pair[0])]


def current_variables(workflow: BpmnWorkflow, elements: dict[str, ElementInfo]) -> dict[str, Any]:
    """The variables as a person would call them now.

    Data lives on tasks. While work is waiting, merge the waiting tasks' data, the main
    path's last. Once finished, take the main path's end event: the library's
    ``workflow.data`` is overwritten by whichever branch ends last, so an escalation that
    ends after the case would otherwise roll its variables back to when it fired.
    """

    def main_path(task: Task) -> bool:
        info = elements.get(element_id(task))
        return info is None or info.main_path

    if workflow.is_completed():
        ends = [t for t in workflow.tasks.values()
                if t.state == TaskState.COMPLETED and main_path(t)
                and elements.get(element_id(t)) is not None
                and elements[element_id(t)].kind == "endEvent"]
        if not ends:
            return dict(workflow.data)
        return dict(max(ends, key=lambda t: t.last_state_change).data)
    live = [t for t in all_tasks(workflow)
            if t.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED)]
    variables: dict[str, Any] = {}
    for task in sorted(live, key=lambda t: (main_path(t), t.last_state_change)):
        variables.update(task.data)
    return variables


def find_task(workflow: BpmnWorkflow, task_id: str) -> Task | None:
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError):
        return None
    except Exception:  # the library raises its own TaskNotFoundException
        return None


# --- external tasks and messages -------------------------------------------------------

@dataclass(frozen=True)
class WaitingMessage:
    task_id: str
    element_id: str
    name: str


def waiting_messages(workflow: BpmnWorkflow) -> list[WaitingMessage]:
    """Message catch events and receive tasks waiting, with the message each waits for."""
    found = []
    for task in all_tasks(workflow):
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state == TaskState.WAITING and isinstance(definition, MessageEventDefinition):
            found.append(WaitingMessage(str(task.id), element_id(task), definition.name))
    return found


def is_waiting_service_task(task: Task) -> bool:
    """A service task stopped in STARTED: waiting for its function or an external worker."""
    return task.state == TaskState.STARTED and "ServiceTask" in type(task.task_spec).__name__


def started_service_tasks(workflow: BpmnWorkflow) -> list[Task]:
    return [t for t in all_tasks(workflow) if is_waiting_service_task(t)]


def is_waiting(task: Task) -> bool:
    """Still waiting for its event (a message, a timer, a signal)."""
    return task.state == TaskState.WAITING


def deliver_message(task: Task, name: str, variables: dict[str, Any]) -> None:
    """Give the waiting ``task`` its message; the message's variables become the case's."""
    definition = task.task_spec.event_definition
    task.data.update(variables)
    # The Camunda flavour keeps a payload under a result variable; the plain one merges it.
    payload = ({"payload": name, "result_var": "last_message"} if hasattr(definition, "result_var")
               else dict(variables))
    with translated_errors():
        task.workflow.top_workflow.send_event(BpmnEvent(definition, payload))


def throw_error(task: Task, code: str, variables: dict[str, Any]) -> bool:
    """Throw BPMN error ``code`` from a waiting service task to the boundary events that
    catch it; False (and nothing changed) when none does."""
    catchers = [t for t in all_tasks(task.workflow.top_workflow)
                if t.state == TaskState.WAITING
                and isinstance(getattr(t.task_spec, "event_definition", None), ErrorEventDefinition)
                and t.task_spec.event_definition.code in (None, code)]
    if not catchers:
        return False
    event = BpmnEvent(ErrorEventDefinition(code, code=code), dict(variables), target=task.workflow)
    with translated_errors():
        task.workflow.top_workflow.catch(event)
    return any(t.state != TaskState.WAITING for t in catchers)
