"""Who may see and do what. Views ask these functions; templates never decide access.

Candidate groups in the diagrams are role names, so a task is offered to a user when one
of its groups is one of the user's roles — and, for tasks that name a skill
(``propflow.skill``), only to technicians who have it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import TaskFilter, TaskView
from engine.views import Confidential

from .extensions import db
from .models import Role, User, UserRole

SUPERVISING = (Role.SERVICE_SUPERVISOR, Role.ADMIN)
READ_ALL_CASES = (Role.SERVICE_SUPERVISOR, Role.CUSTOMER_SERVICE, Role.QUALITY_REVIEWER,
                  Role.MANAGER, Role.ADMIN)
# Processes about one staff member (their appraisal, their training): personnel records,
# shown only to whom ``may_see_staff_record`` allows, whatever page or API asks.
PERSONNEL_PROCESSES = frozenset({"appraisal_round", "appraisal", "training_need"})
# The staff a service supervisor supervises.
SUPERVISED = (Role.TECHNICIAN, Role.CUSTOMER_SERVICE)
# The process variable naming whom a personnel instance is about (set when it starts).
STAFF_VARIABLE = "staff"


def roles_required(*roles: Role) -> Callable:
    """View decorator: log in first, then 403 unless the user has one of ``roles``."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def staff_required(view: Callable) -> Callable:
    return roles_required(*(r for r in Role if r is not Role.OWNER))(view)


def offered_filter(user: User) -> TaskFilter:
    """Tasks offered to the user's roles (and skills) that nobody has claimed."""
    return TaskFilter(candidate_groups=tuple(r.value for r in user.roles),
                      skills=_skills(user), unassigned=True)


def mine_filter(user: User) -> TaskFilter:
    return TaskFilter(assignee=user.username)


def _skills(user: User) -> tuple[str, ...] | None:
    # Skills narrow only technicians' work; a supervisor sees every task of their groups.
    if user.has_role(Role.TECHNICIAN) and not user.has_role(*SUPERVISING):
        return user.skills
    return None


def may_work_on(user: User, task: TaskView) -> bool:
    """Complete, or claim, this task: assigned to the user, or offered to them."""
    if task.assignee is not None:
        return task.assignee == user.username
    return is_offered(user, task)


def is_offered(user: User, task: TaskView) -> bool:
    groups = {r.value for r in user.roles}
    offered = bool(groups & set(task.candidate_groups)) or user.username in task.candidate_users
    skills = _skills(user)
    return offered and (skills is None or task.skill is None or task.skill in skills)


def may_reassign(user: User) -> bool:
    return user.has_role(*SUPERVISING)


def may_reassign_task(user: User, task: TaskView) -> bool:
    """Hand ``task`` to someone or take it from its assignee: a supervisor, except on a
    personnel record about themselves (nobody chooses who reviews them)."""
    about_them = (task.process_key in PERSONNEL_PROCESSES
                  and (task.data or {}).get(STAFF_VARIABLE) == user.username)
    return may_reassign(user) and not about_them


def may_see_case(user: User, owner_id: str | None, open_tasks: tuple[TaskView, ...]) -> bool:
    """Owners see their own requests only; staff the cases they have work on; the office all."""
    if user.has_role(*READ_ALL_CASES):
        return True
    if owner_id is not None and owner_id == user.username:
        return True
    if not user.is_staff:
        return False  # the owners' group is on every acceptance task: it gives no access
    return any(t.assignee == user.username or (t.assignee is None and is_offered(user, t))
               for t in open_tasks)


def may_see_staff_record(viewer: User, subject: User | None) -> bool:
    """A staff member's appraisals, rewards and penalties and training: visible to the person,
    to managers, and to service supervisors for the technicians and customer service staff
    they supervise (not for other supervisors or managers)."""
    if viewer.has_role(Role.MANAGER):
        return True
    if subject is None:
        return False
    if viewer.id == subject.id:
        return True
    return (viewer.has_role(Role.SERVICE_SUPERVISOR) and subject.has_role(*SUPERVISED)
            and not subject.has_role(Role.SERVICE_SUPERVISOR, Role.MANAGER))


def visible_staff(viewer: User) -> frozenset[str] | None:
    """The usernames whose records ``viewer`` may see; None for everyone's (managers).
    :func:`may_see_staff_record` decides, over the only people it can allow: the viewer
    and, for a supervisor, the holders of the supervised roles."""
    if viewer.has_role(Role.MANAGER):
        return None
    people = [viewer]
    if viewer.has_role(Role.SERVICE_SUPERVISOR):
        people += db.session.scalars(select(User).join(UserRole).where(
            UserRole.role.in_([r.value for r in SUPERVISED]))).unique()
    return frozenset(p.username for p in people if may_see_staff_record(viewer, p))


def personnel_scope(viewer: User) -> Confidential | None:
    """The personnel instances ``viewer`` may see, for a listing's filter (None: all of
    them): those whose ``staff`` is someone whose records they may see. An instance
    without ``staff`` (the appraisal round, about everyone) is for managers only."""
    allowed = visible_staff(viewer)
    if allowed is None:
        return None
    return Confidential(PERSONNEL_PROCESSES, STAFF_VARIABLE, allowed)


def signal_scope(sender: User) -> Confidential:
    """The personnel instances a message from ``sender`` may reach: those they may see
    (:func:`personnel_scope`) except their own — nobody closes their own training need or
    moves their own appraisal on by signalling it."""
    allowed = visible_staff(sender)
    if allowed is None:
        allowed = frozenset(db.session.scalars(select(User.username)))
    return Confidential(PERSONNEL_PROCESSES, STAFF_VARIABLE, allowed - {sender.username})


def may_see_instance(viewer: User, process_key: str, variables: Mapping[str, Any] | None) -> bool:
    """Whether ``viewer`` may see an instance's tasks, data and history as far as personnel
    records go (other rules, such as :func:`may_see_case`, still apply): an instance of a
    personnel process only per :func:`may_see_staff_record` for its ``staff``."""
    if process_key not in PERSONNEL_PROCESSES:
        return True
    staff = (variables or {}).get(STAFF_VARIABLE)
    subject = (db.session.scalar(select(User).where(User.username == staff))
               if isinstance(staff, str) and staff else None)
    return may_see_staff_record(viewer, subject)


def may_see_task(viewer: User, task: TaskView) -> bool:
    """A task's case is visible to ``viewer`` (personnel records); a task read without its
    data counts as one about nobody — managers only, for personnel processes."""
    return may_see_instance(viewer, task.process_key, task.data)
