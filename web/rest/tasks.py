"""``/task``: open user tasks, their form variables, claiming and completing them.

Each person sees and works on the tasks the worklist would give them
(:func:`.auth.task_scope`); supervisors see all, as on the worklist's "all" scope. A task
someone may not see is a 404, like an unknown one. Completing validates the form's
constraints: a bad or missing field is a 400 naming it, and nothing is stored. A task
completed or claimed by someone else meanwhile is a 409 (Camunda answers 500 there).
"""

from __future__ import annotations

from dataclasses import replace

from flask import jsonify
from sqlalchemy import select

from engine import Conflict, TaskFilter, TaskNotFound, TaskView, listings
from engine.views import TaskSearch

from .. import authz, workflow_engine
from ..extensions import db
from ..models import User
from . import bp
from .auth import may_see_task, may_work_on_task, rest_user, task_scope
from .errors import RestError, forbidden, invalid, not_found, translated
from .params import boolean, count, date, json_body, paging, sorting, text, text_list
from .variables import format_date, parse_variables, typed_map

# Camunda's task priority is a number (default 50); ours is the case's priority name.
PRIORITIES = {"emergency": 100, "urgent": 90, "high": 75, "normal": 50, "low": 25}
DEFAULT_PRIORITY = 50
SORT_KEYS = {"id": "id", "name": "name", "nameCaseInsensitive": "name", "created": "created",
             "dueDate": "due", "assignee": "assignee", "priority": "priority", "instanceId": "instance_id",
             "executionId": "instance_id", "processDefinitionId": "definition_id",
             "lastUpdated": None, "followUpDate": None, "caseInstanceId": None, "caseExecutionId": None}


def task_dto(task: TaskView) -> dict:
    """Camunda's TaskDto (7.20). Propflow has no sub-tasks, delegation, follow-up dates,
    form keys, cases or tenants: those fields are null."""
    return {"id": task.id, "name": task.name, "assignee": task.assignee, "owner": None,
            "created": format_date(task.created_at), "lastUpdated": None, "due": format_date(task.due_at),
            "followUp": None, "delegationState": None, "description": task.documentation or None,
            "executionId": task.instance_id, "parentTaskId": None,
            "priority": PRIORITIES.get(task.priority or "", DEFAULT_PRIORITY),
            "processDefinitionId": task.definition_id, "processInstanceId": task.instance_id,
            "taskDefinitionKey": task.element_id, "caseExecutionId": None, "caseInstanceId": None,
            "caseDefinitionId": None, "suspended": False, "formKey": None, "camundaFormRef": None,
            "tenantId": None}


# --- listing ---------------------------------------------------------------------------------

def _offered_to(username: str, include_assigned: bool) -> TaskFilter:
    """Tasks offered to ``username`` through their roles, skills or name (Camunda's
    ``candidateUser``); nobody's when the account does not exist."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        return TaskFilter(candidate_user=username, unassigned=not include_assigned)
    return replace(authz.offered_filter(user), candidate_user=username, unassigned=not include_assigned)


def _where() -> TaskFilter:
    include_assigned = bool(boolean("includeAssignedTasks"))
    group, user = text("candidateGroup"), text("candidateUser")
    groups = text_list("candidateGroups")
    if user is not None and (group is not None or groups is not None):
        raise invalid("Invalid query usage: cannot set both candidateUser and candidateGroup")
    where = _offered_to(user, include_assigned) if user is not None else TaskFilter()
    if group is not None or groups is not None:
        where = TaskFilter(candidate_groups=tuple(groups or ()) + ((group,) if group else ()),
                           unassigned=not include_assigned)
    return replace(where, instance_id=text("processInstanceId"), process_key=text("processDefinitionKey"),
                   assignee=text("assignee"), unassigned=where.unassigned or bool(boolean("unassigned")),
                   claimed=bool(boolean("assigned")), due_before=date("dueBefore"))


def _search() -> TaskSearch:
    user = rest_user()
    return TaskSearch(
        where=replace(_where(), confidential=authz.personnel_scope(user)), any_of=task_scope(user),
        business_key=text("processInstanceBusinessKey"),
        business_key_like=text("processInstanceBusinessKeyLike"), definition_id=text("processDefinitionId"),
        element_id=text("taskDefinitionKey"), name=text("name"), name_like=text("nameLike"),
        created_after=date("createdAfter"), created_before=date("createdBefore"), due_after=date("dueAfter"))


@bp.get("/task")
def list_tasks():
    """Open tasks the caller may see, filtered, sorted and paged."""
    first, most = paging()
    sort = sorting(SORT_KEYS)
    found = listings.tasks(workflow_engine(), _search(), sort=sort, offset=first, limit=most,
                           priority_rank=PRIORITIES, default_rank=DEFAULT_PRIORITY)
    return jsonify([task_dto(t) for t in found])


@bp.get("/task/count")
def count_tasks():
    return count(listings.count_tasks(workflow_engine(), _search()))


# --- one task --------------------------------------------------------------------------------

def visible_task(task_id: str, context: str | None = None, *, offered: bool = False) -> TaskView:
    """The open task, if the caller may see it (``offered``: also one offered to the caller
    that someone else holds now — claiming it then answers 409, not 404).

    :raise RestError: 404 unknown or not theirs to see; 409 completed or cancelled meanwhile.
    """
    try:
        task = workflow_engine().task(task_id)
    except TaskNotFound:
        task = None
    except Conflict as exc:
        raise RestError(409, f"{context or f'Cannot find task {task_id}'}: {exc}") from None
    if task is None:
        raise not_found(f"No matching task with id {task_id}")
    _visible_or_404(rest_user(), task, offered=offered)
    return task


def _visible_or_404(user, task: TaskView, *, offered: bool = False) -> None:
    if not (may_see_task(user, task) or (offered and _candidate(user, task))):
        raise not_found(f"No matching task with id {task.id}")


def _candidate(user, task: TaskView) -> bool:
    """Staff the task is offered to (whoever holds it now), who may see its case."""
    return user.is_staff and authz.is_offered(user, task) and authz.may_see_task(user, task)


def _hints(task: TaskView) -> dict[str, str]:
    return {f.id: f.type for f in task.form.fields}


@bp.get("/task/<task_id>")
def get_task(task_id: str):
    return jsonify(task_dto(visible_task(task_id)))


@bp.get("/task/<task_id>/form-variables")
def form_variables(task_id: str):
    """The form's fields with their current values (or defaults), typed as the form
    declares them; ``variableNames`` picks some."""
    task = visible_task(task_id)
    data = task.data or {}
    values = {f.id: data.get(f.id, f.default) for f in task.form.fields}
    return jsonify(typed_map(values, _hints(task), text_list("variableNames")))


@bp.get("/task/<task_id>/variables")
def task_variables(task_id: str):
    """Every variable the task sees, typed."""
    task = visible_task(task_id)
    return jsonify(typed_map(task.data or {}, _hints(task), text_list("variableNames")))


@bp.post("/task/<task_id>/claim")
def claim(task_id: str):
    """``{"userId"}``: claim it for oneself (an offered task), or — a supervisor — for
    someone it is offered to. 409 TaskAlreadyClaimedException if someone else holds it."""
    user = rest_user()
    task = visible_task(task_id, f"Cannot claim task {task_id}", offered=True)
    target = json_body().get("userId")
    if not isinstance(target, str) or not target:
        raise invalid(f"Cannot claim task {task_id}: userId is required")
    if task.assignee not in (None, target):
        raise RestError(409, f"Task '{task_id}' is already claimed by someone else.",
                        "TaskAlreadyClaimedException", code=0)
    engine = workflow_engine()
    if target == user.username:
        if not (user.is_staff and authz.is_offered(user, task)):
            raise forbidden(user.username, "TASK_WORK", "Task", task_id)
        with translated(f"Cannot claim task {task_id}"):
            engine.claim(task_id, user=target)
        return "", 204
    if not authz.may_reassign_task(user, task):
        raise forbidden(user.username, "TASK_ASSIGN", "Task", task_id)
    other = db.session.scalar(select(User).where(User.username == target, User.active.is_(True)))
    if other is None or not authz.is_offered(other, task) or not authz.may_see_task(other, task):
        raise invalid(f"Cannot claim task {task_id}: it is not offered to '{target}'")
    with translated(f"Cannot claim task {task_id}"):
        engine.claim(task_id, user=target, by=user.username)  # refused if someone claimed it meanwhile
    return "", 204


@bp.post("/task/<task_id>/unclaim")
def unclaim(task_id: str):
    """Give it back: the assignee, or a supervisor."""
    user = rest_user()
    task = visible_task(task_id, f"Cannot unclaim task {task_id}")
    if not user.is_staff or (task.assignee != user.username and not authz.may_reassign_task(user, task)):
        raise forbidden(user.username, "TASK_ASSIGN", "Task", task_id)
    with translated(f"Cannot unclaim task {task_id}"):
        workflow_engine().unclaim(task_id, user=user.username, expected_assignee=task.assignee)
    return "", 204


def _complete(task_id: str, action: str):
    """The task is read, the caller's right to it checked and the body parsed inside the
    command that completes it (one transaction, no read before it); the answers are those
    of a read first: 404 not theirs to see, 403 not theirs to do, 400 a bad body."""
    user = rest_user()
    context = f"Cannot {action} task {task_id}"
    seen: dict = {}

    def prepare(task: TaskView) -> dict:
        _visible_or_404(user, task)
        if not may_work_on_task(user, task):
            raise forbidden(user.username, "TASK_WORK", "Task", task_id)
        seen["body"], seen["hints"] = json_body(), _hints(task)
        return parse_variables(seen["body"].get("variables"), context, seen["hints"])

    with translated(context):
        try:
            instance = workflow_engine().complete_user_task(task_id, user=user.username, prepare=prepare)
        except TaskNotFound:
            raise not_found(f"No matching task with id {task_id}") from None
    if seen["body"].get("withVariablesInReturn") is True:
        return jsonify(typed_map(instance.variables, seen["hints"]))
    return "", 204


@bp.post("/task/<task_id>/complete")
def complete(task_id: str):
    """Complete with ``{"variables": {…}}``, validated against the task's form: 204, or
    200 with the case's variables when ``withVariablesInReturn``."""
    return _complete(task_id, "complete")


@bp.post("/task/<task_id>/submit-form")
def submit_form(task_id: str):
    """As complete: the form's fields, validated the same way."""
    return _complete(task_id, "submit form of")
