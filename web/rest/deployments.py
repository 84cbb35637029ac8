"""``/deployment``: listing deployments and ``POST /deployment/create``, the call Camunda
Modeler's Deploy button makes (multipart: ``deployment-name``, ``deployment-source``,
``enable-duplicate-filtering``, ``deploy-changed-only``, one part per file).

Reading needs a staff account; deploying a process owner or an administrator. A refused
diagram answers 400 ``ParseException`` ("ENGINE-09005 Could not parse BPMN process. …",
each problem naming its element) and changes nothing.
"""

from __future__ import annotations

from flask import jsonify, request

from engine import NotFound, listings
from engine.views import DeploymentFilter, DeploymentView

from .. import workflow_engine
from . import bp
from .auth import require_deployer, require_staff
from .definitions import definition_dto, link
from .errors import invalid, not_found, translated
from .params import boolean, count, date, paging, sorting, text, text_list
from .variables import format_date

SORT_KEYS = {"id": "id", "name": "name", "deploymentTime": "deployed_at", "tenantId": "tenant_id"}
MAX_NAME = 255  # of a deployment's name and source
# Multipart fields that are settings; every other part is a resource to deploy.
_SETTINGS = ("deployment-name", "deployment-source", "enable-duplicate-filtering", "deploy-changed-only",
             "tenant-id", "deployment-activation-time")


def deployment_dto(deployment: DeploymentView, *, with_definitions: bool = False) -> dict:
    """Camunda's DeploymentDto, or DeploymentWithDefinitionsDto for a new deployment.
    Decision tables are deployed as resources of the processes that call them, not as
    decision definitions of their own, so those maps are null."""
    dto = {"links": link("rest.get_deployment", deployment_id=deployment.id), "id": deployment.id,
           "name": deployment.name or None, "source": deployment.source,
           "deploymentTime": format_date(deployment.deployed_at), "tenantId": deployment.tenant_id}
    if with_definitions:
        definitions = {d.id: definition_dto(d) for d in deployment.definitions}
        dto.update(deployedProcessDefinitions=definitions or None, deployedCaseDefinitions=None,
                   deployedDecisionDefinitions=None, deployedDecisionRequirementsDefinitions=None)
    return dto


def _filter() -> DeploymentFilter | None:
    """The query's criteria; None when they can match nothing here (tenants)."""
    if text_list("tenantIdIn"):
        return None
    return DeploymentFilter(id=text("id"), name=text("name"), name_like=text("nameLike"),
                            source=text("source"), without_source=bool(boolean("withoutSource")),
                            after=date("after"), before=date("before"))


@bp.get("/deployment")
def list_deployments():
    """Deployments, filtered, sorted and paged (Camunda Modeler probes ``?maxResults=0``)."""
    require_staff("READ", "Deployment")
    first, most = paging()
    sort = sorting(SORT_KEYS)
    where = _filter()
    if where is None or most == 0:
        return jsonify([])
    found = listings.deployments(workflow_engine(), where, sort=sort, offset=first, limit=most)
    return jsonify([deployment_dto(d) for d in found])


@bp.get("/deployment/count")
def count_deployments():
    require_staff("READ", "Deployment")
    where = _filter()
    return count(listings.count_deployments(workflow_engine(), where) if where is not None else 0)


@bp.get("/deployment/<deployment_id>")
def get_deployment(deployment_id: str):
    require_staff("READ", "Deployment", deployment_id)
    try:
        found = listings.deployment(workflow_engine(), deployment_id)
    except NotFound:
        raise not_found(f"Deployment with id '{deployment_id}' does not exist") from None
    return jsonify(deployment_dto(found))


def _resources() -> dict[str, bytes]:
    """Each file part by its file name (or its part name), and any other unknown part."""
    files: dict[str, bytes] = {}
    parts = [(storage.filename or field, storage.read())
             for field, storage in request.files.items(multi=True)]
    parts += [(field, value.encode()) for field, value in request.form.items(multi=True)
              if field not in _SETTINGS]
    for name, content in parts:
        if name in files:
            raise invalid(f"The deployment contains two resources named '{name}'")
        files[name] = content
    if not files:
        raise invalid("No deployment resources contained in the form upload.")
    return files


def _flag(name: str) -> bool:
    return (request.form.get(name) or "").strip().lower() == "true"


@bp.post("/deployment/create")
def create_deployment():
    """Deploy the uploaded BPMN/DMN files as new versions; with duplicate filtering (or
    changed-only) identical files deploy nothing and answer the existing deployment."""
    user = require_deployer()
    if request.form.get("tenant-id"):
        raise invalid("Propflow has no tenants: deploy without a tenant id")
    if request.form.get("deployment-activation-time"):
        raise invalid("Propflow does not support a deployment activation time: deploy without one")
    files = _resources()
    changed_only = _flag("deploy-changed-only")
    form = request.form
    for field in ("deployment-name", "deployment-source"):
        if len(form.get(field) or "") > MAX_NAME:
            raise invalid(f"'{field}' is longer than {MAX_NAME} characters")
    with translated("Cannot deploy"):
        deployment = workflow_engine().deploy(
            files, name=form.get("deployment-name") or "", source=form.get("deployment-source"),
            deployed_by=user.username, changed_only=changed_only,
            duplicate_filtering=_flag("enable-duplicate-filtering") or changed_only)
    return jsonify(deployment_dto(deployment, with_definitions=True))
