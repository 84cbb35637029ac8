"""``/history``: every instance, running or ended, and the activities each went
through — read off the audit trail, so gateways and sequence flows (never audited) are not
listed, an automatic step starts and ends at the moment it finished, and a timer at the
moment it fired. Visibility is the instances' (:func:`.auth.instance_scope`).
"""

from __future__ import annotations

from flask import jsonify

from engine import InstanceStatus, listings
from engine.views import ActivityRecord, InstanceFilter, InstanceRecord

from .. import authz, workflow_engine
from . import bp
from .auth import instance_scope, rest_user
from .errors import not_found
from .params import boolean, count, date, like, page, paging, sorting, text, text_list
from .variables import format_date

INSTANCE_SORT = {"instanceId": "id", "definitionId": "definition_id", "definitionKey": "process_key",
                 "definitionName": "process_name", "definitionVersion": "process_version",
                 "businessKey": "business_key", "startTime": "started_at", "endTime": "ended_at",
                 "duration": "duration", "tenantId": None}
ACTIVITY_SORT = {"activityInstanceId": "id", "instanceId": "instance_id", "executionId": "instance_id",
                 "activityId": "element_id", "activityName": "element_name", "activityType": "type",
                 "startTime": "started_at", "endTime": "ended_at", "duration": "duration",
                 "definitionId": "definition_id", "occurrence": "order", "tenantId": None}
STATES = {InstanceStatus.RUNNING: "ACTIVE", InstanceStatus.COMPLETED: "COMPLETED",
          InstanceStatus.CANCELLED: "EXTERNALLY_TERMINATED"}
# Which statuses each of Camunda's state flags keeps; several flags keep what all keep.
_STATE_FLAGS = {"finished": {InstanceStatus.COMPLETED, InstanceStatus.CANCELLED},
                "unfinished": {InstanceStatus.RUNNING}, "active": {InstanceStatus.RUNNING},
                "completed": {InstanceStatus.COMPLETED}, "externallyTerminated": {InstanceStatus.CANCELLED},
                "suspended": set(), "internallyTerminated": set()}


def _millis(start, end) -> int | None:
    return int((end - start).total_seconds() * 1000) if start is not None and end is not None else None


def historic_instance_dto(record: InstanceRecord) -> dict:
    """Camunda's HistoricProcessInstanceDto."""
    return {"id": record.id, "rootProcessInstanceId": record.id, "superProcessInstanceId": None,
            "superCaseInstanceId": None, "caseInstanceId": None, "processDefinitionName": record.process_name,
            "processDefinitionKey": record.process_key, "processDefinitionVersion": record.process_version,
            "processDefinitionId": record.definition_id, "businessKey": record.business_key,
            "startTime": format_date(record.started_at), "endTime": format_date(record.ended_at),
            "removalTime": None, "durationInMillis": _millis(record.started_at, record.ended_at),
            "startUserId": record.started_by, "startActivityId": record.start_element_id,
            "deleteReason": record.cancel_reason, "tenantId": None, "state": STATES[record.status]}


def _instance_filter() -> InstanceFilter | None:
    """The query's criteria; None when they match nothing (tenants, contradicting flags)."""
    statuses = set(InstanceStatus)
    for flag, kept in _STATE_FLAGS.items():
        if boolean(flag):
            statuses &= kept
    if not statuses or text_list("tenantIdIn"):
        return None
    ids = text_list("processInstanceIds")
    one = text("processInstanceId")
    if one is not None:
        ids = (one,) if ids is None or one in ids else ()
    keys = text_list("processDefinitionKeyIn")
    key = text("processDefinitionKey")
    if key is not None:
        keys = (key,) if keys is None or key in keys else ()
    return InstanceFilter(
        ids=ids, definition_id=text("processDefinitionId"), process_keys=keys,
        business_key=text("processInstanceBusinessKey"),
        business_key_like=text("processInstanceBusinessKeyLike"),
        statuses=tuple(sorted(statuses)) if statuses != set(InstanceStatus) else None,
        started_by=text("startedBy"), started_after=date("startedAfter"),
        started_before=date("startedBefore"),
        ended_after=date("finishedAfter"), ended_before=date("finishedBefore"),
        visible=instance_scope(rest_user()), confidential=authz.personnel_scope(rest_user()))


@bp.get("/history/process-instance")
def list_historic_instances():
    """Instances, running and ended, the caller may see; filtered, sorted and paged."""
    first, most = paging()
    sort = sorting(INSTANCE_SORT)
    where = _instance_filter()
    if where is None:
        return jsonify([])
    found = listings.instances(workflow_engine(), where, sort=sort, offset=first, limit=most)
    return jsonify([historic_instance_dto(r) for r in found])


@bp.get("/history/process-instance/count")
def count_historic_instances():
    where = _instance_filter()
    return count(listings.count_instances(workflow_engine(), where) if where is not None else 0)


@bp.get("/history/process-instance/<instance_id>")
def get_historic_instance(instance_id: str):
    user = rest_user()
    found = listings.instances(workflow_engine(), InstanceFilter(
        ids=(instance_id,), visible=instance_scope(user), confidential=authz.personnel_scope(user)))
    if not found:
        raise not_found(f"Historic process instance with id {instance_id} does not exist")
    return jsonify(historic_instance_dto(found[0]))


# --- activities --------------------------------------------------------------------------------

def activity_type(record: ActivityRecord) -> str:
    """Camunda's activity type names: the BPMN tag, with its own names for none end
    events, timers and throw events."""
    kind = record.kind
    if kind == "endEvent":
        return "noneEndEvent"
    if kind == "boundaryEvent" and record.timer:
        return "boundaryTimer"
    if kind == "intermediateCatchEvent" and record.timer:
        return "intermediateTimer"
    if kind == "intermediateThrowEvent":
        return "intermediateNoneThrowEvent"
    return kind


def activity_dto(record: ActivityRecord) -> dict:
    """Camunda's HistoricActivityInstanceDto."""
    return {"id": record.id, "parentActivityInstanceId": record.instance_id, "activityId": record.element_id,
            "activityName": record.element_name, "activityType": activity_type(record),
            "processDefinitionKey": record.process_key, "processDefinitionId": record.definition_id,
            "processInstanceId": record.instance_id, "executionId": record.instance_id,
            "taskId": record.task_id, "assignee": record.assignee, "calledProcessInstanceId": None,
            "calledCaseInstanceId": None, "startTime": format_date(record.started_at),
            "endTime": format_date(record.ended_at),
            "durationInMillis": _millis(record.started_at, record.ended_at),
            "canceled": record.canceled, "completeScope": record.kind == "endEvent", "tenantId": None,
            "removalTime": None, "rootProcessInstanceId": record.instance_id}


def _activity_checks() -> list:
    """(value, check) for each criterion given."""
    criteria = (
        (text("activityInstanceId"), lambda v, a: a.id == v),
        (text("executionId"), lambda v, a: a.instance_id == v),
        (text("activityId"), lambda v, a: a.element_id == v),
        (text("activityName"), lambda v, a: a.element_name == v),
        (text("activityNameLike"), lambda v, a: like(v, a.element_name)),
        (text("activityType"), lambda v, a: activity_type(a) == v),
        (text("taskAssignee"), lambda v, a: a.assignee == v),
        (text("processDefinitionId"), lambda v, a: a.definition_id == v),
        (boolean("finished") or None, lambda v, a: a.ended_at is not None),
        (boolean("unfinished") or None, lambda v, a: a.ended_at is None),
        (boolean("canceled") or None, lambda v, a: a.canceled),
        (boolean("completeScope") or None, lambda v, a: a.kind == "endEvent"),
        (date("startedBefore"), lambda v, a: a.started_at < v),
        (date("startedAfter"), lambda v, a: a.started_at > v),
        (date("finishedBefore"), lambda v, a: a.ended_at is not None and a.ended_at < v),
        (date("finishedAfter"), lambda v, a: a.ended_at is not None and a.ended_at > v),
    )
    return [(value, check) for value, check in criteria if value is not None]


def _activities() -> list[ActivityRecord]:
    ids = None
    one = text("processInstanceId")
    if one is not None:
        ids = (one,)
    checks = _activity_checks()
    user = rest_user()
    scope = InstanceFilter(ids=ids, visible=instance_scope(user), confidential=authz.personnel_scope(user))
    found = listings.activities(workflow_engine(), scope)
    return [a for a in found if all(check(value, a) for value, check in checks)]


def _sort_value(record: ActivityRecord, key: str, order: dict[str, int]):
    if key == "type":
        return activity_type(record)
    if key == "duration":
        return _millis(record.started_at, record.ended_at)
    if key == "order":
        return order[record.id]
    return getattr(record, key)


def _sorted(found: list[ActivityRecord]) -> list[ActivityRecord]:
    order = {a.id: n for n, a in enumerate(found)}  # the audit trail's order
    for key, descending in sorting(ACTIVITY_SORT):
        present = [a for a in found if _sort_value(a, key, order) is not None]
        missing = [a for a in found if _sort_value(a, key, order) is None]
        # Ties keep the trail's order, reversed with the rest when descending.
        present.sort(key=lambda a, key=key: (_sort_value(a, key, order), order[a.id]), reverse=descending)
        found = missing + present if descending else present + missing
    return found


@bp.get("/history/activity-instance")
def list_activities():
    """The activities of the instances the caller may see, oldest first unless sorted."""
    first, most = paging()
    return jsonify([activity_dto(a) for a in page(_sorted(_activities()), first, most)])


@bp.get("/history/activity-instance/count")
def count_activities():
    return count(len(_activities()))
