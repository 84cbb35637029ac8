"""Tables the engine owns. The schema itself is created and upgraded by Alembic
(``migrations/``); these mappings must match the newest revision.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AuditAction(enum.StrEnum):
    DEPLOYED = "deployed"
    STARTED = "started"
    TASK_CREATED = "task_created"
    TASK_COMPLETED = "task_completed"
    TASK_CLAIMED = "task_claimed"
    TASK_UNCLAIMED = "task_unclaimed"
    TASK_ASSIGNED = "task_assigned"
    TIMER_FIRED = "timer_fired"
    DEADLINE_BREACHED = "deadline_breached"
    DEADLINE_REACHED = "deadline_reached"
    NOTIFIED = "notified"
    MESSAGE_RECEIVED = "message_received"
    EXTERNAL_TASK_FAILED = "external_task_failed"
    ACTIVITY_COMPLETED = "activity_completed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ANNOTATED = "annotated"  # a record kept outside the engine was annotated (a correction, A-2)


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


class Deployment(Base):
    __tablename__ = "deployment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))


class DeploymentResource(Base):
    __tablename__ = "deployment_resource"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployment.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


class ProcessDefinition(Base):
    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definition_key_version"),)

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployment.id"), index=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    serializer_version: Mapped[str] = mapped_column(String(16))
    # The version's body, read when the engine first builds its spec (then cached), not with
    # every lookup of a process's latest version: parsing the catalogue took a quarter of a
    # request's start. Touching either loads both.
    # spec: the library's spec dicts, JSON; catalogue: element id -> ElementInfo dict.
    spec: Mapped[str] = mapped_column(Text, deferred=True, deferred_group="body")
    catalogue: Mapped[dict[str, Any]] = mapped_column(deferred=True, deferred_group="body")
    created_at: Mapped[datetime]


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_process_instance_key_status", "process_key", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[str] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[InstanceStatus] = mapped_column(_enum(InstanceStatus))
    state: Mapped[str] = mapped_column(Text)  # the library's workflow dict minus the spec, JSON
    serializer_version: Mapped[str] = mapped_column(String(16))
    row_version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    started_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_event_id: Mapped[str | None] = mapped_column(String(255))

    __mapper_args__ = {"version_id_col": row_version}


class UserTask(Base):
    """One row per READY user task: what worklists query."""

    __tablename__ = "user_task"
    # The worklist's order (soonest due, then oldest) within unclaimed or someone's tasks,
    # within one priority, and over all: a page is read off an index, not sorted.
    __table_args__ = (
        Index("ix_user_task_queue", "assignee", "due_at", "created_at", "id"),
        Index("ix_user_task_queue_priority", "assignee", "priority", "due_at", "created_at", "id"),
        Index("ix_user_task_due_order", "due_at", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the library's task id
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[str] = mapped_column(String(300))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    # Copied when the task is created so worklists can filter without loading instances:
    # the process variable ``priority`` and the task's ``propflow.skill`` property.
    priority: Mapped[str | None] = mapped_column(String(32), index=True)
    skill: Mapped[str | None] = mapped_column(String(32), index=True)


class UserTaskCandidate(Base):
    __tablename__ = "user_task_candidate"
    __table_args__ = (Index("ix_user_task_candidate_lookup", "kind", "value"),)

    task_id: Mapped[str] = mapped_column(
        ForeignKey("user_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "group" or "user"
    value: Mapped[str] = mapped_column(String(64), primary_key=True)


class Timer(Base):
    """One row per waiting timer: the worker wakes instances whose ``due_at`` has passed."""

    __tablename__ = "timer"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(index=True)


class TimerLease(Base):
    """A timer worker's claim on an instance with due timers (SQLite, which has no row locks;
    PostgreSQL workers lock the instance row with ``FOR UPDATE SKIP LOCKED`` instead).

    Other workers leave a leased instance alone until ``expires_at``, or at once when the
    holder was a process on their own host that no longer exists. Firing deletes the lease
    in the same transaction. Correctness never rests on it (firing re-checks what is due
    under the database's write lock); it divides the work so workers do not queue up for
    the same instances.
    """

    __tablename__ = "timer_lease"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime]


class ExternalTask(Base):
    """A service task waiting for an external worker (``camunda:type="external"`` with no
    function registered for its topic): what Camunda's fetchAndLock hands out."""

    __tablename__ = "external_task"
    __table_args__ = (Index("ix_external_task_fetch", "topic", "lock_expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the library's task id
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[str] = mapped_column(String(300))
    element_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lock_expires_at: Mapped[datetime | None]
    retries: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)


class MessageSubscription(Base):
    """An instance waiting for a message (a message catch event or receive task)."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_message_subscription_name", "message_name"),)

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(255))


class ProcessSchedule(Base):
    """A periodic process: when the application next starts an instance of it."""

    __tablename__ = "process_schedule"

    process_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    element_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    row_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": row_version}


class Deadline(Base):
    """SLA bookkeeping: a deadline armed by a ``propflow.deadline`` timer and met by a
    ``propflow.milestone`` event of the same name."""

    __tablename__ = "deadline"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    reached_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    met: Mapped[bool | None] = mapped_column(Boolean)


class AuditEvent(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (A-1, A-2). Tamper-evident:
    each entry carries the hash of the one before it (``engine.audit_chain`` sets both
    hashes at INSERT)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    action: Mapped[AuditAction] = mapped_column(_enum(AuditAction))
    actor: Mapped[str | None] = mapped_column(String(64))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the entry before
    hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of prev_hash and this entry


class AuditChain(Base):
    """The audit chain's head, one row (id 1): the newest entry's id and hash. Writers
    lock it to append, so entries chain in the order of their ids."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int | None] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
