"""The engine's one public entry point.

Every command follows the same cycle inside one transaction: load the instance, act,
run engine steps, save the state together with the rows derived from it (worklist,
timers, deadlines, audit), return a view. A command that fails for any reason rolls
back whole: no half-written instance.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import (
    Boolean,
    Engine,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, defer, make_transient_to_detached, object_session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from . import runtime, schedules, timer_claims
from .catalogue import ElementInfo, StartTimer
from .clock import Clock, SystemClock, clock_in_effect
from .db import checkpoint_wal, session_factories
from .errors import (
    ConcurrentUpdate,
    EngineError,
    InstanceNotFound,
    InstanceNotRunning,
    ProcessNotFound,
    ScriptError,
    TaskAlreadyClaimed,
    TaskNotFound,
    TaskNotReady,
)
from .external import ExternalWork, sync_external_tasks, sync_message_subscriptions
from .forms import FormDefinition, validate_submission
from .models import (
    AuditAction,
    AuditEvent,
    Deadline,
    Deployment,
    DeploymentResource,
    ExternalTask,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    ProcessSchedule,
    Timer,
    TimerLease,
    UserTask,
    UserTaskCandidate,
)
from .preview import DeploymentPreview, is_unchanged, preview
from .queries import confidential_condition
from .records import audit as _audit
from .records import check_column_text
from .records import check_plain as _check_plain
from .scripting import build_script_engine
from .serialization import SERIALIZER_VERSION, LoadedSpecs, dump_state, load_state
from .specs import compile_deployment, content_hash, resource_hash
from .views import (
    AuditEntry,
    DeadlineView,
    DefinitionView,
    DeploymentView,
    InstanceView,
    Notice,
    ServiceCall,
    TaskFilter,
    TaskView,
)

DEADLINE_PROPERTY = "propflow.deadline"
MILESTONE_PROPERTY = "propflow.milestone"
# On an event: reaching it notifies the person named by this process variable.
NOTIFY_PROPERTY = "propflow.notify"
TIMER_ACTOR = "timer"
_AUDITED_KINDS = {
    "scriptTask", "businessRuleTask", "serviceTask", "sendTask", "receiveTask", "task",
    "manualTask", "callActivity", "subProcess", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent",
}
_EMPTY_FORM = FormDefinition()
_ANYONE = object()  # an assignment not conditional on who holds the task
_SAVED = "propflow.saved"  # session.info: instance id -> what its last save wrote (_Saved)


class _InstanceCache:
    """Workflows kept in memory between commands, keyed by instance and row version.

    A workflow is checked out for the length of one command, so two threads never step
    the same object; any change to the row (here or in another process) changes its
    version and turns the entry into a miss.
    """

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[str, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def checkout(self, instance_id: str, row_version: int) -> BpmnWorkflow | None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is None or entry[0] != row_version:
            return None
        return entry[1]

    def checkin(self, instance_id: str, row_version: int, workflow: BpmnWorkflow) -> None:
        if self._size <= 0:
            return
        with self._lock:
            current = self._entries.get(instance_id)
            if current is not None and current[0] >= row_version:
                return
            self._entries[instance_id] = (row_version, workflow)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


@dataclass
class _Definition:
    """A deployed version as the engine uses it: row facts, spec objects, catalogue."""

    id: str
    key: str
    specs: LoadedSpecs
    elements: dict[str, ElementInfo]
    start_element: ElementInfo | None

    @property
    def has_deadlines(self) -> bool:
        """Whether an instance of this version can have ``deadline`` rows at all."""
        return any(DEADLINE_PROPERTY in info.properties or MILESTONE_PROPERTY in info.properties
                   for info in self.elements.values())


class WorkflowEngine(ExternalWork):
    """Deploy, start, work and inspect BPMN processes stored in one database."""

    def __init__(self, sa_engine: Engine, clock: Clock | None = None, *, cache_size: int = 32,
                 instance_cache_size: int = 256,
                 services: Mapping[str, Callable[[ServiceCall], Mapping[str, Any] | None]] | None = None):
        """``services`` maps an external service task's ``camunda:topic`` to a function
        the engine calls in the same transaction when a task with that topic is reached;
        tasks whose topic has no function wait for an external worker.

        ``instance_cache_size``: workflows kept in memory between commands. Each is tens of
        thousands of objects that every full garbage collection walks, so the cache is kept
        small: 1,024 made those pauses 200-300 ms under load; a hit saves one deserialization
        (about 0.7 ms), and what hits is mostly the same instance again within seconds."""
        self.clock = clock or SystemClock()
        self._services = dict(services or {})
        self._sa_engine = sa_engine
        self._read, self._write = session_factories(sa_engine)
        self._script_engine = build_script_engine()
        self._definitions: OrderedDict[str, _Definition] = OrderedDict()
        self._cache_size = cache_size
        self._instances = _InstanceCache(instance_cache_size)
        self._lock = threading.Lock()

    def with_clock(self, clock: Clock) -> WorkflowEngine:
        """The same database and services on another clock: for replaying past operations
        (the demo's history) without moving this engine's time."""
        return WorkflowEngine(self._sa_engine, clock, cache_size=self._cache_size, instance_cache_size=0,
                              services=self._services)

    # --- units of work --------------------------------------------------------------

    @contextmanager
    def _unit_of_work(self) -> Iterator[Session]:
        """One writing transaction, committed only if the block finishes."""
        with clock_in_effect(self.clock), self._write() as session:
            try:
                yield session
                session.commit()
                self._return_workflows(session)
            except StaleDataError:
                session.rollback()
                raise ConcurrentUpdate("the instance was changed by someone else; reload and retry") from None
            except IntegrityError:
                session.rollback()
                raise ConcurrentUpdate("a concurrent change conflicted with this one; retry") from None
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with clock_in_effect(self.clock), self._read() as session:
            yield session
            self._return_workflows(session)

    def checkpoint(self, *, force: bool = False) -> bool:
        """Copy SQLite's write-ahead log into the database file if enough has been written
        since the last time (:func:`engine.db.checkpoint_wal`); call it between units of work."""
        return checkpoint_wal(self._sa_engine, force=force)

    def _return_workflows(self, session: Session) -> None:
        """Keep the workflows used by a successful command for the next one on the same
        instance; a failed command's may be half-mutated and are dropped."""
        for instance, workflow in session.info.pop("workflows", ()):
            self._instances.checkin(instance.id, instance.row_version, workflow)

    # --- deployment -------------------------------------------------------------------

    def deploy(
        self,
        files: Mapping[str, bytes],
        *,
        name: str,
        source: str | None = None,
        deployed_by: str | None = None,
        tenant_id: str | None = None,
        duplicate_filtering: bool = False,
        changed_only: bool = False,
    ) -> DeploymentView:
        """Deploy BPMN/DMN files as new versions of the processes they contain.

        With ``duplicate_filtering`` an identical set of files deploys nothing and returns
        the deployment that already holds them; with ``changed_only`` only the processes
        whose files changed get a new version.

        :raise InvalidDiagram: listing each problem; nothing is stored.
        """
        compiled = compile_deployment(files)
        digest = content_hash(files)
        now = self.clock.now()
        with self._unit_of_work() as session:
            latest = {p.key: self._latest_row(session, p.key) for p in compiled}
            # Unchanged means compiled the same, whatever else was uploaded with it.
            unchanged = {p.key for p in compiled if is_unchanged(p, latest[p.key])}
            if (duplicate_filtering or changed_only) and unchanged == set(latest):
                existing = session.get(Deployment, next(iter(latest.values())).deployment_id)
                return self._deployment_view(session, existing, duplicate=True)
            deployment = Deployment(id=str(uuid.uuid4()), name=name, source=source,
                                    tenant_id=tenant_id, deployed_at=now, deployed_by=deployed_by)
            session.add(deployment)
            session.add_all(
                DeploymentResource(id=str(uuid.uuid4()), deployment_id=deployment.id, name=file_name,
                                   content=content, sha256=resource_hash(content))
                for file_name, content in files.items()
            )
            session.flush()
            for process in compiled:
                if changed_only and process.key in unchanged:
                    continue
                previous = latest[process.key]
                version = previous.version + 1 if previous else 1
                session.add(ProcessDefinition(
                    id=f"{process.key}:{version}:{uuid.uuid4()}", key=process.key, version=version,
                    name=process.name, deployment_id=deployment.id,
                    resource_name=process.resource_name, content_hash=digest,
                    serializer_version=SERIALIZER_VERSION, spec=process.spec_json,
                    catalogue=process.catalogue_dict(), created_at=now,
                ))
                self._update_schedule(session, process, now)
            session.add(_audit(now, AuditAction.DEPLOYED, deployed_by, data={
                "deployment_id": deployment.id, "name": name, "source": source,
                "files": sorted(files), "processes": [p.key for p in compiled],
            }))
            session.flush()
            return self._deployment_view(session, deployment)

    def preview_deployment(self, files: Mapping[str, bytes]) -> DeploymentPreview:
        """What deploying ``files`` would do, storing nothing: every problem that would
        refuse it, or per process the elements added, removed and changed against the live
        version (a process owner's check before deploying)."""
        with self._reading() as session:
            return preview(files, lambda key: self._latest_row(session, key))

    @staticmethod
    def _update_schedule(session: Session, process, now: datetime) -> None:
        """A new version with a timer start event (re)schedules the process; one without
        stops it. An unchanged timer keeps its next run."""
        row = session.get(ProcessSchedule, process.key)
        timer = process.start_timer
        if timer is None:
            if row is not None:
                session.delete(row)
            return
        if row is not None and (row.kind, row.value, row.element_id) == (
                timer.kind, timer.value, timer.element_id):
            return
        if row is None:
            row = ProcessSchedule(process_key=process.key, runs=0)
            session.add(row)
        row.element_id, row.kind, row.value = timer.element_id, timer.kind, timer.value
        row.next_run_at, row.runs, row.updated_at = schedules.first_run(timer, now), 0, now

    def definitions(self, key: str | None = None, *, latest_only: bool = False) -> list[DefinitionView]:
        with self._reading() as session:
            query = select(ProcessDefinition).options(defer(ProcessDefinition.spec), defer(
                ProcessDefinition.catalogue)).order_by(ProcessDefinition.key, ProcessDefinition.version)
            if key is not None:
                query = query.where(ProcessDefinition.key == key)
            rows = session.scalars(query).all()
        if latest_only:
            newest: dict[str, ProcessDefinition] = {}
            for row in rows:
                newest[row.key] = row
            rows = list(newest.values())
        return [_definition_view(row) for row in rows]

    def definition(self, definition_id: str) -> DefinitionView:
        with self._reading() as session:
            return _definition_view(self._definition_row(session, definition_id))

    def latest_definition(self, key: str) -> DefinitionView:
        with self._reading() as session:
            return _definition_view(self._latest_or_fail(session, key))

    def definition_resource(self, definition_id: str) -> tuple[str, bytes]:
        """The BPMN file a definition was parsed from: (file name, content)."""
        with self._reading() as session:
            row = self._definition_row(session, definition_id)
            resource = session.scalars(select(DeploymentResource).where(
                DeploymentResource.deployment_id == row.deployment_id,
                DeploymentResource.name == row.resource_name)).one()
            return resource.name, resource.content

    def startable(self, groups) -> list[tuple[DefinitionView, FormDefinition]]:
        """Latest processes people in ``groups`` may start by hand (the process's
        ``camunda:candidateStarterGroups``), with their start forms."""
        wanted = set(groups)
        found = []
        with self._reading() as session:
            for view in self.definitions(latest_only=True):
                start = self._definition(session, view.id).start_element
                if start is not None and wanted & set(start.starter_groups):
                    found.append((view, start.form or _EMPTY_FORM))
        return found

    def start_form(self, key: str) -> FormDefinition | None:
        with self._reading() as session:
            definition = self._definition(session, self._latest_or_fail(session, key).id)
        start = definition.start_element
        return start.form if start is not None else None

    # --- instances ----------------------------------------------------------------------

    def start(
        self,
        key: str,
        variables: Mapping[str, Any] | None = None,
        *,
        business_key: str | None = None,
        user: str | None = None,
        definition_id: str | None = None,
        extra_rows: Callable[[str], Iterable[object]] | None = None,
    ) -> InstanceView:
        """Start the latest version of ``key`` (or ``definition_id``) and run it to its
        first wait state. Variables are checked against the start event's form.

        The engine adds ``started_at`` (ISO 8601 UTC), ``started_by`` and ``business_key``.
        ``extra_rows(instance_id)`` may return rows of the caller's own tables (photos,
        say) to store in the same transaction, so they exist exactly when the instance does.

        :raise ProcessNotFound: no such process.
        :raise InvalidTaskData: the variables fail the start form; nothing is stored.
        """
        with self._unit_of_work() as session:
            row = (self._definition_row(session, definition_id) if definition_id
                   else self._latest_or_fail(session, key))
            instance, workflow, definition = self._start_in(
                session, row, dict(variables or {}), business_key=business_key, user=user)
            if extra_rows is not None:
                session.add_all(extra_rows(instance.id))
            return self._instance_view(session, instance, workflow, definition,
                                       session.info[_SAVED][instance.id])

    def _start_in(self, session: Session, row: ProcessDefinition, variables: dict[str, Any], *,
                  business_key: str | None, user: str | None,
                  system: Mapping[str, Any] | None = None, message: str | None = None):
        """Create, run and save a new instance of ``row`` inside the caller's transaction
        (started by ``message`` when its start event waits for one)."""
        check_column_text("businessKey", business_key, ProcessInstance.__table__.c.business_key)
        now = self.clock.now()
        definition = self._definition(session, row.id)
        start = definition.start_element
        if start is not None and start.form is not None and start.form.fields:
            variables = validate_submission(start.form, variables)
        else:
            _check_plain(variables)
        system = dict(system or {})
        data = {**copy.deepcopy(variables), **system, "started_at": now.isoformat(),
                "started_by": user, "business_key": business_key}
        spec, subprocess_specs = definition.specs.specs_for_instance()
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self._script_engine)
        workflow.task_tree.data.update(data)
        instance = ProcessInstance(
            id=str(uuid.uuid4()), definition_id=row.id, process_key=row.key,
            business_key=business_key, status=InstanceStatus.RUNNING, state="",
            serializer_version=SERIALIZER_VERSION, started_at=now, started_by=user, updated_at=now)
        session.add(_audit(now, AuditAction.STARTED, user, instance.id, element=start, data={
            "variables": variables, "business_key": business_key, "definition_id": row.id, **system}))
        runtime.advance(workflow, self._service_runner(session, instance, definition, user))
        if message is not None:
            for waiting in runtime.waiting_messages(workflow):
                if waiting.name == message and waiting.element_id == (start.id if start else None):
                    runtime.deliver_message(runtime.find_task(workflow, waiting.task_id), message, {})
                    runtime.advance(workflow, self._service_runner(session, instance, definition, user))
        session.add(instance)
        session.info.setdefault("workflows", []).append((instance, workflow))
        self._save(session, instance, workflow, definition, set(), user, now)
        return instance, workflow, definition

    def complete_user_task(self, task_id: str, data: Mapping[str, Any] | None = None, *, user: str,
                           prepare: Callable[[TaskView], Mapping[str, Any]] | None = None) -> InstanceView:
        """Validate ``data`` against the task's form, complete it as ``user`` and run on.

        ``prepare``, if given, is called with the open task (as :meth:`task` shows it) once
        it is read, before anything is written, and returns the data to submit: a caller's
        permission check and form parsing in the same transaction as the completion, with
        no separate read before it. Whatever it raises propagates and nothing is stored.

        :raise TaskNotFound: no such task, ever.
        :raise TaskNotReady: the task was completed or cancelled meanwhile.
        :raise InvalidTaskData: field errors; nothing is stored.
        :raise ConcurrentUpdate: another command changed the instance first.
        """
        now = self.clock.now()
        with self._unit_of_work() as session:
            row, instance = self._task_and_instance(session, task_id)
            definition = self._definition(session, instance.definition_id)
            existing = _existing_rows(session, instance.id, definition.has_deadlines)
            if task_id not in existing.user_tasks:
                # Completed by a command that committed between the two reads (PostgreSQL:
                # each statement sees the latest commit): its candidates are gone too.
                raise self._gone(session, task_id)
            workflow = self._load(instance, definition)
            task = runtime.find_task(workflow, task_id)
            if task is None or task.state != TaskState.READY:
                raise TaskNotReady(f"task '{task_id}' is no longer waiting for input")
            if prepare is not None:
                data = prepare(self._task_view(session, row, instance, definition,
                                               copy.deepcopy(dict(task.data)),
                                               candidates=existing.candidates.get(task_id, ())))
            if data is None:
                raise TypeError("complete_user_task needs data or prepare")
            info = definition.elements.get(row.element_id)
            form = info.form if info and info.form else _EMPTY_FORM
            cleaned = validate_submission(form, data, current=task.data)
            before = runtime.completed_task_ids(workflow)
            task.data.update(copy.deepcopy(cleaned))
            with runtime.translated_errors():
                task.run()
            runtime.advance(workflow, self._service_runner(session, instance, definition, user))
            session.add(_audit(now, AuditAction.TASK_COMPLETED, user, instance.id, task_id, info,
                               data={"submitted": cleaned}))
            saved = self._save(session, instance, workflow, definition, before - {task.id}, user, now,
                               completed_by_user={task_id}, existing=existing)
            return self._instance_view(session, instance, workflow, definition, saved)

    def claim(self, task_id: str, *, user: str, force: bool = False, by: str | None = None) -> TaskView:
        """Make ``user`` the assignee (``by`` someone else: a supervisor claiming it for
        them). Claiming a task someone else holds needs ``force`` (a supervisor reassigning).

        :raise TaskAlreadyClaimed: someone else holds it, and not ``force``.
        """
        return self._set_assignee(task_id, user, by=by or user, force=force)

    def unclaim(self, task_id: str, *, user: str, expected_assignee: Any = _ANYONE) -> TaskView:
        """Give the task back; ``expected_assignee``: who the caller saw holding it.

        :raise ConcurrentUpdate: someone else holds it now.
        """
        return self._set_assignee(task_id, None, by=user, force=True, expected=expected_assignee)

    def assign(self, task_id: str, assignee: str | None, *, by: str,
               expected_assignee: Any = _ANYONE) -> TaskView:
        """Hand the task to ``assignee``; ``expected_assignee``: who ``by`` saw holding it
        (None: nobody).

        :raise ConcurrentUpdate: it was claimed or reassigned since (a lost update refused).
        """
        return self._set_assignee(task_id, assignee, by=by, force=True, expected=expected_assignee)

    def _set_assignee(self, task_id: str, assignee: str | None, *, by: str, force: bool,
                      expected: Any = _ANYONE) -> TaskView:
        now = self.clock.now()
        with self._unit_of_work() as session:
            # One statement, one snapshot: the instance's row version then covers the assignee
            # read with it. Read apart, under READ COMMITTED a claim committed between the two
            # reads would pass both the check below and the version check.
            row, instance = self._task_and_instance(session, task_id)
            if not force and row.assignee not in (None, assignee):
                raise TaskAlreadyClaimed(f"task is already claimed by {row.assignee}")
            if expected is not _ANYONE and row.assignee != expected:
                holder = f"{row.assignee} holds it now" if row.assignee else "nobody holds it now"
                raise ConcurrentUpdate(f"the task was claimed or reassigned meanwhile ({holder}); "
                                       "reload and retry")
            instance.updated_at = now
            flag_modified(instance, "updated_at")  # bumps the row version even at the same instant
            previous, row.assignee = row.assignee, assignee
            action = (AuditAction.TASK_CLAIMED if assignee == by else
                      AuditAction.TASK_UNCLAIMED if assignee is None else AuditAction.TASK_ASSIGNED)
            definition = self._definition(session, row.definition_id)
            session.add(_audit(now, action, by, row.instance_id, task_id,
                               definition.elements.get(row.element_id),
                               data={"from": previous, "to": assignee}))
            session.flush()
            return self._task_view(session, row, instance, definition)

    def cancel(self, instance_id: str, *, user: str, reason: str = "") -> InstanceView:
        now = self.clock.now()
        with self._unit_of_work() as session:
            instance = self._running_instance(session, instance_id)
            definition = self._definition(session, instance.definition_id)
            workflow = self._load(instance, definition)
            workflow.cancel()
            instance.status = InstanceStatus.CANCELLED
            instance.ended_at = now
            session.add(_audit(now, AuditAction.CANCELLED, user, instance.id, data={"reason": reason}))
            self._save(session, instance, workflow, definition, runtime.completed_task_ids(workflow),
                       user, now)
            return self._instance_view(session, instance, workflow, definition)

    def record_annotation(self, data: Mapping[str, Any], *, actor: str, instance_id: str | None = None,
                          write: Callable[[Session, datetime], Mapping[str, Any] | None] | None = None,
                          ) -> AuditEntry:
        """Append an ``annotated`` audit entry about a record kept outside the engine (a
        correction, A-2), in one transaction with ``write(session, now)``, which adds the
        caller's own rows and may return more data for the entry: both are kept, or neither.
        ``instance_id`` ties the entry to the case the record belongs to, if any.
        """
        now = self.clock.now()
        with self._unit_of_work() as session:
            more = write(session, now) if write is not None else None
            row = _audit(now, AuditAction.ANNOTATED, actor, instance_id, data={**data, **(more or {})})
            session.add(row)
            session.flush()
            return _audit_entry(row)

    # --- timers -----------------------------------------------------------------------

    def due_instance_ids(self, limit: int = 100) -> list[str]:
        """Instances with at least one timer due now, most overdue first."""
        with self._reading() as session:
            now = self.clock.now()
            first_due = func.min(Timer.due_at)
            return list(session.scalars(
                select(Timer.instance_id).where(Timer.due_at < now)
                .group_by(Timer.instance_id).order_by(first_due).limit(limit)))

    def next_timer_due(self) -> datetime | None:
        """The soonest due timer or scheduled start."""
        with self._reading() as session:
            candidates = [session.scalar(select(func.min(Timer.due_at))),
                          session.scalar(select(func.min(ProcessSchedule.next_run_at)))]
        return min((c for c in candidates if c is not None), default=None)

    def fire_due_schedules(self, limit: int = 50) -> list[str]:
        """Start an instance of every periodic process that is due; returns their ids.

        The schedule row is advanced in the same transaction as the start, under its
        version check: two workers cannot both start the same period.
        """
        with self._reading() as session:
            due = list(session.scalars(
                select(ProcessSchedule.process_key).where(ProcessSchedule.next_run_at <= self.clock.now())
                .order_by(ProcessSchedule.next_run_at).limit(limit)))
        started = []
        for key in due:
            try:
                instance_id = self._run_schedule(key)
            except ConcurrentUpdate:
                continue
            if instance_id:
                started.append(instance_id)
        return started

    def _run_schedule(self, key: str) -> str | None:
        now = self.clock.now()
        with self._unit_of_work() as session:
            schedule = session.get(ProcessSchedule, key)
            if schedule is None or schedule.next_run_at is None or schedule.next_run_at > now:
                return None
            timer = StartTimer(schedule.element_id, schedule.kind, schedule.value)
            run_at, schedule.runs, schedule.next_run_at = schedules.catch_up(
                timer, schedule.next_run_at, schedule.runs, now)
            schedule.updated_at = now
            session.flush()  # the version check, before any work
            instance, _, _ = self._start_in(
                session, self._latest_or_fail(session, key), {},
                business_key=f"{key}-{run_at:%Y%m%d-%H%M}", user=TIMER_ACTOR,
                system={"scheduled_for": run_at.isoformat()})
            return instance.id

    def fire_due_timers(self, limit: int = 100,
                        on_error: Callable[[str, EngineError], None] | None = None) -> int:
        """Wake instances with a due timer, up to ``limit``, each in its own transaction.

        Safe to run in several processes at once (:mod:`engine.timer_claims`): workers skip
        instances another is firing (PostgreSQL row locks, SQLite leases), and firing
        re-checks what is due under the row version check, so no timer fires twice; one
        killed mid-sweep leaves the rest due (its locks die with it, its leases are taken
        over), so none is lost. With ``on_error`` an instance that cannot be advanced is
        reported there and the others go on; without it the error is raised.
        Returns how many instances were advanced.
        """
        advanced = 0
        for instance_id in self._claim_due(limit):
            try:
                if self.wake(instance_id):
                    advanced += 1
            except ConcurrentUpdate:
                self._release_claim(instance_id)
            except EngineError as exc:
                self._release_claim(instance_id)
                if on_error is None:
                    raise
                on_error(instance_id, exc)
        return advanced

    def _claim_due(self, limit: int) -> list[str]:
        """Due instances for this worker: all of them on PostgreSQL (firing locks each one),
        those it could lease on SQLite."""
        if timer_claims.uses_row_locks(self._sa_engine):
            return self.due_instance_ids(limit)
        holder = timer_claims.Holder.this_process()
        with self._unit_of_work() as session:
            now = self.clock.now()
            due = list(session.scalars(
                select(Timer.instance_id)
                .outerjoin(TimerLease, TimerLease.instance_id == Timer.instance_id)
                .where(Timer.due_at < now, timer_claims.unleased(now, holder.host))
                .group_by(Timer.instance_id).order_by(func.min(Timer.due_at)).limit(limit)))
            return timer_claims.claim(session, due, now, holder)

    def _release_claim(self, instance_id: str) -> None:
        """Give up the lease of an instance that could not be fired, so the next sweep (of
        any worker) tries it again."""
        if not timer_claims.uses_row_locks(self._sa_engine):
            with self._unit_of_work() as session:
                timer_claims.release(session, instance_id)

    def wake(self, instance_id: str) -> bool:
        """Fire whatever timers of one instance are due; False if none were (or, on
        PostgreSQL, if another worker is firing them right now)."""
        now = self.clock.now()
        with self._unit_of_work() as session:
            instance = timer_claims.take(session, instance_id)
            if instance is None or instance.status != InstanceStatus.RUNNING:
                return False
            due = session.scalar(select(func.count()).select_from(Timer).where(
                Timer.instance_id == instance_id, Timer.due_at < now))
            if not due:
                return False
            definition = self._definition(session, instance.definition_id)
            workflow = self._load(instance, definition)
            before = runtime.completed_task_ids(workflow)
            runtime.advance(workflow, self._service_runner(session, instance, definition, TIMER_ACTOR))
            self._save(session, instance, workflow, definition, before, TIMER_ACTOR, now)
            return True

    # --- reading ------------------------------------------------------------------------

    def instance(self, instance_id: str) -> InstanceView:
        with self._reading() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise InstanceNotFound(f"no process instance '{instance_id}'")
            definition = self._definition(session, instance.definition_id)
            workflow = self._load(instance, definition)
            return self._instance_view(session, instance, workflow, definition)

    def find_instances(self, *, business_key: str | None = None, process_key: str | None = None,
                       status: InstanceStatus | None = None, limit: int = 100,
                       offset: int = 0) -> list[str]:
        with self._reading() as session:
            query = select(ProcessInstance.id).order_by(ProcessInstance.started_at.desc(),
                                                        ProcessInstance.id)
            if business_key is not None:
                query = query.where(ProcessInstance.business_key == business_key)
            if process_key is not None:
                query = query.where(ProcessInstance.process_key == process_key)
            if status is not None:
                query = query.where(ProcessInstance.status == status)
            return list(session.scalars(query.limit(limit).offset(offset)))

    def user_tasks(self, where: TaskFilter | None = None, *, limit: int = 100, offset: int = 0,
                   urgent_first: Sequence[str] = (), **criteria: Any) -> list[TaskView]:
        """Ready user tasks matching ``where`` (or the same criteria as keywords): those whose
        ``priority`` is in ``urgent_first`` ahead of the rest (in that order), then soonest
        due first, then oldest.

        Read as consecutive slices of that order — the urgent ones; the rest with a due time;
        the rest without — each of which the worklist indexes (``ix_user_task_queue…``) give in
        order, so a page costs the same with 100,000 open tasks as with 100."""
        where = where or TaskFilter(**criteria)
        with self._reading() as session:
            rows: list = []
            skip = offset
            for condition, order in _queue_slices(urgent_first):
                wanted = limit - len(rows)
                if wanted <= 0:
                    break
                if skip:  # count this slice only as far as the offset reaches
                    inside = self._task_query(select(UserTask.id), where, per_row=True).where(condition)
                    here = session.scalar(select(func.count()).select_from(inside.limit(skip).subquery()))
                    if here < skip:
                        skip -= here
                        continue
                # The instance's state is not needed for a task's view: only its row's facts.
                query = self._task_query(select(UserTask, ProcessInstance).options(
                    defer(ProcessInstance.state)), where, per_row=True).where(condition).order_by(*order)
                rows += session.execute(query.limit(wanted).offset(skip)).all()
                skip = 0
            candidates = self._candidates(session, [task.id for task, _ in rows])
            return [
                self._task_view(session, task, instance, self._definition(session, task.definition_id),
                                candidates=candidates.get(task.id, ()))
                for task, instance in rows
            ]

    def count_user_tasks(self, where: TaskFilter | None = None, *, at_most: int | None = None,
                         **criteria: Any) -> int:
        """How many tasks match; with ``at_most``, counting stops past it (the answer is then
        ``at_most + 1``): a worklist with 100,000 open tasks need not count them all."""
        where = where or TaskFilter(**criteria)
        with self._reading() as session:
            if at_most is None:
                return session.scalar(self._task_query(select(func.count(UserTask.id)), where))
            # Candidates looked up per row (EXISTS), not collected for all rows up front (IN).
            first = self._task_query(select(UserTask.id), where, per_row=True).limit(at_most + 1)
            return session.scalar(select(func.count()).select_from(first.subquery()))

    @staticmethod
    def _task_query(query, where: TaskFilter, per_row: bool = False):
        criteria = (
            (where.instance_id, lambda v: UserTask.instance_id == v),
            (where.process_key, lambda v: ProcessInstance.process_key == v),
            (where.assignee, lambda v: UserTask.assignee == v),
            (where.priority, lambda v: UserTask.priority == v),
            (where.due_before, lambda v: UserTask.due_at < v),
            (where.skills, lambda v: or_(UserTask.skill.is_(None), UserTask.skill.in_(list(v)))),
        )
        conditions = [condition(value) for value, condition in criteria if value is not None]
        if where.unassigned:
            conditions.append(UserTask.assignee.is_(None))
        if where.claimed:
            conditions.append(UserTask.assignee.is_not(None))
        offered = _offered_conditions(where, per_row)
        if offered:
            conditions.append(or_(*offered))
        if where.confidential is not None:
            conditions.append(confidential_condition(where.confidential))
        return query.join(ProcessInstance, ProcessInstance.id == UserTask.instance_id).where(*conditions)

    @staticmethod
    def _candidates(session: Session, task_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        if task_ids:
            for task_id, kind, value in session.execute(_CANDIDATES, {"task_ids": list(task_ids)}):
                found.setdefault(task_id, []).append((kind, value))
        return found

    def task(self, task_id: str, *, with_data: bool = True) -> TaskView:
        """One ready task, with its current variables.

        :raise TaskNotFound: never existed. :raise TaskNotReady: already done.
        """
        with self._reading() as session:
            row, instance = self._task_and_instance(session, task_id)
            definition = self._definition(session, row.definition_id)
            data = None
            if with_data:
                workflow = self._load(instance, definition)
                task = runtime.find_task(workflow, task_id)
                data = copy.deepcopy(dict(task.data)) if task is not None else {}
            return self._task_view(session, row, instance, definition, data)

    def read_session(self) -> AbstractContextManager[Session]:
        """A read-only session on this engine's clock, for read-only queries (:mod:`engine.listings`)."""
        return self._reading()

    def history(self, instance_id: str) -> list[AuditEntry]:
        with self._reading() as session:
            if session.get(ProcessInstance, instance_id) is None:
                raise InstanceNotFound(f"no process instance '{instance_id}'")
            rows = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.id)).all()
            return [_audit_entry(row) for row in rows]

    def notices(self, to: str, *, since: datetime | None = None, limit: int = 20) -> list[Notice]:
        """Reminders addressed to ``to`` (the diagrams' ``propflow.notify`` events), newest
        first: what a person is shown, and what an SMS or e-mail worker would send."""
        query = (select(AuditEvent, ProcessInstance.business_key, ProcessInstance.process_key)
                 .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
                 .where(AuditEvent.action == AuditAction.NOTIFIED, AuditEvent.data["to"].as_string() == to))
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        with self._reading() as session:
            rows = session.execute(query.order_by(AuditEvent.id.desc()).limit(limit)).all()
            return [Notice(row.at, to, row.instance_id, key, process, row.element_name)
                    for row, key, process in rows]

    def verify_audit_chain(self, *, batch_size: int = 1000):
        """Check the whole audit trail's hash chain in id order, ``batch_size`` entries at
        a time; returns a :class:`~engine.views.ChainReport` naming the first broken link."""
        from .audit_chain import verify

        with self._reading() as session:
            return verify(session, batch_size)

    # --- internals ----------------------------------------------------------------------

    @staticmethod
    def _latest_row(session: Session, key: str) -> ProcessDefinition | None:
        return session.scalars(_LATEST_VERSION, {"key": key}).first()

    def _service_runner(self, session: Session, instance: ProcessInstance, definition: _Definition,
                        actor: str | None) -> Callable:
        """Completes service tasks whose topic has a registered function."""

        def run(task) -> bool:
            info = definition.elements.get(runtime.element_id(task))
            handler = self._services.get(info.topic) if info is not None and info.topic else None
            if handler is None:
                return False

            def start(key: str, variables: Mapping[str, Any] | None = None, *,
                      business_key: str | None = None) -> str:
                started, _, _ = self._start_in(
                    session, self._latest_or_fail(session, key), dict(variables or {}),
                    business_key=business_key, user=actor,
                    system={"started_from": instance.business_key or instance.id})
                return started.id

            call = ServiceCall(topic=info.topic, instance_id=instance.id,
                               business_key=instance.business_key,
                               variables=copy.deepcopy(dict(task.data)), start=start, session=session,
                               now=self.clock.now(), process_key=instance.process_key,
                               element_id=info.id, actor=actor)
            try:
                result = dict(handler(call) or {})
            except (EngineError, OperationalError):
                raise  # an unreachable or locked database is not the diagram's fault
            except Exception as exc:
                raise ScriptError(f"service '{info.topic}' failed: {exc}", info.id) from exc
            _check_plain(result)
            task.data.update(copy.deepcopy(result))
            task.complete()
            session.add(_audit(self.clock.now(), AuditAction.ACTIVITY_COMPLETED, actor, instance.id,
                               str(task.id), info, data={"topic": info.topic, "result": result}))
            return True

        return run

    @staticmethod
    def _definition_row(session: Session, definition_id: str) -> ProcessDefinition:
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise ProcessNotFound(f"no process definition '{definition_id}'")
        return row

    @classmethod
    def _latest_or_fail(cls, session: Session, key: str) -> ProcessDefinition:
        row = cls._latest_row(session, key)
        if row is None:
            raise ProcessNotFound(f"no process with key '{key}' is deployed")
        return row

    def _definition(self, session: Session, definition_id: str) -> _Definition:
        with self._lock:
            cached = self._definitions.get(definition_id)
            if cached is not None:
                self._definitions.move_to_end(definition_id)
                return cached
        row = self._definition_row(session, definition_id)
        specs = LoadedSpecs(row.spec)
        elements = {k: ElementInfo.from_dict(v) for k, v in row.catalogue.items()}
        start = next((elements[name] for name in specs.spec.task_specs
                      if name in elements and elements[name].kind == "startEvent"), None)
        loaded = _Definition(row.id, row.key, specs, elements, start)
        with self._lock:
            self._definitions[definition_id] = loaded
            while len(self._definitions) > self._cache_size:
                self._definitions.popitem(last=False)
        return loaded

    def _load(self, instance: ProcessInstance, definition: _Definition) -> BpmnWorkflow:
        """The instance's workflow: the one kept from the last command when its row version
        still matches, else deserialized from the row."""
        session = object_session(instance)
        workflow = self._instances.checkout(instance.id, instance.row_version)
        if workflow is None:
            workflow = load_state(instance.state, instance.serializer_version, definition.specs)
        # The library does not serialize the script engine: without this line a loaded
        # workflow would run scripts unrestricted.
        workflow.script_engine = self._script_engine
        session.info.setdefault("workflows", []).append((instance, workflow))
        return workflow

    def _running_instance(self, session: Session, instance_id: str) -> ProcessInstance:
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            raise InstanceNotFound(f"no process instance '{instance_id}'")
        if instance.status != InstanceStatus.RUNNING:
            raise InstanceNotRunning(f"instance '{instance_id}' is {instance.status.value}")
        return instance

    @classmethod
    def _task_and_instance(cls, session: Session, task_id: str) -> tuple[UserTask, ProcessInstance]:
        """An open task's row and its instance's, in one query.

        :raise TaskNotFound: no such task, ever. :raise TaskNotReady: no longer open.
        """
        found = session.execute(_TASK_AND_INSTANCE, {"task_id": task_id}).first()
        if found is None:
            raise cls._gone(session, task_id)
        return found[0], found[1]

    @staticmethod
    def _gone(session: Session, task_id: str) -> Exception:
        done = session.scalars(select(AuditEvent).where(
            AuditEvent.task_id == task_id,
            AuditEvent.action == AuditAction.TASK_COMPLETED).limit(1)).first()
        if done is not None:
            when = done.at.strftime("%Y-%m-%d %H:%M UTC")
            return TaskNotReady(f"this task was already completed by {done.actor} at {when}")
        created = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.task_id == task_id))
        if created:
            return TaskNotReady("this task is no longer open (its case moved on or was cancelled)")
        return TaskNotFound(f"no task '{task_id}'")

    def _save(
        self,
        session: Session,
        instance: ProcessInstance,
        workflow: BpmnWorkflow,
        definition: _Definition,
        before: set,
        actor: str | None,
        now: datetime,
        completed_by_user: set[str] = frozenset(),
        existing: _Existing | None = None,
    ) -> _Saved:
        """Store the state with the rows derived from it. The rows there are now are read
        in one round trip (none for a new instance; none if the caller read them in this
        transaction: ``existing``), and everything written goes out in one flush at the
        end: on PostgreSQL the audit chain's head, which every writer locks, is held for as
        short a time as possible."""
        instance.state = dump_state(workflow)
        instance.serializer_version = SERIALIZER_VERSION
        instance.updated_at = now
        finished = runtime.finished_since(workflow, before)
        timers = runtime.waiting_timers(workflow)
        new = instance in session.new
        if new:
            session.flush()  # a new instance's row first: the rows below refer to it
        with session.no_autoflush:
            if new:
                existing = _Existing()
            elif existing is None:
                existing = _existing_rows(session, instance.id, definition.has_deadlines)
            side_end = self._record_finished(session, instance, definition, finished, completed_by_user,
                                             actor, now, existing.deadlines)
            if instance.status == InstanceStatus.RUNNING and workflow.is_completed():
                instance.end_event_id = instance.end_event_id or side_end
                instance.status = InstanceStatus.COMPLETED
                instance.ended_at = now
                session.add(_audit(now, AuditAction.COMPLETED, actor, instance.id,
                                   data={"end_event": instance.end_event_id}))
            running = instance.status == InstanceStatus.RUNNING
            ready = runtime.ready_user_tasks(workflow, definition.elements) if running else []
            tasks = self._sync_user_tasks(session, instance, definition, ready, now, existing)
            self._sync_timers(session, instance, timers if running else [], existing.timers)
            sync_external_tasks(session, instance, definition, workflow, self._services.keys(), now,
                                existing.external)
            sync_message_subscriptions(session, instance, workflow, existing.messages)
            self._arm_deadlines(session, instance, definition, timers, now, existing.deadlines)
        session.flush()  # the instance row's version check, and every row above
        saved = _Saved(tasks, tuple(sorted(existing.deadlines.values(), key=lambda d: d.name)))
        session.info.setdefault(_SAVED, {})[instance.id] = saved
        return saved

    def _record_finished(self, session, instance, definition, finished, completed_by_user, actor,
                         now, deadlines) -> str | None:
        """Audit what finished, meet and breach deadlines; returns the last end event
        reached off the main path (an escalation's), for a case that ends only there."""
        side_end = None
        for item in finished:
            info = definition.elements.get(item.element_id)
            if info is None or item.id in completed_by_user:
                continue
            if info.kind == "endEvent" and item.top_level:
                if info.main_path:
                    instance.end_event_id = item.element_id
                else:
                    side_end = item.element_id
            milestone = info.properties.get(MILESTONE_PROPERTY)
            if milestone:
                self._reach_deadline(session, instance, milestone, info, actor, now, deadlines)
            notify = info.properties.get(NOTIFY_PROPERTY)
            session.add_all(_audit(now, AuditAction.NOTIFIED, actor, instance.id, item.id, info,
                                   data={"to": to, "variable": notify})
                            for to in _recipients(item.data.get(notify) if notify else ()))
            deadline = info.properties.get(DEADLINE_PROPERTY)
            if deadline and info.kind == "boundaryEvent":
                self._breach_deadline(session, instance, deadline, info, now, item.due_at, deadlines)
            elif info.kind in _AUDITED_KINDS:
                action = AuditAction.TIMER_FIRED if item.timer else AuditAction.ACTIVITY_COMPLETED
                session.add(_audit(now, action, actor, instance.id, item.id, info, data={}))
        return side_end

    def _reach_deadline(self, session, instance, name, info, actor, now, deadlines):
        row = _deadline_row(session, deadlines, instance.id, name)
        if row.reached_at is not None:
            return
        row.reached_at = now
        row.met = row.due_at is None or now <= row.due_at
        session.add(_audit(now, AuditAction.DEADLINE_REACHED, actor, instance.id, None, info,
                           data={"deadline": name, "due_at": _iso(row.due_at), "met": row.met}))

    def _breach_deadline(self, session, instance, name, info, now, due_at, deadlines):
        row = _deadline_row(session, deadlines, instance.id, name)
        # A phase that starts after its deadline fires the timer in the same step that
        # arms it: it was never seen waiting, so its due time comes from the fired timer.
        row.due_at = row.due_at or due_at
        if row.breached_at is None and row.reached_at is None:
            row.breached_at = now
            row.met = False
        session.add(_audit(now, AuditAction.DEADLINE_BREACHED, TIMER_ACTOR, instance.id, None, info,
                           data={"deadline": name, "due_at": _iso(row.due_at)}))

    def _arm_deadlines(self, session, instance, definition, timers, now, deadlines):
        for timer in timers:
            info = definition.elements.get(timer.element_id)
            name = info.properties.get(DEADLINE_PROPERTY) if info else None
            if not name:
                continue
            row = _deadline_row(session, deadlines, instance.id, name)
            if row.due_at is None:
                row.due_at = timer.due_at
                if row.reached_at is not None:
                    row.met = row.reached_at <= row.due_at

    def _sync_user_tasks(self, session, instance, definition, ready, now,
                         existing: _Existing) -> list[tuple[UserTask, list[tuple[str, str]]]]:
        """Worklist rows for the ready user tasks; returns them with their candidates."""
        wanted = {task.id: task for task in ready}
        gone = [task_id for task_id in existing.user_tasks if task_id not in wanted]
        if gone:  # their candidates go with them (ON DELETE CASCADE)
            session.execute(_DELETE_USER_TASKS, {"ids": gone})
        kept = [task_id for task_id in existing.user_tasks if task_id in wanted]
        rows = []
        if kept:
            rows = [(row, existing.candidates.get(row.id, [])) for row in session.scalars(
                select(UserTask).where(UserTask.id.in_(kept)))]
        for task in ready:
            if task.id in existing.user_tasks:
                continue
            info = definition.elements.get(task.element_id)
            row = UserTask(
                id=task.id, instance_id=instance.id, definition_id=definition.id,
                element_id=task.element_id, name=info.name if info else task.element_id,
                lane=info.lane if info else None, assignee=task.assignee, due_at=task.due_at,
                created_at=now, priority=task.priority, skill=task.skill)
            candidates = ([("group", g) for g in task.candidate_groups]
                          + [("user", u) for u in task.candidate_users])
            session.add(row)
            session.add_all(UserTaskCandidate(task_id=task.id, kind=kind, value=value)
                            for kind, value in candidates)
            session.add(_audit(now, AuditAction.TASK_CREATED, None, instance.id, task.id, info, data={
                "assignee": task.assignee, "candidate_groups": list(task.candidate_groups),
                "due_at": _iso(task.due_at)}))
            rows.append((row, candidates))
        return rows

    @staticmethod
    def _sync_timers(session, instance, timers, existing: dict[str, datetime]):
        wanted = {timer.task_id: timer for timer in timers}
        gone = [task_id for task_id in existing if task_id not in wanted]
        if gone:
            session.execute(_DELETE_TIMERS, {"ids": gone})
        for task_id, due_at in existing.items():
            if task_id in wanted and due_at != wanted[task_id].due_at:
                session.execute(_MOVE_TIMER, {"id": task_id, "due_at": wanted[task_id].due_at})
        session.add_all(Timer(task_id=t.task_id, instance_id=instance.id, element_id=t.element_id,
                              due_at=t.due_at) for t in timers if t.task_id not in existing)

    # --- views --------------------------------------------------------------------------

    def _deployment_view(self, session, deployment: Deployment, duplicate: bool = False) -> DeploymentView:
        rows = session.scalars(select(ProcessDefinition).where(
            ProcessDefinition.deployment_id == deployment.id).order_by(ProcessDefinition.key)).all()
        return DeploymentView(deployment.id, deployment.name, deployment.source, deployment.tenant_id,
                              deployment.deployed_at, deployment.deployed_by,
                              tuple(_definition_view(r) for r in rows), duplicate)

    def _task_view(self, session, row: UserTask, instance: ProcessInstance, definition: _Definition,
                   data: dict[str, Any] | None = None,
                   candidates: list[tuple[str, str]] | tuple | None = None) -> TaskView:
        if candidates is None:
            candidates = self._candidates(session, [row.id]).get(row.id, [])
        info = definition.elements.get(row.element_id)
        return TaskView(
            id=row.id, instance_id=row.instance_id, business_key=instance.business_key,
            process_key=instance.process_key, definition_id=row.definition_id,
            element_id=row.element_id, name=row.name, lane=row.lane,
            documentation=info.documentation if info else "", assignee=row.assignee,
            candidate_groups=tuple(sorted(v for k, v in candidates if k == "group")),
            candidate_users=tuple(sorted(v for k, v in candidates if k == "user")),
            due_at=row.due_at, created_at=row.created_at,
            form=info.form if info and info.form else _EMPTY_FORM,
            properties=dict(info.properties) if info else {}, data=data,
            priority=row.priority, skill=row.skill, instance_started_at=instance.started_at)

    def _instance_view(self, session, instance, workflow, definition,
                       saved: _Saved | None = None) -> InstanceView:
        """The instance as stored; ``saved`` (what :meth:`_save` just wrote) spares reading
        its worklist rows and deadlines back."""
        session.flush()
        if saved is None:
            rows = session.scalars(select(UserTask).where(UserTask.instance_id == instance.id)).all()
            candidates = self._candidates(session, [row.id for row in rows])
            saved = _Saved([(row, candidates.get(row.id, [])) for row in rows], tuple(session.scalars(
                select(Deadline).where(Deadline.instance_id == instance.id).order_by(Deadline.name))))
        tasks = sorted(saved.tasks, key=lambda pair: (pair[0].created_at, pair[0].id))
        deadlines = saved.deadlines
        return InstanceView(
            id=instance.id, definition_id=instance.definition_id, process_key=instance.process_key,
            business_key=instance.business_key, status=instance.status,
            started_at=instance.started_at, started_by=instance.started_by,
            ended_at=instance.ended_at, end_event_id=instance.end_event_id,
            variables=copy.deepcopy(runtime.current_variables(workflow, definition.elements)),
            open_tasks=tuple(self._task_view(session, t, instance, definition, candidates=c)
                             for t, c in tasks),
            deadlines=tuple(DeadlineView(d.name, d.due_at, d.reached_at, d.breached_at, d.met)
                            for d in deadlines),
            row_version=instance.row_version)


def _recipients(value: Any) -> list:
    """Whom a ``propflow.notify`` variable names: one username, or a list of them (everyone
    who may pick up a group's task)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _deadline_row(session: Session, deadlines: dict[str, Deadline], instance_id: str,
                  name: str) -> Deadline:
    """The instance's deadline of that name (``deadlines``: all it has, as read by
    :func:`_existing_rows`), created (not yet armed) if it has none."""
    row = deadlines.get(name)
    if row is None:
        row = deadlines[name] = Deadline(instance_id=instance_id, name=name)
        session.add(row)
    return row


@dataclass
class _Existing:
    """The rows an instance has before a save: worklist (with candidates), timers (with due
    times), external tasks, message subscriptions by id, and its deadlines."""

    user_tasks: set[str] = field(default_factory=set)
    timers: dict[str, datetime] = field(default_factory=dict)
    external: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    deadlines: dict[str, Deadline] = field(default_factory=dict)
    candidates: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # by open task


@dataclass(frozen=True)
class _Saved:
    """What a save left: the open tasks' rows with their candidates, and the deadlines."""

    tasks: list[tuple[UserTask, list[tuple[str, str]]]]
    deadlines: tuple[Deadline, ...]


# The hot path's statements, built once: building and keying a statement costs about as
# much as running it on SQLite.
_LATEST_VERSION = select(ProcessDefinition).where(ProcessDefinition.key == bindparam("key")).order_by(
    ProcessDefinition.version.desc()).limit(1)
_TASK_AND_INSTANCE = select(UserTask, ProcessInstance).join(
    ProcessInstance, ProcessInstance.id == UserTask.instance_id).where(UserTask.id == bindparam("task_id"))


# An instance's derived rows in one statement: (kind, id, due_at, reached_at, breached_at,
# candidate kind, candidate value, met). The first branch's NULLs are cast to the column
# types: PostgreSQL resolves a chain of UNIONs pair by pair (two untyped NULLs would make
# text), and SQLAlchemy converts SQLite's text to times and booleans by them.
_NO_TIME, _NO_TEXT, _NO_FLAG = (cast(null(), Deadline.due_at.type), cast(null(), String()),
                                cast(null(), Boolean()))


def _ids_of(kind: str, column, owner):
    return select(literal_column(f"'{kind}'"), column, null(), null(), null(), null(), null(), null()).where(
        owner == bindparam("instance_id"))


def _derived_rows(with_deadlines: bool):
    branches = [
        select(literal_column("'timer'"), Timer.task_id, Timer.due_at, _NO_TIME, _NO_TIME, _NO_TEXT, _NO_TEXT,
               _NO_FLAG).where(Timer.instance_id == bindparam("instance_id")),
        _ids_of("user_task", UserTask.id, UserTask.instance_id),
        _ids_of("external", ExternalTask.id, ExternalTask.instance_id),
        _ids_of("message", MessageSubscription.task_id, MessageSubscription.instance_id),
        select(literal_column("'candidate'"), UserTaskCandidate.task_id, null(), null(), null(),
               UserTaskCandidate.kind, UserTaskCandidate.value, null())
        .join(UserTask, UserTask.id == UserTaskCandidate.task_id)
        .where(UserTask.instance_id == bindparam("instance_id"))]
    if with_deadlines:
        branches.append(select(literal_column("'deadline'"), Deadline.name, Deadline.due_at,
                               Deadline.reached_at, Deadline.breached_at, null(), null(), Deadline.met)
                        .where(Deadline.instance_id == bindparam("instance_id")))
    return union_all(*branches)


_DERIVED_ROWS = {False: _derived_rows(False), True: _derived_rows(True)}
# Core statements on the tables, not the mapped classes: the ORM's bulk DELETE machinery
# (matching rows in the identity map) costs more than the statements themselves, and the
# rows removed here are never used again in the command.
_USER_TASK_ROWS, _TIMER_ROWS = UserTask.__table__, Timer.__table__
_DELETE_USER_TASKS = delete(_USER_TASK_ROWS).where(_USER_TASK_ROWS.c.id.in_(bindparam("ids", expanding=True)))
_DELETE_TIMERS = delete(_TIMER_ROWS).where(_TIMER_ROWS.c.task_id.in_(bindparam("ids", expanding=True)))
_MOVE_TIMER = update(_TIMER_ROWS).where(_TIMER_ROWS.c.task_id == bindparam("id")).values(
    due_at=bindparam("due_at"))
_CANDIDATES = select(UserTaskCandidate.task_id, UserTaskCandidate.kind, UserTaskCandidate.value).where(
    UserTaskCandidate.task_id.in_(bindparam("task_ids", expanding=True)))


def _existing_rows(session: Session, instance_id: str, with_deadlines: bool) -> _Existing:
    """An instance's derived rows, with its open tasks' candidates and its deadlines, read
    in one statement. The deadlines join the session as if loaded by a query (what a save
    changes in them is written as an UPDATE); ones it holds already are kept."""
    found = _Existing()
    sets = {"user_task": found.user_tasks, "external": found.external, "message": found.messages}
    for kind, row_id, due_at, reached_at, breached_at, c_kind, c_value, met in session.execute(
            _DERIVED_ROWS[with_deadlines], {"instance_id": instance_id}):
        if kind == "timer":
            found.timers[row_id] = due_at
        elif kind == "candidate":
            found.candidates.setdefault(row_id, []).append((c_kind, c_value))
        elif kind == "deadline":
            row = session.identity_map.get(identity_key(Deadline, (instance_id, row_id)))
            if row is None:
                row = Deadline(instance_id=instance_id, name=row_id, due_at=due_at, reached_at=reached_at,
                               breached_at=breached_at, met=met)
                make_transient_to_detached(row)
                session.add(row)
            found.deadlines[row_id] = row
        else:
            sets[kind].add(row_id)
    return found


def _queue_slices(urgent_first: Sequence[str]) -> list[tuple[Any, tuple]]:
    """The worklist's order as slices read one after the other: (condition, ORDER BY)."""
    slices = []
    rest = True
    if urgent_first:
        rank = case(*((UserTask.priority == p, n) for n, p in enumerate(urgent_first)))
        slices.append((UserTask.priority.in_(list(urgent_first)), (
            rank, UserTask.due_at.is_(None), UserTask.due_at, UserTask.created_at, UserTask.id)))
        rest = or_(UserTask.priority.is_(None), UserTask.priority.not_in(list(urgent_first)))
    slices.append((and_(rest, UserTask.due_at.is_not(None)),
                   (UserTask.due_at, UserTask.created_at, UserTask.id)))
    slices.append((and_(rest, UserTask.due_at.is_(None)), (UserTask.created_at, UserTask.id)))
    return slices


def _offered_conditions(where: TaskFilter, per_row: bool = False) -> list:
    def candidate(kind: str, value_condition):
        if per_row:
            return exists().where(UserTaskCandidate.task_id == UserTask.id, UserTaskCandidate.kind == kind,
                                  value_condition)
        return UserTask.id.in_(select(UserTaskCandidate.task_id).where(
            UserTaskCandidate.kind == kind, value_condition))

    offered = []
    if where.candidate_groups:
        offered.append(candidate("group", UserTaskCandidate.value.in_(list(where.candidate_groups))))
    if where.candidate_user:
        offered.append(candidate("user", UserTaskCandidate.value == where.candidate_user))
    if where.or_assignee is not None:
        offered.append(UserTask.assignee == where.or_assignee)
    return offered


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _definition_view(row: ProcessDefinition) -> DefinitionView:
    return DefinitionView(row.id, row.key, row.version, row.name, row.deployment_id,
                          row.resource_name, row.created_at)


def _audit_entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.action, row.actor, row.instance_id, row.task_id,
                      row.element_id, row.element_name, dict(row.data))
