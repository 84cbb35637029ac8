"""``/process-instance``: running instances (Camunda's runtime holds no finished ones:
those are under ``/history/process-instance``), one at a time and their variables.

Each person sees the instances the web would show them (:func:`.auth.instance_scope`);
another's instance is a 404, as an unknown one.
"""

from __future__ import annotations

from flask import jsonify

from engine import InstanceNotFound, InstanceStatus, InstanceView, listings
from engine.views import InstanceFilter

from .. import authz, workflow_engine
from . import bp
from .auth import instance_scope, rest_user
from .definitions import instance_dto
from .errors import not_found
from .params import boolean, count, paging, sorting, text, text_list
from .variables import typed_map

SORT_KEYS = {"instanceId": "id", "definitionKey": "process_key", "definitionId": "definition_id",
             "businessKey": "business_key", "tenantId": None}


def _filter() -> InstanceFilter | None:
    """The query's criteria over running instances; None when they match nothing here."""
    if boolean("suspended") or text_list("tenantIdIn"):
        return None
    keys = text_list("processDefinitionKeyIn")
    key = text("processDefinitionKey")
    if key is not None:
        keys = (key,) if keys is None or key in keys else ()
    return InstanceFilter(
        ids=text_list("processInstanceIds"), definition_id=text("processDefinitionId"), process_keys=keys,
        business_key=text("businessKey"), business_key_like=text("businessKeyLike"),
        statuses=(InstanceStatus.RUNNING,), visible=instance_scope(rest_user()),
        confidential=authz.personnel_scope(rest_user()))


@bp.get("/process-instance")
def list_instances():
    """Running instances the caller may see, filtered, sorted and paged."""
    first, most = paging()
    sort = sorting(SORT_KEYS)
    where = _filter()
    if where is None:
        return jsonify([])
    found = listings.instances(workflow_engine(), where, sort=sort, offset=first, limit=most)
    return jsonify([{"links": [], "id": r.id, "definitionId": r.definition_id, "businessKey": r.business_key,
                     "caseInstanceId": None, "ended": False, "suspended": False, "tenantId": None}
                    for r in found])


@bp.get("/process-instance/count")
def count_instances():
    where = _filter()
    return count(listings.count_instances(workflow_engine(), where) if where is not None else 0)


def visible_instance(instance_id: str, *, running: bool = True) -> InstanceView:
    """The instance, if it exists (and runs, when ``running``) and the caller may see it.

    :raise RestError: 404 otherwise — whether someone else's case exists is not disclosed.
    """
    try:
        instance = workflow_engine().instance(instance_id)
    except InstanceNotFound:
        instance = None
    user = rest_user()
    if (instance is None or (running and instance.status != InstanceStatus.RUNNING)
            or not authz.may_see_case(user, instance.variables.get("owner_id"), instance.open_tasks)
            or not authz.may_see_instance(user, instance.process_key, instance.variables)):
        raise not_found(f"Process instance with id {instance_id} does not exist")
    return instance


@bp.get("/process-instance/<instance_id>")
def get_instance(instance_id: str):
    return jsonify(instance_dto(visible_instance(instance_id)))


@bp.get("/process-instance/<instance_id>/variables")
def instance_variables(instance_id: str):
    """The case's current variables, typed."""
    instance = visible_instance(instance_id)
    return jsonify(typed_map(instance.variables, names=text_list("variableNames")))
