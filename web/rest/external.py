"""External tasks and messages, as Camunda 7's REST API has them: integrations (SMS or
messaging notices to owners, a phone system) are ordinary Camunda external-task workers
polling ``fetchAndLock``, and other systems signal waiting cases with ``POST /message``.

Workers sign in with an account that has the *integration* role (or an administrator's).
Personnel records are not handed to a worker that may not see them
(:func:`web.authz.personnel_scope`): their tasks are neither fetched, listed nor shown to it,
and its messages do not reach them — as if they did not exist. Nor does anyone's message
reach a record about themselves (:func:`web.authz.signal_scope`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, jsonify

from engine import ExternalTaskView, LockedByAnotherWorker, MessageNotCorrelated, TaskNotFound, TopicRequest

from .. import authz, workflow_engine
from ..models import Role, User
from . import bp, params
from .auth import rest_user
from .errors import RestError, forbidden, invalid, translated
from .variables import format_date, parse_variables, typed_map

WORKERS = (Role.INTEGRATION, Role.ADMIN)
MAX_TASKS = 100
MAX_WAIT_MS = 366 * 24 * 3600 * 1000  # a lock or a retry wait: at most a year


def _worker() -> str:
    user = rest_user()
    if not user.has_role(*WORKERS):
        raise forbidden(user.username, "UPDATE", "ExternalTask")
    return user.username


def _visible(task_id: str, context: str) -> ExternalTaskView:
    """The external task, if the caller may see its case (personnel records).

    :raise RestError: 404 when there is no such task or it is someone's record they may not see.
    """
    with translated(context):
        task = workflow_engine().external_task(task_id)
        if not authz.may_see_instance(rest_user(), task.process_key, task.variables):
            raise TaskNotFound(f"no external task '{task_id}'")
    return task


def _scope(user: User | None = None):
    return authz.personnel_scope(user or rest_user())


def _text(body: dict, name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{name}' must be a non-empty string")
    return value


def _whole(body: dict, name: str, default: int | None = None, minimum: int = 0,
           maximum: int = params.INTEGER_MAX) -> int | None:
    """A whole number field; missing or null is ``default`` (None: the field is required)."""
    value = body.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise invalid(f"'{name}' must be a whole number from {minimum} to {maximum}")
    return value


def _topics(body: dict) -> list[TopicRequest]:
    raw = body.get("topics")
    if not isinstance(raw, list) or not raw:
        raise invalid("'topics' must be a non-empty list of {topicName, lockDuration}")
    topics = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise invalid("each topic must be an object with topicName and lockDuration")
        topics.append(TopicRequest(
            _text(entry, "topicName"), _whole(entry, "lockDuration", minimum=1, maximum=MAX_WAIT_MS),
            process_definition_key=_text(entry, "processDefinitionKey", required=False),
            business_key=_text(entry, "businessKey", required=False)))
        wanted = entry.get("variables")
        names_ok = isinstance(wanted, list) and all(isinstance(v, str) for v in wanted)
        if wanted is not None and not names_ok:
            raise invalid("a topic's 'variables' must be a list of variable names")
    return topics


def _dto(task: ExternalTaskView, names=None) -> dict:
    """Camunda's (Locked)ExternalTaskDto."""
    body = {
        "activityId": task.element_id, "activityInstanceId": f"{task.element_id}:{task.id}",
        "errorMessage": task.error_message, "errorDetails": task.error_details,
        "executionId": task.id, "id": task.id, "lockExpirationTime": format_date(task.lock_expires_at),
        "createTime": format_date(task.created_at),
        "processDefinitionId": task.definition_id, "processDefinitionKey": task.process_key,
        "processDefinitionVersionTag": None, "processInstanceId": task.instance_id,
        "retries": task.retries, "suspended": False, "workerId": task.worker_id,
        "topicName": task.topic, "tenantId": None, "priority": task.priority,
        "businessKey": task.business_key, "extensionProperties": {},
    }
    if names is not False:
        body["variables"] = typed_map(task.variables, names=names)
    return body


@contextmanager
def _worker_lock(task_id: str) -> Iterator[None]:
    """Camunda answers 400 when the task's most recent lock is another worker's."""
    try:
        yield
    except LockedByAnotherWorker as exc:
        raise RestError(400, f"External task {task_id}: {exc}", "BadUserRequestException") from exc


@contextmanager
def _uncorrelated(name: str) -> Iterator[None]:
    try:
        yield
    except MessageNotCorrelated as exc:
        raise RestError(400, f"Cannot correlate message '{name}': {exc}", "RestException") from exc


@bp.post("/external-task/fetchAndLock")
def fetch_and_lock():
    body = params.json_body()
    worker = _text(body, "workerId")
    _worker()
    most = _whole(body, "maxTasks", default=10, minimum=0)
    topics = _topics(body)
    wanted = {t["topicName"]: t.get("variables") for t in body["topics"]}
    locked = workflow_engine().fetch_and_lock(worker, topics, max_tasks=min(most, MAX_TASKS),
                                              confidential=_scope())
    return jsonify([_dto(task, wanted.get(task.topic)) for task in locked])


def _listed() -> list[ExternalTaskView]:
    locked = True if params.boolean("locked") else False if params.boolean("notLocked") else None
    return workflow_engine().external_tasks(
        topic=params.text("topicName"), instance_id=params.text("processInstanceId"),
        worker_id=params.text("workerId"), locked=locked, limit=10_000, confidential=_scope())


@bp.get("/external-task")
def list_external_tasks():
    _worker()
    first, most = params.paging()
    return jsonify([_dto(task, False) for task in params.page(_listed(), first, most)])


@bp.get("/external-task/count")
def count_external_tasks():
    _worker()
    return params.count(len(_listed()))


@bp.get("/external-task/<task_id>")
def get_external_task(task_id: str):
    _worker()
    return jsonify(_dto(_visible(task_id, f"External task with id {task_id} does not exist"), False))


@bp.post("/external-task/<task_id>/complete")
def complete_external_task(task_id: str):
    body = params.json_body()
    worker = _text(body, "workerId")
    user = _worker()
    variables = {**parse_variables(body.get("variables"), f"Cannot complete external task {task_id}"),
                 **parse_variables(body.get("localVariables"), f"Cannot complete external task {task_id}")}
    _visible(task_id, f"Cannot complete external task {task_id}")
    with translated(f"Cannot complete external task {task_id}"), _worker_lock(task_id):
        workflow_engine().complete_external_task(task_id, worker, variables, user=user)
    return Response(status=204)


@bp.post("/external-task/<task_id>/failure")
def external_task_failure(task_id: str):
    body = params.json_body()
    worker = _text(body, "workerId")
    user = _worker()
    message = body.get("errorMessage") or ""
    details = body.get("errorDetails") or ""
    if not isinstance(message, str) or not isinstance(details, str):
        raise invalid("'errorMessage' and 'errorDetails' must be strings")
    _visible(task_id, f"Cannot report a failure of external task {task_id}")
    with translated(f"Cannot report a failure of external task {task_id}"), _worker_lock(task_id):
        workflow_engine().fail_external_task(
            task_id, worker, message=message, details=details, retries=_whole(body, "retries", default=0),
            retry_timeout_ms=_whole(body, "retryTimeout", default=0, maximum=MAX_WAIT_MS), user=user)
    return Response(status=204)


@bp.post("/external-task/<task_id>/bpmnError")
def external_task_bpmn_error(task_id: str):
    body = params.json_body()
    worker = _text(body, "workerId")
    user = _worker()
    variables = parse_variables(body.get("variables"), f"Cannot throw a BPMN error for {task_id}")
    _visible(task_id, f"Cannot throw a BPMN error for external task {task_id}")
    with translated(f"Cannot throw a BPMN error for external task {task_id}"), _worker_lock(task_id):
        workflow_engine().throw_bpmn_error(task_id, worker, _text(body, "errorCode"),
                                           message=str(body.get("errorMessage") or ""),
                                           variables=variables, user=user)
    return Response(status=204)


@bp.post("/message")
def correlate_message():
    """Deliver a message to waiting cases, or start the process it starts."""
    body = params.json_body()
    name = _text(body, "messageName")
    user = rest_user()
    if not user.is_staff:
        raise forbidden(user.username, "UPDATE_INSTANCE", "ProcessInstance")
    variables = parse_variables(body.get("processVariables"), f"Cannot correlate message '{name}'")
    if body.get("correlationKeys") or body.get("localCorrelationKeys"):
        raise invalid("correlationKeys are not supported: correlate by businessKey or processInstanceId")
    with translated(f"Cannot correlate message '{name}'"), _uncorrelated(name):
        found = workflow_engine().correlate_message(
            name, business_key=_text(body, "businessKey", required=False),
            instance_id=_text(body, "processInstanceId", required=False), variables=variables,
            all_matches=bool(body.get("all")), user=user.username, confidential=authz.signal_scope(user),
            starter_groups=None if user.has_role(Role.ADMIN) else [role.value for role in user.roles])
    if not body.get("resultEnabled"):
        return Response(status=204)
    return jsonify([{
        "resultType": "ProcessDefinition" if item.started else "Execution",
        "execution": None if item.started else {"id": item.instance_id, "processInstanceId": item.instance_id,
                                                "ended": False, "tenantId": None},
        "processInstance": {"id": item.instance_id, "definitionId": None, "businessKey": None,
                            "caseInstanceId": None, "ended": False, "suspended": False, "tenantId": None,
                            "links": []} if item.started else None,
        "variables": None,
    } for item in found])
