"""The web layer's tables: people, their roles and skills, uploaded photos, and the facts
the analysis counts (cases, scores, feedback).

Roles are also the candidate groups of the BPMN user tasks (``camunda:candidateGroups``),
so a task offered to ``customer_service`` is offered to every user with that role.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from engine.models import UTCDateTime

from .extensions import db


class Role(enum.StrEnum):
    OWNER = "owner"
    CUSTOMER_SERVICE = "customer_service"
    SERVICE_SUPERVISOR = "service_supervisor"
    TECHNICIAN = "technician"
    QUALITY_REVIEWER = "quality_reviewer"
    PROCESS_OWNER = "process_owner"
    MANAGER = "manager"
    ADMIN = "admin"
    INTEGRATION = "integration"  # an external-task worker's account (SMS, phone system)


STAFF_ROLES = frozenset(Role) - {Role.OWNER}
LOCALES = ("zh_CN", "en")


class User(UserMixin, db.Model):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="zh_CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    building: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role")
    skill_rows: Mapped[list[UserSkill]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserSkill.skill")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.role_rows)

    @property
    def skills(self) -> tuple[str, ...]:
        return tuple(s.skill for s in self.skill_rows)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def set_roles(self, roles) -> None:
        self.role_rows = [UserRole(role=Role(r).value) for r in sorted(set(roles))]

    def set_skills(self, skills) -> None:
        self.skill_rows = [UserSkill(skill=s) for s in sorted(set(skills))]


class UserRole(db.Model):
    __tablename__ = "app_user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class UserSkill(db.Model):
    __tablename__ = "app_user_skill"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(32), primary_key=True)


class Attachment(db.Model):
    """A photo uploaded with a request. The file lives under UPLOAD_FOLDER by a random
    name; it is only ever served through an authorisation check."""

    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceCase(db.Model):
    """The facts of a service request that people search by, written with the instance in
    the same transaction: whose it is, how it came in, what and where."""

    __tablename__ = "service_case"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    business_key: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    service_type: Mapped[str] = mapped_column(String(32), index=True)
    building: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(20))
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Recorded when the supervisor dispatches (the diagram's "Record the dispatch" step).
    technician: Mapped[str | None] = mapped_column(String(64), index=True)
    priority: Mapped[str | None] = mapped_column(String(16))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SatisfactionScore(db.Model):
    """One answer to "how satisfied are you?": an owner's rating of a served request
    (``kind`` "request") or a survey questionnaire ("survey"). Written by the diagrams'
    "Record the score" step; one per instance, since each asks once."""

    __tablename__ = "satisfaction_score"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    business_key: Mapped[str | None] = mapped_column(String(64))
    campaign: Mapped[str | None] = mapped_column(String(64), index=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comments: Mapped[str | None] = mapped_column(Text)
    service_type: Mapped[str | None] = mapped_column(String(32))
    building: Mapped[str | None] = mapped_column(String(20))
    technician: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str | None] = mapped_column(String(64))


class FeedbackItem(db.Model):
    """A piece of feedback (R-4.1 … R-4.3) as the analysis and the owner's list see it;
    each "Record" step of the feedback diagram writes the latest state."""

    __tablename__ = "feedback_item"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    business_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    building: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(16), index=True)
    urgency: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_by: Mapped[str | None] = mapped_column(String(64))
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by: Mapped[str | None] = mapped_column(String(64))
    owner_satisfied: Mapped[bool | None] = mapped_column(Boolean)
    owner_comment: Mapped[str | None] = mapped_column(Text)
    related_request: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- facts the appraisal counts (E-1) ------------------------------------------------------

class InspectionResult(db.Model):
    """One request inspected in a spot check (R-3.1), with the technician who did the work:
    written by the spot-check diagram's "Record the inspection" step."""

    __tablename__ = "inspection_result"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    item: Mapped[str] = mapped_column(String(64), primary_key=True)  # the request's business key
    check_key: Mapped[str | None] = mapped_column(String(64))
    technician: Mapped[str | None] = mapped_column(String(64), index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(String(16))
    findings: Mapped[str | None] = mapped_column(Text)
    inspected_by: Mapped[str] = mapped_column(String(64))
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RectificationItem(db.Model):
    """A rectification (R-3.4) as the appraisal and the archive see it: what, where it came
    from, who is responsible and by when. Written by the rectification diagram's first step."""

    __tablename__ = "rectification_item"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    business_key: Mapped[str | None] = mapped_column(String(64))
    problem: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    source_reference: Mapped[str | None] = mapped_column(String(64))
    responsible: Mapped[str] = mapped_column(String(64), index=True)
    deadline: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_by: Mapped[str | None] = mapped_column(String(64))


# --- appraisal, rewards and penalties, training (E-1, E-2, E-3, D-1) -----------------------

class Appraisal(db.Model):
    """One staff member's appraisal for one period (E-1): the facts computed when the round
    began, the supervisor's assessment and score, the staff member's acknowledgement and
    the manager's approval. Written by the appraisal diagram's "Record" steps; the row of a
    finished appraisal is never changed again (corrections are annotations)."""

    __tablename__ = "appraisal"
    __table_args__ = (UniqueConstraint("username", "period_start", name="uq_appraisal_period"),)

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    business_key: Mapped[str | None] = mapped_column(String(64))
    round_key: Mapped[str | None] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    # The period's facts, computed once when the appraisal starts.
    tasks_completed: Mapped[int] = mapped_column(Integer)
    deadlines_due: Mapped[int] = mapped_column(Integer)
    deadlines_met: Mapped[int] = mapped_column(Integer)
    scores: Mapped[int] = mapped_column(Integer)
    average_score: Mapped[float | None] = mapped_column(Float)
    inspections: Mapped[int] = mapped_column(Integer)
    inspections_failed: Mapped[int] = mapped_column(Integer)
    rectifications: Mapped[int] = mapped_column(Integer)
    rectifications_overdue: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The supervisor's review.
    reviewer: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(Integer)
    assessment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The staff member's acknowledgement (None: not yet, or the time to answer ran out).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    staff_comment: Mapped[str | None] = mapped_column(Text)
    # The manager's approval, and the rules' proposal on the approved figures.
    approver: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proposal: Mapped[str | None] = mapped_column(String(32))
    proposal_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)


class Sanction(db.Model):
    """A reward or a penalty (E-2), recorded per person with its reason and evidence, once a
    manager has approved it."""

    __tablename__ = "sanction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "reward" or "penalty"
    measure: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)  # business keys, one per line
    appraisal_id: Mapped[str | None] = mapped_column(
        ForeignKey("appraisal.instance_id", ondelete="SET NULL"), index=True)
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TrainingSession(db.Model):
    """A training session (E-3): topic, when, who trains, who is to attend."""

    __tablename__ = "training_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    skill: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    hours: Mapped[float] = mapped_column(Float)
    location: Mapped[str | None] = mapped_column(String(100))
    trainer: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    attendance: Mapped[list[TrainingAttendance]] = relationship(
        back_populates="session", cascade="all, delete-orphan", lazy="selectin",
        order_by="TrainingAttendance.username")


class TrainingAttendance(db.Model):
    """One invited person at one session: attended or not, and the assessment result, with
    who recorded it and when (null until recorded)."""

    __tablename__ = "training_attendance"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("training_session.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    attended: Mapped[bool | None] = mapped_column(Boolean)
    assessment_score: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    session: Mapped[TrainingSession] = relationship(back_populates="attendance")


class TrainingNeed(db.Model):
    """Training someone must take because an appraisal or a spot check showed a gap (D-1),
    tracked until a session they pass closes it. ``instance_id`` is the tracking process."""

    __tablename__ = "training_need"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    skill: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # "appraisal", "spot_check", "manager"
    source_reference: Mapped[str | None] = mapped_column(String(64))
    due: Mapped[date] = mapped_column(Date)
    raised_by: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    instance_id: Mapped[str | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("training_session.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- archives (A-1, A-2) --------------------------------------------------------------------

class Correction(db.Model):
    """An annotation that corrects a record without changing it (A-2): the record keeps its
    original value; readers show the correction beside it. Append-only: database triggers
    refuse UPDATE and DELETE, as for the audit trail."""

    __tablename__ = "correction"
    __table_args__ = (Index("ix_correction_record", "record_type", "record_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_type: Mapped[str] = mapped_column(String(32))
    record_key: Mapped[str] = mapped_column(String(128))  # composite keys: "<instance id>:<item>"
    # The staff member a personnel record is about (appraisal, sanction, training), so lists
    # can apply ``may_see_staff_record`` in SQL; null for other records.
    subject: Mapped[str | None] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(64))
    original: Mapped[str | None] = mapped_column(Text)
    corrected: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateLimitCounter(db.Model):
    """One fixed-window counter of the sign-in rate limit (:mod:`web.rate_limits`): kept in
    the database so every web process, on every host, counts the same attempts."""

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch, as `limits` counts
