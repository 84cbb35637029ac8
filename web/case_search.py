"""Finding cases for review: every process's instances, filtered by business key, owner,
status, start date, process and missed deadlines, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from engine import InstanceStatus, queries
from engine.models import Deadline, ProcessDefinition, ProcessInstance
from engine.views import Confidential

from .models import FeedbackItem, ServiceCase

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class CaseQuery:
    key: str | None = None
    exact: bool = False  # the whole business key, not its beginning
    owner: str | None = None
    status: InstanceStatus | None = None
    process: str | None = None
    first: date | None = None  # started on or after this day (in ``zone``)
    last: date | None = None  # started on or before this day
    breached: bool = False
    zone: ZoneInfo = UTC_ZONE


@dataclass(frozen=True)
class FoundCase:
    instance_id: str
    business_key: str | None
    process_key: str
    process_name: str
    version: int
    status: InstanceStatus
    started_at: datetime
    started_by: str | None
    ended_at: datetime | None
    owner: str | None
    breached: bool


def _missed(instance_id) -> exists:
    return exists().where(Deadline.instance_id == instance_id,
                          or_(Deadline.breached_at.is_not(None), Deadline.met.is_(False)))


def _like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def _conditions(query: CaseQuery, owner) -> list:
    conditions = []
    if query.key:
        conditions.append(ProcessInstance.business_key == query.key if query.exact else
                          func.lower(ProcessInstance.business_key).like(_like_prefix(query.key), escape="\\"))
    if query.owner:
        conditions.append(owner == query.owner)
    if query.status is not None:
        conditions.append(ProcessInstance.status == query.status)
    if query.process:
        conditions.append(ProcessInstance.process_key == query.process)
    if query.first:
        conditions.append(ProcessInstance.started_at >= _start_of(query.first, query.zone))
    if query.last:
        conditions.append(ProcessInstance.started_at < _start_of(query.last + timedelta(days=1), query.zone))
    if query.breached:
        conditions.append(_missed(ProcessInstance.id))
    return conditions


def search(session: Session, query: CaseQuery, *, page: int = 1, per_page: int = 25,
           confidential: Confidential | None = None) -> tuple[list[FoundCase], bool]:
    """One page of matching cases, newest first, and whether there is a next page; without
    the instances ``confidential`` hides (personnel records the searcher may not see)."""
    # Requests and feedback know whose they are; other processes have no owner.
    owner = func.coalesce(ServiceCase.owner_id, FeedbackItem.owner_id)
    conditions = _conditions(query, owner)
    if confidential is not None:
        conditions.append(queries.confidential_condition(confidential))
    statement = (
        select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.process_key,
               ProcessDefinition.name, ProcessDefinition.version, ProcessInstance.status,
               ProcessInstance.started_at, ProcessInstance.started_by, ProcessInstance.ended_at, owner,
               _missed(ProcessInstance.id).label("breached"))
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .outerjoin(ServiceCase, ServiceCase.instance_id == ProcessInstance.id)
        .outerjoin(FeedbackItem, FeedbackItem.instance_id == ProcessInstance.id)
        .where(*conditions)
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id)
        .limit(per_page + 1).offset((page - 1) * per_page))
    rows = session.execute(statement).all()
    return [FoundCase(*row[:10], bool(row[10])) for row in rows[:per_page]], len(rows) > per_page
