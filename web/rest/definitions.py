"""``/process-definition``: deployed versions, their BPMN XML, their start forms, and
starting instances (by key: the latest version; by id: that version).

Reading needs a staff account; starting needs one of the process's
``camunda:candidateStarterGroups`` (as on the web's *Start a process*) or admin.
"""

from __future__ import annotations

from flask import jsonify, url_for

from engine import InstanceStatus, InstanceView, ProcessNotFound
from engine.views import DefinitionView

from .. import authz, workflow_engine
from ..models import Role, User
from . import bp
from .auth import require_staff, rest_user
from .errors import forbidden, invalid, not_found, translated
from .params import boolean, integer, json_body, like, page, paging, sorting, text, text_list
from .variables import parse_variables, typed_map

SORT_KEYS = {"id": "id", "key": "key", "name": "name", "version": "version", "deploymentId": "deployment_id",
             "deployTime": "created_at", "category": None, "tenantId": None, "versionTag": None}


def definition_dto(definition: DefinitionView) -> dict:
    """Camunda's ProcessDefinitionDto."""
    return {"id": definition.id, "key": definition.key, "category": None, "description": None,
            "name": definition.name, "version": definition.version, "resource": definition.resource_name,
            "deploymentId": definition.deployment_id, "diagram": None, "suspended": False, "tenantId": None,
            "versionTag": None, "historyTimeToLive": None, "startableInTasklist": True}


def link(endpoint: str, **values) -> list[dict]:
    return [{"method": "GET", "href": url_for(endpoint, _external=True, **values), "rel": "self"}]


def by_id(definition_id: str) -> DefinitionView:
    """:raise RestError: 404."""
    try:
        return workflow_engine().definition(definition_id)
    except ProcessNotFound:
        raise not_found(f"No matching definition with id {definition_id}") from None


def by_key(key: str) -> DefinitionView:
    """The latest version. :raise RestError: 404."""
    try:
        return workflow_engine().latest_definition(key)
    except ProcessNotFound:
        raise not_found(f"No matching process definition with key: {key} and no tenant-id",
                        "RestException") from None


# --- listing ---------------------------------------------------------------------------------

def _filtered() -> list[DefinitionView]:
    found = workflow_engine().definitions()
    if boolean("latestVersion"):
        latest = {}
        for definition in found:
            latest[definition.key] = definition
        found = list(latest.values())
    checks = (
        (text("processDefinitionId"), lambda v, d: d.id == v),
        (text_list("processDefinitionIdIn"), lambda v, d: d.id in v),
        (text("key"), lambda v, d: d.key == v),
        (text_list("keysIn"), lambda v, d: d.key in v),
        (text("keyLike"), lambda v, d: like(v, d.key)),
        (text("name"), lambda v, d: d.name == v),
        (text("nameLike"), lambda v, d: like(v, d.name)),
        (text("deploymentId"), lambda v, d: d.deployment_id == v),
        (integer("version", minimum=1), lambda v, d: d.version == v),
        (text("resourceName"), lambda v, d: d.resource_name == v),
        (text("resourceNameLike"), lambda v, d: like(v, d.resource_name)),
    )
    for value, check in checks:
        if value is not None:
            found = [d for d in found if check(value, d)]
    if boolean("suspended") or text_list("tenantIdIn"):
        return []  # nothing here is suspended or belongs to a tenant
    return found


def _sorted(found: list[DefinitionView]) -> list[DefinitionView]:
    found = sorted(found, key=lambda d: d.id)
    for key, descending in sorting(SORT_KEYS):
        found.sort(key=lambda d, key=key: getattr(d, key), reverse=descending)
    return found


@bp.get("/process-definition")
def list_definitions():
    """Deployed versions, filtered, sorted and paged as Camunda does."""
    require_staff("READ", "ProcessDefinition")
    first, most = paging()
    found = _sorted(_filtered())
    return jsonify([definition_dto(d) for d in page(found, first, most)])


@bp.get("/process-definition/count")
def count_definitions():
    require_staff("READ", "ProcessDefinition")
    return jsonify({"count": len(_filtered())})


@bp.get("/process-definition/<definition_id>")
def get_definition(definition_id: str):
    require_staff("READ", "ProcessDefinition", definition_id)
    return jsonify(definition_dto(by_id(definition_id)))


@bp.get("/process-definition/key/<key>")
def get_definition_by_key(key: str):
    require_staff("READ", "ProcessDefinition", key)
    return jsonify(definition_dto(by_key(key)))


def _xml(definition: DefinitionView):
    _, content = workflow_engine().definition_resource(definition.id)
    return jsonify({"id": definition.id, "bpmn20Xml": content.decode("utf-8")})


@bp.get("/process-definition/key/<key>/xml")
def xml_by_key(key: str):
    """The BPMN file of the latest version: ``{"id", "bpmn20Xml"}``."""
    require_staff("READ", "ProcessDefinition", key)
    return _xml(by_key(key))


@bp.get("/process-definition/<definition_id>/xml")
def xml_by_id(definition_id: str):
    require_staff("READ", "ProcessDefinition", definition_id)
    return _xml(by_id(definition_id))


@bp.get("/process-definition/key/<key>/form-variables")
def start_form_variables(key: str):
    """The start form's fields with their defaults, typed."""
    require_staff("READ", "ProcessDefinition", key)
    by_key(key)
    form = workflow_engine().start_form(key)
    fields = form.fields if form is not None else ()
    wanted = text_list("variableNames")
    return jsonify(typed_map({f.id: f.default for f in fields}, {f.id: f.type for f in fields}, wanted))


# --- starting --------------------------------------------------------------------------------

def may_start(user: User, key: str) -> bool:
    """The process names one of the user's roles as a starter group, or they are admin."""
    if user.has_role(Role.ADMIN):
        return True
    return any(view.key == key for view, _ in workflow_engine().startable(r.value for r in user.roles))


def instance_dto(instance: InstanceView, variables: dict | None = None) -> dict:
    """Camunda's ProcessInstanceDto (ProcessInstanceWithVariablesDto with ``variables``)."""
    dto = {"links": link("rest.get_instance", instance_id=instance.id), "id": instance.id,
           "definitionId": instance.definition_id, "businessKey": instance.business_key,
           "caseInstanceId": None, "ended": instance.status != InstanceStatus.RUNNING,
           "suspended": False, "tenantId": None}
    if variables is not None:
        dto["variables"] = variables
    return dto


def _start(definition: DefinitionView):
    user = rest_user()
    if not may_start(user, definition.key):
        raise forbidden(user.username, "CREATE_INSTANCE", "ProcessDefinition", definition.key)
    body = json_body()
    context = f"Cannot instantiate process definition {definition.id}"
    unsupported = [name for name in ("startInstructions", "caseInstanceId") if body.get(name)]
    if unsupported:
        raise invalid(f"{context}: {', '.join(unsupported)} not supported by Propflow")
    business_key = body.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise invalid(f"{context}: businessKey must be text")
    engine = workflow_engine()
    form = engine.start_form(definition.key)
    hints = {f.id: f.type for f in form.fields} if form is not None else {}
    variables = parse_variables(body.get("variables"), context, hints)
    with translated(context):
        instance = engine.start(definition.key, variables, business_key=business_key or None,
                                user=user.username, definition_id=definition.id)
    # A personnel record's variables go back only to a starter who may see it (an administrator may not).
    shown = body.get("withVariablesInReturn") is True and authz.may_see_instance(
        user, instance.process_key, instance.variables)
    returned = typed_map(instance.variables, hints) if shown else None
    return jsonify(instance_dto(instance, returned))


@bp.post("/process-definition/key/<key>/start")
def start_by_key(key: str):
    """Start the latest version; variables are checked against its start form (400 naming
    each field)."""
    return _start(by_key(key))


@bp.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id: str):
    """Start this version (what Camunda Modeler's *Start instance* calls)."""
    return _start(by_id(definition_id))
