"""Listings with filters, sorting and paging over the engine's tables — what the Camunda
REST API asks of deployments, instances and tasks — and the activity history read off the
audit trail.

Each function takes the :class:`~engine.facade.WorkflowEngine` and reads in one of its
sessions; nothing here loads a workflow or writes. Sorting is a sequence of
``(key, descending)`` pairs over the keys each function names; ties always fall back to
the id, so pages never overlap. Nulls sort last ascending and first descending, on SQLite
as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import case, false, func, or_, select
from sqlalchemy.orm import defer

from .errors import InstanceNotFound, NotFound
from .facade import WorkflowEngine
from .models import (
    AuditAction,
    AuditEvent,
    Deployment,
    ProcessDefinition,
    ProcessInstance,
    UserTask,
)
from .queries import confidential_condition
from .views import (
    ActivityRecord,
    DeploymentFilter,
    DeploymentView,
    InstanceFilter,
    InstanceRecord,
    TaskFilter,
    TaskSearch,
    TaskView,
    Visibility,
)

Sort = Sequence[tuple[str, bool]]

DEPLOYMENT_SORT = {"id": Deployment.id, "name": Deployment.name, "deployed_at": Deployment.deployed_at,
                   "tenant_id": Deployment.tenant_id}
INSTANCE_SORT = {"id": ProcessInstance.id, "definition_id": ProcessInstance.definition_id,
                 "process_key": ProcessInstance.process_key, "business_key": ProcessInstance.business_key,
                 "started_at": ProcessInstance.started_at, "ended_at": ProcessInstance.ended_at,
                 "process_name": ProcessDefinition.name, "process_version": ProcessDefinition.version,
                 "duration": None}  # computed: see _sorted_by_duration
TASK_SORT = {"id": UserTask.id, "name": UserTask.name, "created": UserTask.created_at, "due": UserTask.due_at,
             "assignee": UserTask.assignee, "instance_id": UserTask.instance_id,
             "definition_id": UserTask.definition_id, "element_id": UserTask.element_id,
             "priority": None}  # ranked by the caller's priority_rank

_INSTANCE_COLUMNS = (ProcessInstance.id, ProcessInstance.definition_id, ProcessInstance.process_key,
                     ProcessDefinition.name, ProcessDefinition.version, ProcessInstance.business_key,
                     ProcessInstance.status, ProcessInstance.started_at, ProcessInstance.started_by,
                     ProcessInstance.ended_at, ProcessInstance.end_event_id)
_ACTIVITY_ACTIONS = (AuditAction.STARTED, AuditAction.TASK_CREATED, AuditAction.TASK_COMPLETED,
                     AuditAction.TASK_CLAIMED, AuditAction.TASK_UNCLAIMED, AuditAction.TASK_ASSIGNED,
                     AuditAction.ACTIVITY_COMPLETED, AuditAction.TIMER_FIRED, AuditAction.DEADLINE_BREACHED,
                     AuditAction.CANCELLED, AuditAction.COMPLETED)
# What can end a user task without completing it: a timer interrupting it, the case ending.
_INTERRUPTING = (AuditAction.TIMER_FIRED, AuditAction.DEADLINE_BREACHED, AuditAction.CANCELLED,
                 AuditAction.COMPLETED)


def _ordering(columns: Mapping[str, object], sort: Sort, tiebreak) -> list:
    """ORDER BY clauses for ``sort``; :raise ValueError: for a key not in ``columns``."""
    clauses = []
    for key, descending in sort:
        column = columns.get(key)
        if column is None:
            raise ValueError(f"cannot sort by '{key}'")
        clauses.append(column.is_(None).desc() if descending else column.is_(None))
        clauses.append(column.desc() if descending else column.asc())
    return [*clauses, tiebreak]


def _window(query, offset: int, limit: int | None):
    query = query.offset(offset) if offset else query
    return query.limit(limit) if limit is not None else query


# --- deployments -----------------------------------------------------------------------------

def _deployment_conditions(where: DeploymentFilter) -> list:
    criteria = (
        (where.id, lambda v: Deployment.id == v),
        (where.name, lambda v: Deployment.name == v),
        (where.name_like, lambda v: Deployment.name.like(v)),
        (where.source, lambda v: Deployment.source == v),
        (where.after, lambda v: Deployment.deployed_at > v),
        (where.before, lambda v: Deployment.deployed_at < v),
    )
    conditions = [condition(value) for value, condition in criteria if value is not None]
    if where.without_source:
        conditions.append(Deployment.source.is_(None))
    return conditions


def deployments(engine: WorkflowEngine, where: DeploymentFilter | None = None, *, sort: Sort = (),
                offset: int = 0, limit: int | None = None) -> list[DeploymentView]:
    """Deployments with the definitions each created; sort keys: :data:`DEPLOYMENT_SORT`.

    :raise ValueError: an unknown sort key.
    """
    order = _ordering(DEPLOYMENT_SORT, sort, Deployment.id)
    with engine.read_session() as session:
        query = select(Deployment).where(*_deployment_conditions(where or DeploymentFilter()))
        rows = session.scalars(_window(query.order_by(*order), offset, limit)).all()
        return [engine._deployment_view(session, row) for row in rows]


def count_deployments(engine: WorkflowEngine, where: DeploymentFilter | None = None) -> int:
    with engine.read_session() as session:
        return session.scalar(select(func.count(Deployment.id))
                              .where(*_deployment_conditions(where or DeploymentFilter())))


def deployment(engine: WorkflowEngine, deployment_id: str) -> DeploymentView:
    """:raise NotFound: no such deployment."""
    with engine.read_session() as session:
        row = session.get(Deployment, deployment_id)
        if row is None:
            raise NotFound(f"no deployment '{deployment_id}'")
        return engine._deployment_view(session, row)


# --- instances -------------------------------------------------------------------------------

def _tasks_matching(where: TaskFilter, outer, inner):
    """``outer`` IN the ``inner`` column (task or instance id) of open tasks matching ``where``."""
    return outer.in_(WorkflowEngine._task_query(select(inner), where).correlate(None))


def _visible(visible: Visibility):
    options = []
    if visible.start_variable is not None:
        name, value = visible.start_variable
        options.append(ProcessInstance.id.in_(
            select(AuditEvent.instance_id).where(AuditEvent.action == AuditAction.STARTED,
                                                 AuditEvent.data[("variables", name)].as_string() == value)))
    options.extend(_tasks_matching(f, ProcessInstance.id, UserTask.instance_id) for f in visible.tasks)
    return or_(*options) if options else false()


def _instance_conditions(where: InstanceFilter) -> list:
    criteria = (
        (where.ids, lambda v: ProcessInstance.id.in_(list(v))),
        (where.definition_id, lambda v: ProcessInstance.definition_id == v),
        (where.process_keys, lambda v: ProcessInstance.process_key.in_(list(v))),
        (where.business_key, lambda v: ProcessInstance.business_key == v),
        (where.business_key_like, lambda v: ProcessInstance.business_key.like(v)),
        (where.statuses, lambda v: ProcessInstance.status.in_(list(v))),
        (where.started_by, lambda v: ProcessInstance.started_by == v),
        (where.started_after, lambda v: ProcessInstance.started_at > v),
        (where.started_before, lambda v: ProcessInstance.started_at < v),
        (where.ended_after, lambda v: ProcessInstance.ended_at > v),
        (where.ended_before, lambda v: ProcessInstance.ended_at < v),
        (where.visible, _visible),
        (where.confidential, confidential_condition),
    )
    return [condition(value) for value, condition in criteria if value is not None]


def _instance_select(where: InstanceFilter, *columns):
    return (select(*columns).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(*_instance_conditions(where)))


def instances(engine: WorkflowEngine, where: InstanceFilter | None = None, *, sort: Sort = (),
              offset: int = 0, limit: int | None = None) -> list[InstanceRecord]:
    """Instances matching ``where``, without loading their state; sort keys:
    :data:`INSTANCE_SORT`.

    :raise ValueError: an unknown sort key.
    """
    where = where or InstanceFilter()
    with engine.read_session() as session:
        if any(key == "duration" for key, _ in sort):
            ids = _sorted_by_duration(session, where, sort)
            ids = ids[offset:offset + limit if limit is not None else None]
            rows = {row.id: row for row in session.execute(
                _instance_select(InstanceFilter(ids=tuple(ids)), *_INSTANCE_COLUMNS))}
            rows = [rows[i] for i in ids]
        else:
            order = _ordering(INSTANCE_SORT, sort, ProcessInstance.id)
            rows = session.execute(_window(_instance_select(where, *_INSTANCE_COLUMNS).order_by(*order),
                                           offset, limit)).all()
        starts, reasons = _start_facts(session, [row.id for row in rows])
        return [InstanceRecord(row.id, row.definition_id, row.process_key, row.name, row.version,
                               row.business_key, row.status, row.started_at, row.started_by, row.ended_at,
                               row.end_event_id, starts.get(row.id), reasons.get(row.id))
                for row in rows]


def _sorted_by_duration(session, where: InstanceFilter, sort: Sort) -> list[str]:
    """Instance ids sorted in Python: a duration is not portable SQL. Running instances
    have none, so they sort as nulls do."""
    rows = session.execute(_instance_select(where, ProcessInstance.id, ProcessInstance.started_at,
                                            ProcessInstance.ended_at)).all()
    rows.sort(key=lambda row: row.id)
    for key, descending in reversed(sort):
        if key != "duration":
            raise ValueError("duration cannot be combined with other sort keys")
        done = [row for row in rows if row.ended_at is not None]
        running = [row for row in rows if row.ended_at is None]
        done.sort(key=lambda row: row.ended_at - row.started_at, reverse=descending)
        rows = running + done if descending else done + running
    return [row.id for row in rows]


def _start_facts(session, ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Per instance: the element it started at and, if cancelled, the reason given."""
    starts: dict[str, str] = {}
    reasons: dict[str, str] = {}
    if ids:
        for instance_id, action, element_id, data in session.execute(
                select(AuditEvent.instance_id, AuditEvent.action, AuditEvent.element_id, AuditEvent.data)
                .where(AuditEvent.instance_id.in_(ids),
                       AuditEvent.action.in_([AuditAction.STARTED, AuditAction.CANCELLED]))):
            if action == AuditAction.STARTED and element_id:
                starts[instance_id] = element_id
            elif action == AuditAction.CANCELLED:
                reasons[instance_id] = (data or {}).get("reason") or None
    return starts, reasons


def count_instances(engine: WorkflowEngine, where: InstanceFilter | None = None) -> int:
    with engine.read_session() as session:
        return session.scalar(_instance_select(where or InstanceFilter(), func.count(ProcessInstance.id)))


def instance_record(engine: WorkflowEngine, instance_id: str) -> InstanceRecord:
    """:raise InstanceNotFound: no such instance."""
    found = instances(engine, InstanceFilter(ids=(instance_id,)))
    if not found:
        raise InstanceNotFound(f"no process instance '{instance_id}'")
    return found[0]


# --- tasks -----------------------------------------------------------------------------------

def _task_conditions(search: TaskSearch) -> list:
    criteria = (
        (search.business_key, lambda v: ProcessInstance.business_key == v),
        (search.business_key_like, lambda v: ProcessInstance.business_key.like(v)),
        (search.definition_id, lambda v: UserTask.definition_id == v),
        (search.element_id, lambda v: UserTask.element_id == v),
        (search.name, lambda v: UserTask.name == v),
        (search.name_like, lambda v: UserTask.name.like(v)),
        (search.created_after, lambda v: UserTask.created_at > v),
        (search.created_before, lambda v: UserTask.created_at < v),
        (search.due_after, lambda v: UserTask.due_at > v),
    )
    conditions = [condition(value) for value, condition in criteria if value is not None]
    if search.any_of is not None:
        conditions.append(or_(*(_tasks_matching(f, UserTask.id, UserTask.id) for f in search.any_of))
                          if search.any_of else false())
    return conditions


def tasks(engine: WorkflowEngine, search: TaskSearch | None = None, *, sort: Sort = (), offset: int = 0,
          limit: int | None = None, priority_rank: Mapping[str, int] | None = None,
          default_rank: int = 0) -> list[TaskView]:
    """Open user tasks; sort keys: :data:`TASK_SORT`, where ``priority`` ranks each task's
    priority name by ``priority_rank`` (``default_rank`` for others and none).

    :raise ValueError: an unknown sort key.
    """
    search = search or TaskSearch()
    rank = case(*((UserTask.priority == name, value) for name, value in (priority_rank or {}).items()),
                else_=default_rank) if priority_rank else None
    columns = {**TASK_SORT, "priority": rank if rank is not None else UserTask.priority}
    order = _ordering(columns, sort, UserTask.id)
    with engine.read_session() as session:
        query = WorkflowEngine._task_query(select(UserTask, ProcessInstance), search.where)
        query = query.where(*_task_conditions(search)).options(defer(ProcessInstance.state))
        rows = session.execute(_window(query.order_by(*order), offset, limit)).all()
        candidates = engine._candidates(session, [task.id for task, _ in rows])
        return [engine._task_view(session, task, instance, engine._definition(session, task.definition_id),
                                  candidates=candidates.get(task.id, ()))
                for task, instance in rows]


def count_tasks(engine: WorkflowEngine, search: TaskSearch | None = None) -> int:
    search = search or TaskSearch()
    with engine.read_session() as session:
        query = WorkflowEngine._task_query(select(func.count(UserTask.id)), search.where)
        return session.scalar(query.where(*_task_conditions(search)))


# --- activity history ------------------------------------------------------------------------

def activities(engine: WorkflowEngine, where: InstanceFilter | None = None) -> list[ActivityRecord]:
    """Every pass through an audited element of the instances matching ``where`` (all when
    None), oldest first: user tasks from creation to completion (or to what cancelled
    them), starts, timers that fired, and the other audited elements at the moment they
    finished. Gateways and sequence flows are not audited, so they are not listed."""
    with engine.read_session() as session:
        scope = _instance_select(where or InstanceFilter(), ProcessInstance.id)
        instances_by_id = {row.id: row for row in session.execute(
            select(ProcessInstance.id, ProcessInstance.definition_id, ProcessInstance.process_key,
                   ProcessInstance.ended_at).where(ProcessInstance.id.in_(scope)))}
        if not instances_by_id:
            return []
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id.in_(scope), AuditEvent.action.in_(_ACTIVITY_ACTIONS))
            .order_by(AuditEvent.id)).all()
        kinds = _element_kinds(session, {row.definition_id for row in instances_by_id.values()})
        open_tasks = set(session.scalars(select(UserTask.id).where(UserTask.instance_id.in_(scope))))
    builder = _ActivityBuilder(instances_by_id, kinds, open_tasks)
    for event in events:
        builder.add(event)
    return builder.finish()


def _element_kinds(session, definition_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    return {row.id: {element_id: info.get("kind", "") for element_id, info in (row.catalogue or {}).items()}
            for row in session.execute(select(ProcessDefinition.id, ProcessDefinition.catalogue)
                                       .where(ProcessDefinition.id.in_(list(definition_ids))))}


class _ActivityBuilder:
    """Pairs the audit trail's task events into activity records."""

    def __init__(self, instances_by_id, kinds, open_tasks: set[str]):
        self._instances, self._kinds, self._open = instances_by_id, kinds, open_tasks
        self._records: list[dict] = []
        self._tasks: dict[str, dict] = {}  # user task id -> its record, while unfinished
        self._seen: set[str] = set()  # activity ids already recorded (a service task is audited twice)
        self._interrupts: dict[str, list[datetime]] = {}  # instance -> when something could interrupt

    def add(self, event: AuditEvent) -> None:
        action = event.action
        if action in _INTERRUPTING:
            self._interrupts.setdefault(event.instance_id, []).append(event.at)
        if action == AuditAction.TASK_CREATED:
            record = self._record(event, event.task_id, ended=None)
            record["assignee"] = (event.data or {}).get("assignee")
            self._tasks[event.task_id] = record
        elif action in (AuditAction.TASK_CLAIMED, AuditAction.TASK_UNCLAIMED, AuditAction.TASK_ASSIGNED):
            if event.task_id in self._tasks:
                self._tasks[event.task_id]["assignee"] = (event.data or {}).get("to")
        elif action == AuditAction.TASK_COMPLETED:
            record = self._tasks.pop(event.task_id, None)
            if record is not None:
                record["ended_at"] = event.at
                record["assignee"] = record["assignee"] or event.actor
        elif action in (AuditAction.STARTED, AuditAction.ACTIVITY_COMPLETED, AuditAction.TIMER_FIRED,
                        AuditAction.DEADLINE_BREACHED) and event.element_id:
            record = self._record(event, event.task_id or str(event.id), ended=event.at)
            record["timer"] = action in (AuditAction.TIMER_FIRED, AuditAction.DEADLINE_BREACHED)

    def _record(self, event: AuditEvent, key: str, *, ended: datetime | None) -> dict:
        instance = self._instances[event.instance_id]
        record_id = f"{event.element_id}:{key}"
        record = {"id": record_id, "instance_id": instance.id, "definition_id": instance.definition_id,
                  "process_key": instance.process_key, "element_id": event.element_id,
                  "element_name": event.element_name,
                  "kind": self._kinds.get(instance.definition_id, {}).get(event.element_id, ""),
                  "started_at": event.at, "ended_at": ended, "task_id": None, "assignee": None,
                  "timer": False, "canceled": False}
        if event.action == AuditAction.TASK_CREATED:
            record["task_id"] = event.task_id
        if record_id not in self._seen:
            self._seen.add(record_id)
            self._records.append(record)
        return record

    def finish(self) -> list[ActivityRecord]:
        for task_id, record in self._tasks.items():
            if task_id in self._open:
                continue
            # Gone without being completed: ended by the first thing after it that could.
            later = [at for at in self._interrupts.get(record["instance_id"], ())
                     if at >= record["started_at"]]
            instance = self._instances[record["instance_id"]]
            record["ended_at"] = min(later) if later else instance.ended_at or record["started_at"]
            record["canceled"] = True
        return [ActivityRecord(**record) for record in self._records]
