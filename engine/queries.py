"""Read-only questions over the engine's own tables, for reviews and reports: how many
cases wait at or have passed each element of a version, what an instance's timers are,
which elements a version was deployed with.

Plain functions over the caller's session: nothing here loads a workflow or writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from .catalogue import ElementInfo
from .models import (
    AuditAction,
    AuditEvent,
    ExternalTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    Timer,
    UserTask,
)
from .views import Confidential

# Audit actions that mean "a case went through this element". A service task done by a
# registered function is audited twice (its result, then the finished step), so passes
# are counted by library task id; a start or a breach carries none and counts per row.
PASSED = (AuditAction.STARTED, AuditAction.TASK_COMPLETED, AuditAction.ACTIVITY_COMPLETED,
          AuditAction.TIMER_FIRED, AuditAction.DEADLINE_BREACHED)


@dataclass(frozen=True)
class ElementCounts:
    open_tasks: int = 0  # user tasks, and service tasks waiting for an external worker, there now
    waiting_timers: int = 0  # timers armed there now
    passed: int = 0  # times a case completed it (a loop counts each pass)
    breached: int = 0  # deadline breaches recorded on it (boundary timers)


@dataclass(frozen=True)
class ArmedTimer:
    task_id: str
    element_id: str
    due_at: datetime


def element_counts(session: Session, definition_id: str) -> dict[str, ElementCounts]:
    """Per element of one deployed version, over every instance of that version."""
    found: dict[str, dict[str, int]] = {}

    def add(rows, name: str) -> None:
        for element_id, n in rows:
            if element_id:
                counts = found.setdefault(element_id, {})
                counts[name] = counts.get(name, 0) + n

    add(session.execute(select(UserTask.element_id, func.count()).where(
        UserTask.definition_id == definition_id).group_by(UserTask.element_id)), "open_tasks")
    add(session.execute(select(ExternalTask.element_id, func.count()).where(
        ExternalTask.definition_id == definition_id).group_by(ExternalTask.element_id)), "open_tasks")
    add(session.execute(select(Timer.element_id, func.count())
                        .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                        .where(ProcessInstance.definition_id == definition_id)
                        .group_by(Timer.element_id)), "waiting_timers")
    of_version = (select(AuditEvent.element_id)
                  .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
                  .where(ProcessInstance.definition_id == definition_id))
    one_pass = func.coalesce(AuditEvent.task_id, cast(AuditEvent.id, String))
    add(session.execute(of_version.add_columns(func.count(func.distinct(one_pass)))
                        .where(AuditEvent.action.in_(PASSED)).group_by(AuditEvent.element_id)), "passed")
    add(session.execute(of_version.add_columns(func.count())
                        .where(AuditEvent.action == AuditAction.DEADLINE_BREACHED)
                        .group_by(AuditEvent.element_id)), "breached")
    return {element_id: ElementCounts(**counts) for element_id, counts in found.items()}


def instance_counts(session: Session) -> dict[str, dict[InstanceStatus, int]]:
    """Instances per deployed version and status."""
    counts: dict[str, dict[InstanceStatus, int]] = {}
    for definition_id, status, n in session.execute(
            select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
            .group_by(ProcessInstance.definition_id, ProcessInstance.status)):
        counts.setdefault(definition_id, {})[status] = n
    return counts


def armed_timers(session: Session, instance_id: str) -> list[ArmedTimer]:
    """The timers an instance waits on now, soonest first."""
    rows = session.scalars(select(Timer).where(Timer.instance_id == instance_id)
                           .order_by(Timer.due_at, Timer.element_id))
    return [ArmedTimer(row.task_id, row.element_id, row.due_at) for row in rows]


def definition_elements(session: Session, definition_id: str) -> dict[str, ElementInfo]:
    """The elements (names, kinds, documentation, forms, properties) a version was deployed
    with; empty for an unknown id."""
    catalogue = session.scalar(select(ProcessDefinition.catalogue)
                               .where(ProcessDefinition.id == definition_id))
    return {k: ElementInfo.from_dict(v) for k, v in (catalogue or {}).items()}


def confidential_condition(rule: Confidential):
    """A WHERE condition for a query over ``process_instance`` that drops the instances
    ``rule`` hides: those of its processes not started with an allowed value of its
    variable (the start variables are read off the ``started`` audit entry, per instance,
    through the audit table's instance index)."""
    allowed = exists().where(
        AuditEvent.instance_id == ProcessInstance.id, AuditEvent.action == AuditAction.STARTED,
        AuditEvent.data[("variables", rule.variable)].as_string().in_(sorted(rule.allowed)))
    return or_(ProcessInstance.process_key.not_in(sorted(rule.process_keys)), allowed)
