"""What the engine hands out: small frozen dataclasses, never library objects."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .forms import FormDefinition
from .models import AuditAction, InstanceStatus


@dataclass(frozen=True)
class DefinitionView:
    id: str
    key: str
    version: int
    name: str
    deployment_id: str
    resource_name: str
    created_at: datetime


@dataclass(frozen=True)
class DeploymentView:
    id: str
    name: str
    source: str | None
    tenant_id: str | None
    deployed_at: datetime
    deployed_by: str | None
    definitions: tuple[DefinitionView, ...]
    duplicate: bool = False  # True when duplicate filtering returned an existing deployment


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: str
    business_key: str | None
    process_key: str
    definition_id: str
    element_id: str
    name: str
    lane: str | None
    documentation: str
    assignee: str | None
    candidate_groups: tuple[str, ...]
    candidate_users: tuple[str, ...]
    due_at: datetime | None
    created_at: datetime
    form: FormDefinition
    properties: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None  # the task's variables, when asked for one task
    priority: str | None = None
    skill: str | None = None
    instance_started_at: datetime | None = None  # where SLA windows start


@dataclass(frozen=True)
class Confidential:
    """Processes whose instances only some people may see (personnel records): an instance
    of one of ``process_keys`` is kept only when it was started with the variable
    ``variable`` set to one of ``allowed``; instances of other processes are not affected.
    Filters that carry one apply it on top of their other criteria."""

    process_keys: frozenset[str]
    variable: str
    allowed: frozenset[str]


@dataclass(frozen=True)
class TaskFilter:
    """Which ready user tasks to list. Criteria combine with AND; the "offered" ones —
    ``candidate_groups``, ``candidate_user`` and ``or_assignee`` — combine with OR among
    themselves. ``skills`` keeps tasks that need no skill or one of these."""

    instance_id: str | None = None
    process_key: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    claimed: bool = False
    priority: str | None = None
    due_before: datetime | None = None
    skills: tuple[str, ...] | None = None
    candidate_groups: tuple[str, ...] = ()
    candidate_user: str | None = None
    or_assignee: str | None = None
    confidential: Confidential | None = None


@dataclass(frozen=True)
class DeadlineView:
    name: str
    due_at: datetime | None
    reached_at: datetime | None
    breached_at: datetime | None
    met: bool | None


@dataclass(frozen=True)
class InstanceView:
    id: str
    definition_id: str
    process_key: str
    business_key: str | None
    status: InstanceStatus
    started_at: datetime
    started_by: str | None
    ended_at: datetime | None
    end_event_id: str | None
    variables: dict[str, Any]
    open_tasks: tuple[TaskView, ...]
    deadlines: tuple[DeadlineView, ...]
    row_version: int

    def deadline(self, name: str) -> DeadlineView | None:
        return next((d for d in self.deadlines if d.name == name), None)


@dataclass(frozen=True)
class ServiceCall:
    """What a service-task function is given: the case's variables (a copy), a way to start
    another process in the same transaction (returns its instance id), and that
    transaction's database session — the application reads and writes its own rows through
    it, so they commit or roll back with the step."""

    topic: str
    instance_id: str
    business_key: str | None
    variables: dict[str, Any]
    start: Callable[..., str]
    session: Any = None
    now: datetime | None = None  # the engine's clock at this step
    process_key: str = ""
    element_id: str = ""
    actor: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    action: AuditAction
    actor: str | None
    instance_id: str | None
    task_id: str | None
    element_id: str | None
    element_name: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """A reminder a diagram addressed to someone (an event with ``propflow.notify``)."""

    at: datetime
    to: str
    instance_id: str
    business_key: str | None
    process_key: str
    element_name: str | None

# --- listings for engine.listings (the Camunda REST API's filters and history) -------------

@dataclass(frozen=True)
class DeploymentFilter:
    """Which deployments to list. Criteria combine with AND; ``name_like`` is a SQL LIKE
    pattern (``%`` and ``_``); ``after`` and ``before`` are exclusive."""

    id: str | None = None
    name: str | None = None
    name_like: str | None = None
    source: str | None = None
    without_source: bool = False
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class Visibility:
    """The instances someone may see, as a query: those started with the variable
    ``start_variable`` (name, value) — an owner's own cases — or having an open user task
    that matches one of ``tasks``."""

    start_variable: tuple[str, str] | None = None
    tasks: tuple[TaskFilter, ...] = ()


@dataclass(frozen=True)
class InstanceFilter:
    """Which process instances to list. Criteria combine with AND; ``visible`` of None
    means every instance."""

    ids: tuple[str, ...] | None = None
    definition_id: str | None = None
    process_keys: tuple[str, ...] | None = None
    business_key: str | None = None
    business_key_like: str | None = None
    statuses: tuple[InstanceStatus, ...] | None = None
    started_by: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    ended_after: datetime | None = None
    ended_before: datetime | None = None
    visible: Visibility | None = None
    confidential: Confidential | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """One process instance as a history listing shows it, without loading its state."""

    id: str
    definition_id: str
    process_key: str
    process_name: str
    process_version: int
    business_key: str | None
    status: InstanceStatus
    started_at: datetime
    started_by: str | None
    ended_at: datetime | None
    end_event_id: str | None
    start_element_id: str | None
    cancel_reason: str | None


@dataclass(frozen=True)
class TaskSearch:
    """Open user tasks to list: ``where`` must match, and when ``any_of`` is given at
    least one of its filters too (whose tasks someone may see); the other criteria
    combine with AND (``*_like`` are SQL LIKE patterns)."""

    where: TaskFilter = field(default_factory=TaskFilter)
    any_of: tuple[TaskFilter, ...] | None = None
    business_key: str | None = None
    business_key_like: str | None = None
    definition_id: str | None = None
    element_id: str | None = None
    name: str | None = None
    name_like: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    due_after: datetime | None = None


@dataclass(frozen=True)
class ActivityRecord:
    """One pass through a flow node, read off the audit trail: a user task from its
    creation to its completion, any other audited element at the moment it finished."""

    id: str
    instance_id: str
    definition_id: str
    process_key: str
    element_id: str
    element_name: str | None
    kind: str  # the element's BPMN tag: userTask, serviceTask, startEvent …
    started_at: datetime
    ended_at: datetime | None
    task_id: str | None = None
    assignee: str | None = None
    timer: bool = False  # a timer event that fired
    canceled: bool = False  # a user task that ended without being completed


class ChainBreak(enum.StrEnum):
    """How the audit chain is broken at an entry."""

    PREVIOUS_HASH = "previous_hash"  # it does not follow the entry before it: one was removed or altered
    CONTENT = "content"  # its content does not match its own hash: it was edited
    HEAD = "head"  # the trail does not end where the chain head says: entries were removed or added


@dataclass(frozen=True)
class ChainReport:
    """The audit chain checked in id order. ``checked`` counts the entries read, up to and
    including the first broken one; ``entry`` is that entry (None when it is missing) and
    ``previous_id`` the last entry that checked out before it."""

    checked: int
    ok: bool
    first_broken_id: int | None
    reason: ChainBreak | None
    entry: AuditEntry | None = None
    previous_id: int | None = None
