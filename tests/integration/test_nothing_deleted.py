"""Nothing can be deleted through the UI or the API (A-1, A-2): no page or endpoint accepts
DELETE, except Camunda's answer for the paths Propflow does not serve — and Camunda's own
delete calls, answered there, delete nothing. A record is corrected by annotation (see
test_archive.py); an account is deactivated, never deleted (test_web.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import InstanceStatus
from engine.models import AuditEvent, Deployment, ProcessDefinition, ProcessInstance, UserTask
from web import workflow_engine
from web.extensions import db
from web.models import Attachment, Correction, FeedbackItem, ServiceCase, User

from .test_rest import REST, basic

# Routes that accept DELETE, each with why it is there and why it deletes nothing.
CAMUNDA_CONTRACT = {
    "/engine-rest/<path:anything>": "Camunda's 404 RestException for every path Propflow does not serve, "
                                    "whatever the method: Camunda clients (the Modeler, workers) get the "
                                    "error they expect. It deletes nothing.",
}
KEPT = (ProcessInstance, Deployment, ProcessDefinition, UserTask, AuditEvent, ServiceCase, FeedbackItem,
        Attachment, Correction, User)


def test_no_route_accepts_delete_except_camundas_answer_for_what_is_not_served(app):
    deleting = {rule.rule for rule in app.url_map.iter_rules() if "DELETE" in rule.methods}
    assert deleting == set(CAMUNDA_CONTRACT), "a route accepts DELETE: annotate or cancel instead"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in KEPT}


def _ids(app) -> dict[str, str]:
    with app.app_context():
        engine = workflow_engine()
        instance = engine.instance(engine.find_instances(business_key="SR-DEMO-002")[0])
        definition = engine.definition(instance.definition_id)
        return {"instance": instance.id, "task": instance.open_tasks[0].id, "definition": definition.id,
                "deployment": definition.deployment_id}


@pytest.mark.parametrize("username", ["mgr_wu", "po_zhou", "admin"])
def test_camundas_delete_calls_answer_not_found_and_keep_everything(client, demo, app, username):
    ids, before = _ids(app), _counts(app)
    instance, task = ids["instance"], ids["task"]
    for path in (f"/process-instance/{instance}", f"/process-instance/{instance}?skipIoMappings=true",
                 f"/deployment/{ids['deployment']}?cascade=true", f"/process-definition/{ids['definition']}",
                 "/process-definition/key/service_request?cascade=true", f"/task/{task}",
                 f"/history/process-instance/{instance}", f"/process-instance/{instance}/variables/owner_id",
                 f"/task/{task}/variables/description", "/user/tech_chen"):
        response = client.open(REST + path, method="DELETE", headers=basic(username))
        assert response.status_code == 404, path
        assert response.get_json()["type"] == "RestException"
    assert _counts(app) == before
    with app.app_context():
        assert workflow_engine().instance(ids["instance"]).status == InstanceStatus.RUNNING


def test_pages_refuse_delete(demo, browser, app):
    person = browser("admin")
    ids = _ids(app)
    before = _counts(app)
    for page in (f"/requests/{ids['instance']}", "/admin/users/1", f"/review/cases/{ids['instance']}",
                 f"/archive/records/service_request/{ids['instance']}", f"/tasks/{ids['task']}"):
        assert person.client.delete(page, headers={"X-CSRFToken": person.token}).status_code == 405, page
    assert _counts(app) == before
