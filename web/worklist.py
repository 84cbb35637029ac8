"""Staff worklist: my tasks, tasks offered to my roles, claiming, reassigning, and the
task page that renders the BPMN form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from engine import Conflict, InvalidTaskData, TaskFilter, TaskView
from forms import apply_engine_errors, build_form_class, form_data, initial_values

from . import authz, owner_tasks, workflow_engine
from .authz import staff_required
from .extensions import db
from .models import Attachment, Role, User, UserRole
from .service_requests import TASK_PRIORITIES, URGENT_FIRST

bp = Blueprint("worklist", __name__, url_prefix="/tasks")
PAGE_SIZE = 25
# Counted exactly up to here; beyond, the page says "> 1000 tasks" (counting 100,000 open
# tasks would cost more than showing them).
COUNT_LIMIT = 1000
SCOPES = ("mine", "offered", "all")


@dataclass(frozen=True)
class SlaClock:
    """How much of a task's SLA window has gone, from the recorded times only."""

    due_at: datetime | None
    seconds_left: float | None
    level: str  # "none", "ok", "half", "late" (75 %), "breached"

    @classmethod
    def of(cls, task: TaskView, now: datetime) -> SlaClock:
        if task.due_at is None:
            return cls(None, None, "none")
        start = task.instance_started_at or task.created_at
        window = (task.due_at - start).total_seconds()
        used = (now - start).total_seconds() / window if window > 0 else 1.0
        level = ("breached" if now >= task.due_at else "late" if used >= 0.75
                 else "half" if used >= 0.5 else "ok")
        return cls(task.due_at, (task.due_at - now).total_seconds(), level)


def _scope_filter(scope: str) -> TaskFilter:
    if scope == "mine":
        return authz.mine_filter(current_user)
    if scope == "offered":
        return authz.offered_filter(current_user)
    if not authz.may_reassign(current_user):
        abort(403)
    return TaskFilter(candidate_groups=tuple(r.value for r in Role))


@bp.get("/")
@staff_required
def index():
    """The worklist: one scope, filtered, soonest due first, paginated."""
    scope = request.args.get("scope", "mine")
    if scope not in SCOPES:
        abort(404)
    base = _scope_filter(scope)
    engine = workflow_engine()
    priority = request.args.get("priority") or None
    overdue = request.args.get("overdue") == "1"
    status = request.args.get("status", "")
    where = TaskFilter(**{**base.__dict__, "priority": priority if priority in TASK_PRIORITIES else None,
                          "process_key": request.args.get("process") or None,
                          "due_before": engine.clock.now() if overdue else None,
                          "unassigned": base.unassigned or status == "unclaimed",
                          "claimed": status == "claimed",
                          "confidential": authz.personnel_scope(current_user)})
    page = max(request.args.get("page", 1, type=int), 1)
    total = engine.count_user_tasks(where, at_most=COUNT_LIMIT)
    tasks = engine.user_tasks(where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                              urgent_first=URGENT_FIRST)
    now = engine.clock.now()
    return render_template(
        "worklist/index.html", tasks=[(t, SlaClock.of(t, now)) for t in tasks], scope=scope,
        page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), total=total,
        more=total > COUNT_LIMIT, count_limit=COUNT_LIMIT,
        priority=priority, overdue=overdue, priorities=TASK_PRIORITIES, status=status,
        processes=engine.definitions(latest_only=True), process=request.args.get("process", ""),
        reminders=owner_tasks.reminders())


def _task_or_404(task_id: str, *, offered: bool = False) -> TaskView:
    """The task, if the user may see it (and its case: personnel records); 404 otherwise
    (not 403: ids are not confirmed). ``offered``: also one offered to the user that
    someone else holds now (claiming it then says who)."""
    try:
        task = workflow_engine().task(task_id)
    except Conflict as exc:  # completed meanwhile: say by whom, as a lost completion does
        abort(_gone(exc))
    _visible_or_404(task, offered=offered)
    return task


def _visible_or_404(task: TaskView, *, offered: bool = False) -> None:
    if not (authz.may_work_on(current_user, task) or authz.may_reassign(current_user)
            or (offered and authz.is_offered(current_user, task))) \
            or not authz.may_see_task(current_user, task):
        abort(404)


def _gone(exc: Conflict) -> Response:
    """409: the task is no longer open, and why (who completed it, and when)."""
    return make_response(render_template("worklist/gone.html", message=str(exc)), 409)


@bp.route("/<task_id>", methods=["GET", "POST"])
@staff_required
def task(task_id: str):
    """Show a task's form beside its case; on POST complete it (422 with field errors)."""
    if request.method == "POST":
        return _complete(task_id)
    task = _task_or_404(task_id)
    form = build_form_class(task.form)(None, data=initial_values(task.form, task.data))
    return render_template("worklist/task.html", task=task, form=form, **_context(task))


class _FormRefused(Exception):
    """The posted form has field errors: nothing was completed."""


def _complete(task_id: str):
    """Complete the task with the posted form in one engine command: the task is read, the
    user's right to it checked and the form validated in the transaction that completes
    it, so the check and the completion see the same task and no read goes before."""
    posted: dict = {}

    def prepare(task: TaskView) -> dict:
        posted["task"] = task
        _visible_or_404(task)
        if not authz.may_work_on(current_user, task):
            abort(403)
        form = posted["form"] = build_form_class(task.form)(request.form)
        if not form.validate():
            raise _FormRefused
        return form_data(form, task.form)

    try:
        workflow_engine().complete_user_task(task_id, user=current_user.username, prepare=prepare)
    except _FormRefused:
        pass
    except InvalidTaskData as exc:
        apply_engine_errors(posted["form"], exc.errors)
    except Conflict as exc:
        if "task" in posted:  # lost to another command after reading the task
            flash(str(exc), "error")
        return _gone(exc)
    else:
        flash(_("Done: %(name)s", name=posted["task"].name), "success")
        return redirect(url_for("worklist.index"))
    task = posted["task"]
    return render_template("worklist/task.html", task=task, form=posted["form"], **_context(task)), 422


def _context(task: TaskView) -> dict:
    engine = workflow_engine()
    history = [entry for entry in engine.history(task.instance_id)
               if entry.action.value in ("started", "task_completed", "deadline_breached")]
    photos = db.session.scalars(select(Attachment).where(
        Attachment.instance_id == task.instance_id).order_by(Attachment.uploaded_at)).all()
    start_form = engine.start_form(task.process_key)
    reassign = authz.may_reassign_task(current_user, task)
    return {"variables": task.data or {}, "history": history, "photos": photos,
            "start_fields": start_form.fields if start_form else (),
            "clock": SlaClock.of(task, engine.clock.now()),
            "may_work": authz.may_work_on(current_user, task),
            "may_reassign": reassign, "assignable": _assignable(task) if reassign else []}


def _assignable(task: TaskView) -> list[User]:
    """People a supervisor may hand the task to: holders of its groups (and skill) who may
    see its case (personnel records)."""
    users = db.session.scalars(select(User).join(UserRole).where(
        UserRole.role.in_(task.candidate_groups), User.active.is_(True)).order_by(User.username)).unique()
    return [u for u in users if (task.skill is None or not u.has_role(Role.TECHNICIAN)
                                 or task.skill in u.skills) and authz.may_see_task(u, task)]


@bp.post("/<task_id>/claim")
@staff_required
def claim(task_id: str):
    task = _task_or_404(task_id, offered=True)
    if not authz.is_offered(current_user, task):
        abort(403)
    if task.assignee not in (None, current_user.username):  # who holds it is not theirs to know
        flash(_("Someone else has claimed this task."), "error")
        return redirect(url_for("worklist.index", scope="offered")), 303
    try:
        workflow_engine().claim(task_id, user=current_user.username)
    except Conflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("worklist.index", scope="offered")), 303
    return redirect(url_for("worklist.task", task_id=task_id)), 303


@bp.post("/<task_id>/unclaim")
@staff_required
def unclaim(task_id: str):
    """Give a task back: one's own, or (a supervisor) anyone's — if it is still held by
    whom this request saw holding it when the change is written."""
    task = _task_or_404(task_id)
    if task.assignee != current_user.username and not authz.may_reassign_task(current_user, task):
        abort(403)
    try:
        workflow_engine().unclaim(task_id, user=current_user.username, expected_assignee=task.assignee)
    except Conflict as exc:
        flash(str(exc), "error")
    return redirect(url_for("worklist.index")), 303


@bp.post("/<task_id>/assign")
@staff_required
def assign(task_id: str):
    """A supervisor hands the task to someone who may do it."""
    if not authz.may_reassign(current_user):
        abort(403)
    task = _task_or_404(task_id)
    if not authz.may_reassign_task(current_user, task):
        abort(403)
    username = request.form.get("assignee", "")
    if username not in {u.username for u in _assignable(task)}:
        flash(_("%(user)s cannot take this task.", user=username), "error")
        return redirect(url_for("worklist.task", task_id=task_id)), 303
    # Who held it when the supervisor chose (the form says), else when this request read it.
    seen = (request.form["seen"] or None) if "seen" in request.form else task.assignee
    try:
        workflow_engine().assign(task_id, username, by=current_user.username, expected_assignee=seen)
    except Conflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("worklist.task", task_id=task_id)), 303
    flash(_("Assigned to %(user)s.", user=username), "success")
    return redirect(url_for("worklist.task", task_id=task_id)), 303
