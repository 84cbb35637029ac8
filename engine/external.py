"""External work and messages, Camunda's way: service tasks handed to external workers
(fetch and lock, complete, failure, BPMN error) and messages correlated to waiting
instances or to processes started by a message.

``ExternalWork`` is part of :class:`engine.WorkflowEngine` (a mixin, to keep each file
about one thing); it uses the facade's units of work, loading and saving.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, object_session

from . import audit_chain, runtime
from .errors import (
    ConcurrentUpdate,
    Conflict,
    EngineError,
    InvalidTaskData,
    NotAllowed,
    TaskNotFound,
    TaskNotReady,
)
from .models import (
    AuditAction,
    ExternalTask,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
)
from .queries import confidential_condition
from .records import audit, check_column_text, check_plain
from .views import Confidential


class MessageNotCorrelated(EngineError):
    """No waiting instance and no message start event matches, or several do when one
    was asked for (Camunda's MismatchingMessageCorrelationException)."""


class LockedByAnotherWorker(Conflict):
    """The external task is locked by a different worker."""


@dataclass(frozen=True)
class TopicRequest:
    name: str
    lock_duration_ms: int
    process_definition_key: str | None = None
    business_key: str | None = None


@dataclass(frozen=True)
class ExternalTaskView:
    id: str
    topic: str
    worker_id: str | None
    lock_expires_at: datetime | None
    instance_id: str
    business_key: str | None
    process_key: str
    definition_id: str
    element_id: str
    retries: int | None
    error_message: str | None
    error_details: str | None
    priority: int
    created_at: datetime
    variables: dict[str, Any]


@dataclass(frozen=True)
class Correlation:
    """Where a message went: an instance that was waiting for it, or one it started."""

    instance_id: str
    started: bool


@dataclass(frozen=True)
class Transaction:
    """What :meth:`ExternalWork.transaction` hands the caller's work: the transaction's
    session (the application writes its own rows through it), the engine's time, and
    ``deliver(name, *, instance_id=None, business_key=None, variables=None)``, which gives
    message ``name`` to the one instance waiting for it in the same transaction
    (:raise MessageNotCorrelated: none or several wait; nothing was changed), and
    ``annotate(data, *, instance_id=None)``, which appends an ``annotated`` audit entry about
    the caller's records (a correction, A-2), as :meth:`WorkflowEngine.record_annotation` does."""

    session: Session
    now: datetime
    deliver: Callable[..., Correlation]
    annotate: Callable[..., None]


_Result = TypeVar("_Result")


class ExternalWork:
    """Facade methods; ``self`` is the WorkflowEngine."""

    # --- external tasks ------------------------------------------------------------------

    def fetch_and_lock(self, worker_id: str, topics: Sequence[TopicRequest], *, max_tasks: int = 10,
                       confidential: Confidential | None = None) -> list[ExternalTaskView]:
        """Lock up to ``max_tasks`` available tasks of these topics for ``worker_id`` (each
        for its topic's lock duration) and return them with their variables. A task is
        available when it has no lock or its lock has expired, and retries are not 0 (and
        ``confidential`` does not hide its instance).

        :raise InvalidTaskData: a worker id that does not fit its column."""
        check_column_text("workerId", worker_id, ExternalTask.__table__.c.worker_id)
        now = self.clock.now()
        by_topic = {t.name: t for t in topics}
        with self._unit_of_work() as session:
            query = (select(ExternalTask, ProcessInstance)
                     .join(ProcessInstance, ProcessInstance.id == ExternalTask.instance_id)
                     .where(ExternalTask.topic.in_(list(by_topic)),
                            or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now),
                            or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0))
                     .order_by(ExternalTask.priority.desc(), ExternalTask.created_at, ExternalTask.id)
                     .limit(max_tasks * 4))
            if confidential is not None:
                query = query.where(confidential_condition(confidential))
            if session.bind.dialect.name == "postgresql":
                audit_chain.lock_before_row_locks(session)  # the head first, as every writer does
                query = query.with_for_update(of=ExternalTask, skip_locked=True)
            locked = []
            for row, instance in session.execute(query):
                wanted = by_topic[row.topic]
                if ((wanted.business_key and instance.business_key != wanted.business_key)
                        or (wanted.process_definition_key
                            and instance.process_key != wanted.process_definition_key)):
                    continue
                row.worker_id = worker_id
                row.lock_expires_at = now + timedelta(milliseconds=wanted.lock_duration_ms)
                locked.append((row, instance))
                if len(locked) == max_tasks:
                    break
            return [self._external_view(session, row, instance) for row, instance in locked]

    def external_tasks(self, *, topic: str | None = None, instance_id: str | None = None,
                       worker_id: str | None = None, locked: bool | None = None,
                       limit: int = 100, offset: int = 0,
                       confidential: Confidential | None = None) -> list[ExternalTaskView]:
        now = self.clock.now()
        query = select(ExternalTask, ProcessInstance).join(
            ProcessInstance, ProcessInstance.id == ExternalTask.instance_id)
        if confidential is not None:
            query = query.where(confidential_condition(confidential))
        for value, condition in ((topic, ExternalTask.topic == topic),
                                 (instance_id, ExternalTask.instance_id == instance_id),
                                 (worker_id, ExternalTask.worker_id == worker_id)):
            if value is not None:
                query = query.where(condition)
        if locked is not None:
            held = ExternalTask.lock_expires_at > now
            query = query.where(held if locked else or_(ExternalTask.lock_expires_at.is_(None), ~held))
        with self._reading() as session:
            rows = session.execute(query.order_by(ExternalTask.created_at, ExternalTask.id)
                                   .limit(limit).offset(offset)).all()
            return [self._external_view(session, row, instance, with_variables=False)
                    for row, instance in rows]

    def external_task(self, task_id: str) -> ExternalTaskView:
        with self._reading() as session:
            row = session.get(ExternalTask, task_id)
            if row is None:
                raise TaskNotFound(f"no external task '{task_id}'")
            return self._external_view(session, row, session.get(ProcessInstance, row.instance_id))

    def complete_external_task(self, task_id: str, worker_id: str, variables: Mapping[str, Any] | None = None,
                               *, user: str | None = None):
        """The worker's result: its variables become the case's, and the case runs on."""
        values = dict(variables or {})
        check_plain(values)

        def complete(task) -> None:
            task.data.update(copy.deepcopy(values))
            task.complete()

        return self._external_command(task_id, worker_id, user, "complete", values, complete)

    def throw_bpmn_error(self, task_id: str, worker_id: str, error_code: str, *, message: str = "",
                         variables: Mapping[str, Any] | None = None, user: str | None = None):
        """A business error from the worker, caught by the task's error boundary event.

        :raise InvalidTaskData: no boundary event catches ``error_code`` (nothing changes).
        """
        values = dict(variables or {})
        check_plain(values)

        def throw(task) -> None:
            if not runtime.throw_error(task, error_code, values):
                raise InvalidTaskData({"errorCode": [
                    f"no error boundary event catches '{error_code}' at {runtime.element_id(task)}"]})

        return self._external_command(task_id, worker_id, user, "bpmn_error",
                                      {"error_code": error_code, "message": message, **values}, throw)

    def fail_external_task(self, task_id: str, worker_id: str, *, message: str, details: str = "",
                           retries: int = 0, retry_timeout_ms: int = 0, user: str | None = None) -> None:
        """The worker could not do it: keep the error, and hand the task out again after
        ``retry_timeout_ms`` while ``retries`` are left (0 makes it an incident)."""
        now = self.clock.now()
        with self._unit_of_work() as session:
            row = self._locked_row(session, task_id, worker_id)
            row.error_message, row.error_details, row.retries = message[:4000], details, max(retries, 0)
            row.worker_id = None
            row.lock_expires_at = now + timedelta(milliseconds=max(retry_timeout_ms, 0))
            session.add(self._external_audit(now, AuditAction.EXTERNAL_TASK_FAILED, user or worker_id, row, {
                "worker_id": worker_id, "message": message, "retries": row.retries}))

    def _external_command(self, task_id, worker_id, user, what, audit_data, act):
        now = self.clock.now()
        with self._unit_of_work() as session:
            row = self._locked_row(session, task_id, worker_id)
            instance = self._running_instance(session, row.instance_id)
            definition = self._definition(session, instance.definition_id)
            workflow = self._load(instance, definition)
            task = runtime.find_task(workflow, task_id)
            if task is None or not runtime.is_waiting_service_task(task):
                raise TaskNotReady(f"external task '{task_id}' is no longer waiting")
            before = runtime.completed_task_ids(workflow)
            act(task)
            runtime.advance(workflow, self._service_runner(session, instance, definition, user))
            session.add(self._external_audit(now, AuditAction.ACTIVITY_COMPLETED, user or worker_id, row, {
                "topic": row.topic, "worker_id": worker_id, "outcome": what, "result": audit_data}))
            saved = self._save(session, instance, workflow, definition, before - {task.id}, user, now,
                               completed_by_user={task_id})
            return self._instance_view(session, instance, workflow, definition, saved)

    def _locked_row(self, session: Session, task_id: str, worker_id: str) -> ExternalTask:
        # PostgreSQL: who holds the lock is read under the audit chain's head, which
        # fetchAndLock holds when it hands a task to another worker: not a stale holder.
        audit_chain.lock_before_row_locks(session)
        row = session.get(ExternalTask, task_id)
        if row is None:
            raise TaskNotFound(f"no external task '{task_id}'")
        if row.worker_id != worker_id:
            holder = f"worker '{row.worker_id}'" if row.worker_id else "no worker"
            raise LockedByAnotherWorker(f"external task '{task_id}' is locked by {holder}, not '{worker_id}'")
        return row

    def _external_audit(self, now, action, actor, row: ExternalTask, data):
        info = self._definition(object_session(row), row.definition_id).elements.get(row.element_id)
        return audit(now, action, actor, row.instance_id, row.id, info, data=data)

    def _external_view(self, session, row: ExternalTask, instance: ProcessInstance,
                       with_variables: bool = True) -> ExternalTaskView:
        variables: dict[str, Any] = {}
        if with_variables:
            definition = self._definition(session, instance.definition_id)
            task = runtime.find_task(self._load(instance, definition), row.id)
            variables = copy.deepcopy(dict(task.data)) if task is not None else {}
        return ExternalTaskView(
            row.id, row.topic, row.worker_id, row.lock_expires_at, row.instance_id, instance.business_key,
            instance.process_key, row.definition_id, row.element_id, row.retries, row.error_message,
            row.error_details, row.priority, row.created_at, variables)

    # --- messages --------------------------------------------------------------------------

    def correlate_message(self, name: str, *, business_key: str | None = None,
                          instance_id: str | None = None, variables: Mapping[str, Any] | None = None,
                          all_matches: bool = False, user: str | None = None,
                          confidential: Confidential | None = None,
                          starter_groups: Iterable[str] | None = None) -> list[Correlation]:
        """Deliver message ``name``: to instances waiting for it (narrowed by business key or
        instance), or else start the latest version of each process whose start event
        catches it, with ``business_key`` and ``variables``. Instances ``confidential``
        hides are not reached, and its processes are started only with an allowed value.
        With ``starter_groups`` (the caller's roles) only processes whose start event names
        one of them in ``camunda:candidateStarterGroups`` are started, as by hand.

        :raise MessageNotCorrelated: nothing matches, or several do and not ``all_matches``.
        :raise NotAllowed: only processes the caller may not start catch the message.
        """
        values = dict(variables or {})
        check_plain(values)
        now = self.clock.now()
        with self._unit_of_work() as session:
            waiting = self._subscriptions(session, name, business_key, instance_id, confidential)
            starters = [] if waiting or instance_id else self._message_starters(session, name)
            if confidential is not None:
                subject = values.get(confidential.variable)
                starters = [row for row in starters if row.key not in confidential.process_keys
                            or (isinstance(subject, str) and subject in confidential.allowed)]
            if starter_groups is not None and starters:
                groups = set(starter_groups)
                refused = [row.key for row in starters if not groups & set(
                    self._definition(session, row.id).start_element.starter_groups)]
                starters = [row for row in starters if row.key not in refused]
                if refused and not starters:
                    raise NotAllowed(f"{user or 'this user'} may not start process '{refused[0]}' "
                                     f"(its candidateStarterGroups)")
            found = len(waiting) or len(starters)
            if not found:
                raise MessageNotCorrelated(f"no process definition or execution matches the message '{name}'")
            if found > 1 and not all_matches:
                raise MessageNotCorrelated(f"{found} executions or definitions match the message '{name}'; "
                                           "narrow it (business key) or correlate to all")
            done = [self._deliver(session, sub, name, values, user, now) for sub in waiting]
            for row in starters:
                instance, _, _ = self._start_in(session, row, values, business_key=business_key, user=user,
                                                message=name)
                done.append(Correlation(instance.id, True))
            return done

    def transaction(self, work: Callable[[Transaction], _Result], *, user: str | None = None) -> _Result:
        """Run ``work`` in one writing transaction: it writes the application's own rows
        through ``Transaction.session`` and may deliver messages to waiting instances with
        ``Transaction.deliver`` (as ``user``). Everything commits when ``work`` returns, and
        nothing does when it raises: for records whose writing is the event a case waits for."""
        now = self.clock.now()
        with self._unit_of_work() as session:

            def deliver(name: str, *, instance_id: str | None = None, business_key: str | None = None,
                        variables: Mapping[str, Any] | None = None) -> Correlation:
                values = dict(variables or {})
                check_plain(values)
                waiting = self._subscriptions(session, name, business_key, instance_id)
                if len(waiting) != 1:
                    raise MessageNotCorrelated(f"{len(waiting)} executions wait for the message '{name}'")
                return self._deliver(session, waiting[0], name, values, user, now)

            def annotate(data: Mapping[str, Any], *, instance_id: str | None = None) -> None:
                session.add(audit(now, AuditAction.ANNOTATED, user, instance_id, data=dict(data)))

            return work(Transaction(session, now, deliver, annotate))

    def _deliver(self, session, sub: MessageSubscription, name, values, user, now) -> Correlation:
        instance = self._running_instance(session, sub.instance_id)
        definition = self._definition(session, instance.definition_id)
        workflow = self._load(instance, definition)
        task = runtime.find_task(workflow, sub.task_id)
        if task is None:
            raise TaskNotReady(f"instance '{instance.id}' is no longer waiting for '{name}'")
        if not runtime.is_waiting(task):
            # The subscription was read before another command, committed since, moved the
            # instance on (on PostgreSQL each statement sees the latest commit): a lost race.
            raise ConcurrentUpdate(f"instance '{instance.id}' received '{name}' or moved on meanwhile; retry")
        before = runtime.completed_task_ids(workflow)
        runtime.deliver_message(task, name, copy.deepcopy(values))
        runtime.advance(workflow, self._service_runner(session, instance, definition, user))
        info = definition.elements.get(sub.element_id)
        session.add(audit(now, AuditAction.MESSAGE_RECEIVED, user, instance.id, sub.task_id, info,
                          data={"message": name, "variables": values}))
        self._save(session, instance, workflow, definition, before, user, now)
        return Correlation(instance.id, False)

    @staticmethod
    def _subscriptions(session, name, business_key, instance_id,
                       confidential: Confidential | None = None) -> list[MessageSubscription]:
        query = (select(MessageSubscription).join(ProcessInstance,
                                                  ProcessInstance.id == MessageSubscription.instance_id)
                 .where(MessageSubscription.message_name == name,
                        ProcessInstance.status == InstanceStatus.RUNNING))
        if business_key is not None:
            query = query.where(ProcessInstance.business_key == business_key)
        if instance_id is not None:
            query = query.where(MessageSubscription.instance_id == instance_id)
        if confidential is not None:
            query = query.where(confidential_condition(confidential))
        return list(session.scalars(query.order_by(MessageSubscription.instance_id)))

    def _message_starters(self, session, name) -> list[ProcessDefinition]:
        keys = session.scalars(select(ProcessDefinition.key).distinct()).all()
        starters = []
        for key in keys:
            row = self._latest_row(session, key)
            start = self._definition(session, row.id).start_element
            if start is not None and start.message == name:
                starters.append(row)
        return starters


# --- derived rows, written by the facade's save --------------------------------------------

def sync_external_tasks(session: Session, instance: ProcessInstance, definition, workflow, served: set[str],
                        now: datetime, existing: set[str] | None = None) -> None:
    """One ``external_task`` row per service task waiting for an external worker
    (``existing``: the instance's rows' ids, when the caller has read them)."""
    waiting = {}
    if instance.status == InstanceStatus.RUNNING:
        for task in runtime.started_service_tasks(workflow):
            info = definition.elements.get(runtime.element_id(task))
            if info is not None and info.topic and info.topic not in served:
                waiting[str(task.id)] = info
    if existing is None:
        existing = set(session.scalars(
            select(ExternalTask.id).where(ExternalTask.instance_id == instance.id)))
    gone = existing - set(waiting)
    if gone:
        session.execute(delete(ExternalTask).where(ExternalTask.id.in_(gone)))
    for task_id, info in waiting.items():
        if task_id not in existing:
            session.add(ExternalTask(id=task_id, instance_id=instance.id, definition_id=definition.id,
                                     element_id=info.id, topic=info.topic, created_at=now, priority=0))


def sync_message_subscriptions(session: Session, instance: ProcessInstance, workflow,
                               existing: set[str] | None = None) -> None:
    waiting = {m.task_id: m for m in runtime.waiting_messages(workflow)} \
        if instance.status == InstanceStatus.RUNNING else {}
    if existing is None:
        existing = set(session.scalars(select(MessageSubscription.task_id)
                                       .where(MessageSubscription.instance_id == instance.id)))
    gone = existing - set(waiting)
    if gone:
        session.execute(delete(MessageSubscription).where(MessageSubscription.task_id.in_(gone)))
    session.add_all(MessageSubscription(task_id=m.task_id, instance_id=instance.id, element_id=m.element_id,
                                        message_name=m.name)
                    for m in waiting.values() if m.task_id not in existing)

