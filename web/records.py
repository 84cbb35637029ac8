"""Every kind of record the archive keeps (A-1, A-2): how to list one kind by the time it
was recorded, how to read one record by its key, its fields, who recorded it, and where it
lives in the application.

A record is a row of a table the flows write (a service request, a score, a feedback item,
a rectification, an inspection, an appraisal, a reward or penalty, training), or — for the
technicians' service records — a completed "Service record" step read off the audit trail
with the data submitted. Nothing here writes. Times are UTC; periods are given as UTC
bounds (the caller turns company calendar days into them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, Float, Integer, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from engine import AuditAction
from engine.models import AuditEvent, ProcessInstance, UTCDateTime

from .analytics import Period  # company-calendar days, with their UTC bounds
from .authz import may_see_staff_record
from .models import (
    Appraisal,
    Correction,
    FeedbackItem,
    InspectionResult,
    RectificationItem,
    Sanction,
    SatisfactionScore,
    ServiceCase,
    TrainingAttendance,
    TrainingNeed,
    TrainingSession,
    User,
)
from .service_requests import CHANNELS, PROCESS, SERVICE_TYPES

# The technician's "Service record" step of bpmn/service_request.bpmn.
SERVICE_RECORD_TASK = "Task_Record"
SERVICE_RECORD_FIELDS = ("work_content", "work_started_at", "work_finished_at", "materials", "owner_remarks")
SUMMARY_LENGTH = 80

FIELD_LABELS = {
    "instance_id": _l("Case id"), "business_key": _l("Number"), "owner_id": _l("Owner"),
    "channel": _l("Channel"), "service_type": _l("Service type"), "building": _l("Building"),
    "unit": _l("Unit"), "submitted_by": _l("Submitted by"), "submitted_at": _l("Submitted at"),
    "technician": _l("Technician"), "priority": _l("Priority"), "dispatched_at": _l("Dispatched at"),
    "work_content": _l("Work performed"), "work_started_at": _l("Started at"),
    "work_finished_at": _l("Finished at"), "materials": _l("Materials used"),
    "owner_remarks": _l("Owner's remarks"), "recorded_by": _l("Recorded by"),
    "recorded_at": _l("Recorded at"),
    "task_id": _l("Task id"), "audit_id": _l("Audit entry"), "submitted": _l("Everything submitted"),
    "kind": _l("Kind"), "campaign": _l("Campaign"), "score": _l("Score"), "comments": _l("Comments"),
    "subject": _l("Subject"), "category": _l("Category"), "urgency": _l("Urgency"),
    "received_at": _l("Received at"), "received_by": _l("Received by"), "reply": _l("Reply"),
    "replied_at": _l("Replied at"), "replied_by": _l("Replied by"), "owner_satisfied": _l("Owner satisfied"),
    "owner_comment": _l("Owner's comment"), "related_request": _l("Related request"),
    "updated_at": _l("Updated at"), "problem": _l("Problem"), "source": _l("Source"),
    "source_reference": _l("Source reference"), "responsible": _l("Responsible"), "deadline": _l("Deadline"),
    "started_at": _l("Started at"), "started_by": _l("Started by"), "item": _l("Inspected request"),
    "check_key": _l("Spot check"), "passed": _l("Passed"), "result": _l("Result"), "findings": _l("Findings"),
    "inspected_by": _l("Inspected by"), "inspected_at": _l("Inspected at"), "round_key": _l("Round"),
    "username": _l("Staff member"), "period_start": _l("Period from"), "period_end": _l("Period to"),
    "tasks_completed": _l("Tasks completed"), "deadlines_due": _l("Deadlines due"),
    "deadlines_met": _l("Deadlines met"), "scores": _l("Scores received"),
    "average_score": _l("Average score"),
    "inspections": _l("Inspections"), "inspections_failed": _l("Inspections failed"),
    "rectifications": _l("Rectifications"), "rectifications_overdue": _l("Rectifications overdue"),
    "complaints": _l("Complaints"), "computed_at": _l("Computed at"), "reviewer": _l("Reviewer"),
    "assessment": _l("Assessment"), "reviewed_at": _l("Reviewed at"),
    "acknowledged_at": _l("Acknowledged at"), "staff_comment": _l("Staff member's comment"),
    "approver": _l("Approved by"), "approved_at": _l("Approved at"),
    "proposal": _l("Proposal"), "proposal_reason": _l("Reason for the proposal"), "status": _l("Status"),
    "id": _l("Number"), "measure": _l("Measure"), "reason": _l("Reason"), "evidence": _l("Evidence"),
    "appraisal_id": _l("Appraisal"), "proposed_by": _l("Proposed by"), "approved_by": _l("Approved by"),
    "topic": _l("Topic"), "skill": _l("Skill"), "starts_at": _l("Starts at"), "hours": _l("Hours"),
    "location": _l("Location"), "trainer": _l("Trainer"), "description": _l("Description"),
    "created_by": _l("Created by"), "created_at": _l("Created at"), "session_id": _l("Training session"),
    "attended": _l("Attended"), "assessment_score": _l("Assessment score"), "comment": _l("Comment"),
    "due": _l("Due"), "raised_by": _l("Raised by"), "raised_at": _l("Raised at"),
    "completed_at": _l("Completed at"), "record_type": _l("Record type"), "record_key": _l("Record"),
    "field": _l("Field"), "original": _l("Original value"), "corrected": _l("Corrected value"),
    "author": _l("Author"), "at": _l("Recorded at"),
}


@dataclass(frozen=True)
class Column:
    """One field of a record: ``kind`` is text, int, float, bool, date, datetime (an
    instant, stored in UTC) or local (a time as typed in a form, without a zone)."""

    name: str
    kind: str = "text"
    correctable: bool = True

    @property
    def label(self):
        return FIELD_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Record:
    """One archived record as every page and export sees it; ``values`` as recorded."""

    type: str
    key: str
    at: datetime
    author: str | None
    summary: str
    values: Mapping[str, Any]
    display_key: str
    subject: str | None = None  # the staff member a personnel record is about
    instance_id: str | None = None  # the case the record belongs to, if any
    link: tuple[str, dict[str, Any]] | None = None  # (endpoint, arguments) of the page it lives on



Visible = frozenset[str] | None  # usernames whose personnel records a viewer may see; None: all


class RecordType:
    """One kind of record. Subclasses say how to query it; this class says the rest."""

    name: str
    label: Any
    personnel: bool = False  # about one staff member: shown by ``may_see_staff_record``
    correctable: bool = True
    columns: tuple[Column, ...] = ()

    def field(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def correctable_fields(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.correctable) if self.correctable else ()

    def page(self, session: Session, period: Period, visible: Visible, *, limit: int,
             offset: int = 0) -> list[Record]:
        """Records of the period, newest first."""
        rows = session.execute(self.query(period, visible).limit(limit).offset(offset))
        return [self.record(row) for row in rows]

    def iterate(self, session: Session, period: Period, visible: Visible, *,
                batch: int = 500) -> Iterable[Record]:
        """Every record of the period, newest first, read ``batch`` rows at a time."""
        for row in session.execute(self.query(period, visible).execution_options(yield_per=batch)):
            yield self.record(row)

    def count(self, session: Session, period: Period, visible: Visible) -> int:
        return session.scalar(select(func.count()).select_from(
            self.query(period, visible).order_by(None).subquery()))

    def query(self, period: Period, visible: Visible) -> Select:
        raise NotImplementedError

    def record(self, row) -> Record:
        raise NotImplementedError

    def lookup(self, session: Session, key: str) -> Record | None:
        raise NotImplementedError


def _kind(column) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "datetime"
    for sql_type, name in ((Boolean, "bool"), (Integer, "int"), (Float, "float"), (Date, "date")):
        if isinstance(kind, sql_type):
            return name
    return "text"


def _short(text: Any, length: int = SUMMARY_LENGTH) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= length else text[:length - 1] + "…"


def _label(labels: Mapping[str, Any], value: Any) -> str:
    return str(labels.get(value, value)) if value is not None else "—"


class ModelType(RecordType):
    """Records that are rows of one table: keyed by the primary key (parts joined by ":")."""

    def __init__(self, name: str, label, model, *, at: str, author: str | Callable[[Any], str | None],
                 summary: Callable[[Any], str], link: Callable[[Any], tuple[str, dict] | None] | None = None,
                 subject: str | None = None, instance: str | None = "instance_id", fixed: Sequence[str] = (),
                 correctable: bool = True):
        self.name, self.label, self.model = name, label, model
        self.correctable = correctable
        self._at, self._author, self._summary, self._link = at, author, summary, link
        self._subject, self._instance = subject, instance
        self._keys = tuple(model.__table__.primary_key.columns)
        self.personnel = subject is not None
        not_correctable = {c.name for c in self._keys} | {"instance_id", "business_key", at, "updated_at",
                                                          *fixed}
        if isinstance(author, str):
            not_correctable.add(author)
        self.columns = tuple(Column(c.name, _kind(c), c.name not in not_correctable)
                             for c in model.__table__.columns)

    def _time(self):
        return getattr(self.model, self._at)

    def query(self, period: Period, visible: Visible) -> Select:
        at = self._time()
        query = select(self.model).where(at >= period.start, at < period.end)
        if self.personnel and visible is not None:
            query = query.where(getattr(self.model, self._subject).in_(sorted(visible)))
        return query.order_by(at.desc(), *(getattr(self.model, c.key).desc() for c in self._keys))

    def key_of(self, row) -> str:
        return ":".join(str(getattr(row, c.key)) for c in self._keys)

    def record(self, row) -> Record:
        obj = row[0] if not isinstance(row, self.model) else row
        author = getattr(obj, self._author) if isinstance(self._author, str) else self._author(obj)
        key = self.key_of(obj)
        return Record(
            type=self.name, key=key, at=getattr(obj, self._at), author=author, summary=self._summary(obj),
            values={c.name: getattr(obj, c.name) for c in self.columns},
            display_key=getattr(obj, "business_key", None) or key,
            subject=getattr(obj, self._subject) if self._subject else None,
            instance_id=getattr(obj, self._instance, None) if self._instance else None,
            link=self._link(obj) if self._link else None)

    def lookup(self, session: Session, key: str) -> Record | None:
        parts = key.split(":", len(self._keys) - 1)
        if len(parts) != len(self._keys):
            return None
        try:
            ident = tuple(int(part) if isinstance(column.type, Integer) else part
                          for column, part in zip(self._keys, parts, strict=True))
        except ValueError:
            return None
        obj = session.get(self.model, ident if len(ident) > 1 else ident[0])
        return self.record(obj) if obj is not None else None


class ServiceRecordType(RecordType):
    """The technician's service record (R-2.3): each completed "Service record" step of a
    service request, as the audit trail keeps it (who, when, the data submitted), keyed by
    the audit entry's id. A case reworked twice has three."""

    name = "service_record"
    label = _l("Service records")
    columns = (Column("business_key", correctable=False), Column("instance_id", correctable=False),
               *(Column(f, "local" if f.endswith("_at") else "text") for f in SERVICE_RECORD_FIELDS),
               Column("recorded_by", correctable=False), Column("recorded_at", "datetime", False),
               Column("task_id", correctable=False), Column("audit_id", "int", False),
               Column("submitted", correctable=False))

    @staticmethod
    def _base() -> Select:
        return (select(AuditEvent, ProcessInstance.business_key)
                .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
                .where(ProcessInstance.process_key == PROCESS, AuditEvent.element_id == SERVICE_RECORD_TASK,
                       AuditEvent.action == AuditAction.TASK_COMPLETED))

    def query(self, period: Period, visible: Visible) -> Select:
        return (self._base().where(AuditEvent.at >= period.start, AuditEvent.at < period.end)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))

    def for_case(self, session: Session, instance_id: str) -> list[Record]:
        rows = session.execute(self._base().where(AuditEvent.instance_id == instance_id)
                               .order_by(AuditEvent.id))
        return [self.record(row) for row in rows]

    def record(self, row) -> Record:
        entry, business_key = row
        submitted = dict(entry.data.get("submitted") or {})
        values = {"business_key": business_key, "instance_id": entry.instance_id,
                  **{f: submitted.get(f) for f in SERVICE_RECORD_FIELDS},
                  "recorded_by": entry.actor, "recorded_at": entry.at, "task_id": entry.task_id,
                  "audit_id": entry.id,
                  "submitted": json.dumps(submitted, ensure_ascii=False, sort_keys=True)}
        return Record(type=self.name, key=str(entry.id), at=entry.at, author=entry.actor,
                      summary=_short(submitted.get("work_content")), values=values,
                      display_key=f"{business_key} #{entry.id}", instance_id=entry.instance_id,
                      link=("cases.detail", {"instance_id": entry.instance_id}))

    def lookup(self, session: Session, key: str) -> Record | None:
        if not key.isdigit():
            return None
        row = session.execute(self._base().where(AuditEvent.id == int(key))).one_or_none()
        return self.record(row) if row is not None else None


class CorrectionType(ModelType):
    """Corrections are records too (who corrected what, when, why); a correction of a
    personnel record is shown only to those who may see that record."""

    def query(self, period: Period, visible: Visible) -> Select:
        query = select(Correction).where(Correction.at >= period.start, Correction.at < period.end)
        if visible is not None:  # a personnel correction that names nobody: managers only
            query = query.where(or_(
                and_(Correction.subject.is_(None), Correction.record_type.not_in(sorted(personnel_types()))),
                Correction.subject.in_(sorted(visible))))
        return query.order_by(Correction.at.desc(), Correction.id.desc())

    def record(self, row) -> Record:
        found = super().record(row)
        return replace(found, subject=found.values["subject"])


SERVICE_RECORDS = ServiceRecordType()


def _case_link(row) -> tuple[str, dict]:
    return "cases.detail", {"instance_id": row.instance_id}


def _review_link(instance_id: str | None) -> tuple[str, dict] | None:
    return ("reviews.case", {"instance_id": instance_id}) if instance_id else None


def _profile_link(row) -> tuple[str, dict]:
    return "staff.person", {"username": row.username}


def _score_link(row) -> tuple[str, dict]:
    return ("cases.detail" if row.kind == "request" else "feedback.survey"), {"instance_id": row.instance_id}


def _plain(value: Any) -> str:
    return "—" if value is None else str(value)


def _mark(value: bool | None) -> str:
    return "—" if value is None else "✓" if value else "✗"


def _correction_summary(row: Correction) -> str:
    kind = TYPES.get(row.record_type)
    return _short(f"{kind.label if kind else row.record_type} {row.record_key} · {row.field or '—'}: "
                  f"{row.original or '—'} → {row.corrected or '—'}")


TYPES: dict[str, RecordType] = {kind.name: kind for kind in (
    ModelType("service_request", _l("Service requests"), ServiceCase, at="submitted_at",
              author="submitted_by", link=_case_link, fixed=("dispatched_at",),
              summary=lambda r: f"{_label(SERVICE_TYPES, r.service_type)} · {r.building}-{r.unit} · "
                                f"{_label(CHANNELS, r.channel)}"),
    SERVICE_RECORDS,
    ModelType("satisfaction_score", _l("Satisfaction scores"), SatisfactionScore, at="recorded_at",
              author=lambda r: r.recorded_by or r.owner_id, link=_score_link, fixed=("recorded_by",),
              summary=lambda r: f"{r.score}/5 · {r.business_key or r.campaign or ''} "
                                f"{_short(r.comments, 40)}".strip()),
    ModelType("feedback", _l("Feedback"), FeedbackItem, at="received_at",
              author=lambda r: r.received_by or r.owner_id,
              summary=lambda r: f"{r.category or '—'} · {_short(r.subject, 60)}",
              link=lambda r: ("feedback.detail", {"instance_id": r.instance_id}),
              fixed=("received_by", "replied_by", "replied_at")),
    ModelType("rectification", _l("Rectifications"), RectificationItem, at="started_at", author="started_by",
              summary=lambda r: f"{_short(r.problem, 50)} · {r.responsible} · {r.deadline.isoformat()}",
              link=lambda r: _review_link(r.instance_id)),
    ModelType("inspection", _l("Spot-check inspections"), InspectionResult, at="inspected_at",
              author="inspected_by", summary=lambda r: f"{r.item} · {r.result} · {r.technician or '—'}",
              link=lambda r: _review_link(r.instance_id)),
    ModelType("appraisal", _l("Appraisals"), Appraisal, at="computed_at", author=lambda r: r.reviewer,
              summary=lambda r: f"{r.username} · {r.period_start.isoformat()} – {r.period_end.isoformat()} · "
                                f"{r.status}" + (f" · {r.score}" if r.score is not None else ""),
              link=lambda r: ("staff.appraisal", {"instance_id": r.instance_id}), subject="username",
              fixed=("username", "reviewer", "approver", "status")),
    ModelType("sanction", _l("Rewards and penalties"), Sanction, at="recorded_at", author="approved_by",
              summary=lambda r: f"{r.username} · {r.kind} · {r.measure} · {_short(r.reason, 40)}",
              link=lambda r: ("staff.appraisal", {"instance_id": r.appraisal_id}) if r.appraisal_id else
              _profile_link(r), subject="username", instance=None, fixed=("username", "appraisal_id")),
    ModelType("training_session", _l("Training sessions"), TrainingSession, at="created_at",
              author="created_by", instance=None, link=lambda r: ("training.session", {"session_id": r.id}),
              summary=lambda r: f"{_short(r.topic, 50)} · {r.trainer} · {r.hours:g} h"),
    ModelType("training_attendance", _l("Training attendance"), TrainingAttendance, at="recorded_at",
              author="recorded_by", subject="username", instance=None, fixed=("username",),
              link=lambda r: ("training.session", {"session_id": r.session_id}),
              summary=lambda r: f"{r.username} · #{r.session_id} · {_mark(r.attended)} · "
                                f"{_plain(r.assessment_score)} · {_mark(r.passed)}"),
    ModelType("training_need", _l("Training needs"), TrainingNeed, at="raised_at", author="raised_by",
              summary=lambda r: f"{r.username} · {_short(r.topic, 50)} · {r.due.isoformat()}",
              link=_profile_link, subject="username", fixed=("username", "session_id")),
    CorrectionType("correction", _l("Corrections"), Correction, at="at", author="author",
                   summary=_correction_summary, instance=None, correctable=False,
                   link=lambda r: ("archive.record", {"record_type": r.record_type, "key": r.record_key})),
)}


def may_see(session: Session, viewer: User, record: Record) -> bool:
    """A personnel record (or a correction of one) only to whom ``may_see_staff_record``
    allows; other records to anyone the page itself lets in."""
    about = TYPES.get(record.values.get("record_type")) if record.type == "correction" else None
    if record.subject is None and not TYPES[record.type].personnel and not (about and about.personnel):
        return True
    subject = session.scalar(select(User).where(User.username == record.subject))
    return may_see_staff_record(viewer, subject)


def personnel_types() -> frozenset[str]:
    """The kinds of record that are about one staff member."""
    return frozenset(name for name, kind in TYPES.items() if kind.personnel)


def find(session: Session, record_type: str, key: str) -> Record | None:
    """One record by its type and key; None if there is no such record (or type)."""
    kind = TYPES.get(record_type)
    return kind.lookup(session, key) if kind is not None else None
