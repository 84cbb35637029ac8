"""The web layer's tables: people, their roles and skills, uploaded photos, and the facts
the analysis counts (cases, scores, feedback).

Roles are also the candidate groups of the BPMN user tasks (``camunda:candidateGroups``),
so a task offered to ``customer_service`` is offered to every user with that role.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
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
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
