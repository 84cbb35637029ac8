"""Camunda 7 REST: external tasks and messages, as a Camunda external-task worker and a
signalling system use them — real HTTP through the test client, HTTP Basic."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from tests.conftest import FIXTURES
from web import workflow_engine
from web.extensions import db
from web.models import Role, User

PASSWORD = "worker-password-1"


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def api(app, demo, clock):
    """The demo plus an SMS worker account and a process with an external task."""
    with app.app_context():
        worker = User(username="svc_sms", display_name="SMS gateway", locale="en", active=True,
                      created_at=clock.now())
        worker.set_password(PASSWORD)
        worker.set_roles([Role.INTEGRATION])
        db.session.add(worker)
        db.session.commit()
        workflow_engine().deploy({"external_work.bpmn": (FIXTURES / "external_work.bpmn").read_bytes()},
                                 name="external")
        started = workflow_engine().start("notify", {"phone": "13800000001"}, business_key="N-1")
    client = app.test_client()
    client.instance_id = started.id
    return client


def fetch(api, worker="w1", user="svc_sms", **body):
    return api.post("/engine-rest/external-task/fetchAndLock", headers=basic(user), json={
        "workerId": worker, "maxTasks": 5, "topics": [{"topicName": "sms", "lockDuration": 60000}], **body})


def test_a_worker_fetches_locks_and_completes(api, clock):
    response = fetch(api)
    assert response.status_code == 200
    [task] = response.get_json()
    assert {"activityId", "id", "lockExpirationTime", "processInstanceId", "retries", "topicName",
            "workerId", "businessKey", "variables", "priority", "tenantId", "errorMessage"} <= set(task)
    assert (task["topicName"], task["workerId"], task["businessKey"]) == ("sms", "w1", "N-1")
    assert task["variables"]["phone"] == {"type": "String", "value": "13800000001", "valueInfo": {}}
    assert task["lockExpirationTime"] == "2026-01-05T09:01:00.000+0000"
    assert fetch(api, "w2").get_json() == []
    listed = api.get("/engine-rest/external-task?topicName=sms&locked=true", headers=basic("svc_sms"))
    assert [t["id"] for t in listed.get_json()] == [task["id"]]
    assert api.get("/engine-rest/external-task/count", headers=basic("svc_sms")).get_json() == {"count": 1}

    wrong = api.post(f"/engine-rest/external-task/{task['id']}/complete", headers=basic("svc_sms"),
                     json={"workerId": "w2"})
    assert wrong.status_code == 400 and wrong.get_json()["type"] == "BadUserRequestException"
    bad_type = api.post(f"/engine-rest/external-task/{task['id']}/complete", headers=basic("svc_sms"),
                        json={"workerId": "w1", "variables": {"sent": {"value": "yes", "type": "Boolean"}}})
    assert bad_type.status_code == 400 and "sent" in bad_type.get_json()["message"]
    done = api.post(f"/engine-rest/external-task/{task['id']}/complete", headers=basic("svc_sms"),
                    json={"workerId": "w1", "variables": {"sms_id": {"value": "M-77", "type": "String"}}})
    assert done.status_code == 204
    assert api.get(f"/engine-rest/external-task/{task['id']}", headers=basic("svc_sms")).status_code == 404
    clock.advance(timedelta(hours=1))
    assert fetch(api).get_json() == []


def test_failure_with_retries_and_a_bpmn_error(api, clock):
    [task] = fetch(api).get_json()
    url = f"/engine-rest/external-task/{task['id']}"
    failed = api.post(f"{url}/failure", headers=basic("svc_sms"), json={
        "workerId": "w1", "errorMessage": "gateway down", "errorDetails": "timeout", "retries": 2,
        "retryTimeout": 10000})
    assert failed.status_code == 204
    assert fetch(api).get_json() == []
    clock.advance(timedelta(seconds=10))
    [again] = fetch(api).get_json()
    assert (again["retries"], again["errorMessage"]) == (2, "gateway down")
    uncaught = api.post(f"{url}/bpmnError", headers=basic("svc_sms"),
                        json={"workerId": "w1", "errorCode": "NOT_MODELLED"})
    assert uncaught.status_code == 400 and "NOT_MODELLED" in uncaught.get_json()["message"]
    caught = api.post(f"{url}/bpmnError", headers=basic("svc_sms"), json={
        "workerId": "w1", "errorCode": "NO_PHONE", "errorMessage": "no mobile number",
        "variables": {"reason": {"value": "no mobile", "type": "String"}}})
    assert caught.status_code == 204
    with api.application.app_context():
        instance = workflow_engine().instance(api.instance_id)
    assert [t.element_id for t in instance.open_tasks] == ["Task_Call"]
    assert instance.variables["reason"] == "no mobile"


def test_messages_reach_waiting_cases_or_start_processes(api):
    [task] = fetch(api).get_json()
    api.post(f"/engine-rest/external-task/{task['id']}/complete", headers=basic("svc_sms"),
             json={"workerId": "w1"})
    unknown = api.post("/engine-rest/message", headers=basic("svc_sms"),
                       json={"messageName": "nothing_waits"})
    assert unknown.status_code == 400
    assert unknown.get_json()["message"].startswith("Cannot correlate message 'nothing_waits'")
    delivered = api.post("/engine-rest/message", headers=basic("svc_sms"), json={
        "messageName": "payment_received", "businessKey": "N-1", "resultEnabled": True,
        "processVariables": {"amount": {"value": 5, "type": "Integer"}}})
    assert delivered.status_code == 200
    assert delivered.get_json()[0]["resultType"] == "Execution"
    started = api.post("/engine-rest/message", headers=basic("cs_zhang", "propflow-demo"), json={
        "messageName": "payment_received", "businessKey": "P-9", "resultEnabled": True})
    assert started.status_code == 200 and started.get_json()[0]["resultType"] == "ProcessDefinition"
    with api.application.app_context():
        finished = workflow_engine().instance(api.instance_id)
    assert (finished.status.value, finished.variables["amount"]) == ("completed", 5)


def test_a_message_starts_a_process_only_for_its_starter_groups(api):
    # by_message names customer_service and integration in camunda:candidateStarterGroups.
    refused = api.post("/engine-rest/message", headers=basic("tech_chen", "propflow-demo"), json={
        "messageName": "payment_received", "businessKey": "P-7"})
    assert refused.status_code == 403 and refused.get_json()["type"] == "AuthorizationException"
    with api.application.app_context():
        assert workflow_engine().find_instances(business_key="P-7") == []
    for user, headers in (("svc_sms", basic("svc_sms")), ("admin", basic("admin", "propflow-demo"))):
        started = api.post("/engine-rest/message", headers=headers, json={
            "messageName": "payment_received", "businessKey": f"P-{user}"})
        assert started.status_code == 204, user
        with api.application.app_context():
            assert len(workflow_engine().find_instances(business_key=f"P-{user}")) == 1


@pytest.mark.parametrize("user, password, status", [
    (None, None, 401), ("svc_sms", "wrong", 401), ("tech_chen", "propflow-demo", 403),
    ("owner_wang", "propflow-demo", 403), ("admin", "propflow-demo", 200)])
def test_only_workers_fetch(api, user, password, status):
    headers = basic(user, password) if user else {}
    response = api.post("/engine-rest/external-task/fetchAndLock", headers=headers, json={
        "workerId": "w1", "topics": [{"topicName": "sms", "lockDuration": 1000}]})
    assert response.status_code == status
    if status != 200:
        assert {"type", "message"} <= set(response.get_json())


@pytest.mark.parametrize("body, word", [
    ({"topics": [{"topicName": "sms", "lockDuration": 1000}]}, "workerId"),
    ({"workerId": "w1", "topics": []}, "topics"),
    ({"workerId": "w1", "topics": [{"topicName": "sms", "lockDuration": -5}]}, "lockDuration"),
    ({"workerId": "w1", "maxTasks": "ten", "topics": [{"topicName": "sms", "lockDuration": 1000}]},
     "maxTasks"),
])
def test_bad_fetch_requests_are_explained(api, body, word):
    response = api.post("/engine-rest/external-task/fetchAndLock", headers=basic("svc_sms"), json=body)
    assert response.status_code == 400 and word in response.get_json()["message"]
    assert response.get_json()["type"] == "InvalidRequestException"
