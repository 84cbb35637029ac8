"""Camunda Modeler's Deploy button against Propflow, replayed request by request as the
Modeler's source sends them (camunda-modeler client/src/plugins/camunda-plugin:
CamundaAPI.checkConnection, getVersion, deployDiagram; RestAPI aborts each call after 5 s)."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from tests.conftest import BPMN_DIR
from web.demo import DEMO_PASSWORD

ENDPOINT = "/engine-rest"
DIAGRAM = "service_request.bpmn"
ATTACHMENTS = ("priority_proposal.dmn", "service_level.dmn")
MODELER_TIMEOUT = 5.0  # seconds: RestAPI's DEFAULT_FETCH_TIMEOUT
# The supervisor's review form with a field type Camunda 7 does not know.
BREAK = ('<camunda:formField id="decision" label="审核结论 Decision" type="enum">',
         '<camunda:formField id="decision" label="审核结论 Decision" type="colour">')


def headers(username: str | None = None) -> dict[str, str]:
    """What RestAPI.getHeaders sends: JSON wanted, Basic credentials when configured."""
    sent = {"accept": "application/json"}
    if username:
        sent["authorization"] = "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()
    return sent


def form_data(name: str, diagram: bytes, attachments: dict[str, bytes], tenant_id: str = "",
              extra: tuple[tuple[str, str], ...] = (), filtering: bool = True) -> tuple[bytes, str]:
    """The body a browser builds from deployDiagram's FormData, in its order: three text
    fields (tenant-id only when filled), the diagram as a text/xml Blob named after its
    file, each attachment as an untyped Blob (sent as application/octet-stream)."""
    boundary = f"----WebKitFormBoundary{uuid.uuid4().hex[:16]}"
    fields = [("deployment-name", name), ("deployment-source", "Camunda Modeler"),
              ("enable-duplicate-filtering", "true" if filtering else "false"), *extra]
    if tenant_id:
        fields.append(("tenant-id", tenant_id))
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields]
    files = [(DIAGRAM, diagram, "text/xml"),
             *((file, content, "application/octet-stream") for file, content in attachments.items())]
    parts += [(f'--{boundary}\r\nContent-Disposition: form-data; name="{file}"; filename="{file}"\r\n'
               f"Content-Type: {kind}\r\n\r\n").encode() + content + b"\r\n" for file, content, kind in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# What a process owner changed in the Modeler: a task's name.
EDIT = ('name="申请登记 Register request"', 'name="申请登记 Register the request"')


@pytest.fixture
def files() -> tuple[bytes, dict[str, bytes]]:
    edited = (BPMN_DIR / DIAGRAM).read_text(encoding="utf-8").replace(*EDIT, 1).encode()
    return edited, {name: (BPMN_DIR / name).read_bytes() for name in ATTACHMENTS}


def deploy(client, username, diagram, attachments, **kwargs):
    body, content_type = form_data("service_request", diagram, attachments, **kwargs)
    started = time.perf_counter()
    response = client.post(f"{ENDPOINT}/deployment/create", data=body, content_type=content_type,
                           headers=headers(username))
    return response, time.perf_counter() - started


def versions(client) -> list[int]:
    found = client.get(f"{ENDPOINT}/process-definition?key=service_request&sortBy=version&sortOrder=asc",
                       headers=headers("po_zhou"))
    return [d["version"] for d in found.get_json()]


def deployment_count(client) -> int:
    return client.get(f"{ENDPOINT}/deployment/count", headers=headers("po_zhou")).get_json()["count"]


def test_the_modelers_whole_deploy_sequence(client, demo, files):
    diagram, attachments = files
    # The deploy dialog checks the endpoint without credentials first: 401 makes it offer
    # the HTTP Basic fields.
    probe = client.get(f"{ENDPOINT}/deployment?maxResults=0", headers=headers())
    assert probe.status_code == 401 and probe.headers["WWW-Authenticate"].startswith("Basic ")
    assert probe.get_json()["type"] and probe.get_json()["message"]
    # With a process owner's credentials the same probe succeeds.
    probe = client.get(f"{ENDPOINT}/deployment?maxResults=0", headers=headers("po_zhou"))
    assert probe.status_code == 200 and probe.get_json() == []
    version = client.get(f"{ENDPOINT}/version", headers=headers("po_zhou"))
    assert version.status_code == 200 and version.get_json()["version"] == "7.20.0"
    assert versions(client) == [1]  # the demo's

    response, seconds = deploy(client, "po_zhou", diagram, attachments)
    assert response.status_code == 200, response.get_json()
    assert seconds < MODELER_TIMEOUT
    body = response.get_json()
    [definition] = body["deployedProcessDefinitions"].values()  # what the Modeler reads
    assert body["id"] and definition["key"] == "service_request" and definition["version"] == 2
    assert definition["deploymentId"] == body["id"] and definition["resource"] == DIAGRAM
    assert body["source"] == "Camunda Modeler" and body["name"] == "service_request"
    assert {"deployedCaseDefinitions", "deployedDecisionDefinitions",
            "deployedDecisionRequirementsDefinitions", "links", "deploymentTime", "tenantId"} <= set(body)
    assert versions(client) == [1, 2]
    count = deployment_count(client)

    # Deploying the unchanged diagram again deploys nothing: the same deployment answers.
    again, _ = deploy(client, "po_zhou", diagram, attachments)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert versions(client) == [1, 2] and deployment_count(client) == count

    # New cases start on the new version.
    started = client.post(f"{ENDPOINT}/process-definition/key/service_request/start",
                          headers=headers("admin"), json={"businessKey": "SR-MODELER-1", "variables": {
                              "channel": {"value": "phone", "type": "String"},
                              "owner_id": {"value": "owner_wang", "type": "String"},
                              "owner_name": {"value": "王建国", "type": "String"},
                              "contact_phone": {"value": "13800000001", "type": "String"},
                              "building": {"value": "3", "type": "String"},
                              "unit": {"value": "1201", "type": "String"},
                              "service_type": {"value": "plumbing", "type": "String"},
                              "description": {"value": "水龙头滴水 The tap drips", "type": "String"}}})
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["definitionId"] == definition["id"]


def test_a_broken_diagram_is_refused_in_camundas_words_and_changes_nothing(client, demo, files):
    diagram, attachments = files
    deployed, _ = deploy(client, "po_zhou", diagram, attachments)
    good = deployed.get_json()
    count = deployment_count(client)
    broken = diagram.decode().replace(*BREAK).encode()
    assert broken != diagram

    response, seconds = deploy(client, "po_zhou", broken, attachments)
    assert response.status_code == 400 and seconds < MODELER_TIMEOUT
    error = response.get_json()
    assert error["type"] == "ParseException"
    # The Modeler shows its "could not parse" notice for exactly this prefix, then the message.
    assert error["message"].startswith("ENGINE-09005 Could not parse BPMN process.")
    assert "element 'Task_Review'" in error["message"] and "unknown type 'colour'" in error["message"]
    [problem, *_] = error["details"][DIAGRAM]["errors"]
    assert problem["mainElementId"] == "Task_Review" and problem["elementIds"] == ["Task_Review"]
    assert problem["line"] > 0 and error["details"][DIAGRAM]["warnings"] == []
    # Nothing stored: the previous version stays the latest.
    assert versions(client) == [1, 2] and deployment_count(client) == count
    latest = client.get(f"{ENDPOINT}/process-definition/key/service_request", headers=headers("po_zhou"))
    assert latest.get_json()["id"] == next(iter(good["deployedProcessDefinitions"]))


def test_only_process_owners_and_administrators_deploy(client, demo, files):
    diagram, attachments = files
    refused, _ = deploy(client, "tech_chen", diagram, attachments)
    assert refused.status_code == 403  # the Modeler: "This user is not permitted to deploy"
    assert refused.get_json()["type"] == "AuthorizationException"
    assert refused.get_json()["userId"] == "tech_chen"
    assert versions(client) == [1]
    deployed, _ = deploy(client, "admin", diagram, attachments)
    assert deployed.status_code == 200 and versions(client) == [1, 2]
    # A process owner deploys but is not among the service request's starters.
    definition_id = next(iter(deployed.get_json()["deployedProcessDefinitions"]))
    start = client.post(f"{ENDPOINT}/process-definition/{definition_id}/start", headers=headers("po_zhou"),
                        json={"businessKey": "x", "variables": {}})
    assert start.status_code == 403 and start.get_json()["type"] == "AuthorizationException"


def test_other_clients_options_tenant_and_changed_only(client, demo, files):
    diagram, attachments = files
    tenant, _ = deploy(client, "po_zhou", diagram, attachments, tenant_id="acme")
    assert tenant.status_code == 400 and "no tenants" in tenant.get_json()["message"]
    first, _ = deploy(client, "po_zhou", diagram, attachments)
    assert first.status_code == 200 and versions(client) == [1, 2]
    plain, _ = deploy(client, "po_zhou", diagram, attachments, filtering=False)
    assert plain.status_code == 200 and versions(client) == [1, 2, 3]  # no filtering asked: a new version
    changed_only, _ = deploy(client, "po_zhou", diagram, attachments, filtering=False,
                             extra=(("deploy-changed-only", "true"),))
    assert changed_only.get_json()["id"] == plain.get_json()["id"] and versions(client) == [1, 2, 3]
    empty = client.post(f"{ENDPOINT}/deployment/create", data={"deployment-name": "nothing"},
                        headers=headers("po_zhou"))
    assert empty.status_code == 400 and empty.get_json()["type"] == "InvalidRequestException"


def test_deploying_the_live_diagram_unchanged_makes_no_version(client, demo):
    """The demo deployed every file at once; the Modeler sends one diagram and the tables
    it calls. The same process compiled the same is no new version."""
    diagram = (BPMN_DIR / DIAGRAM).read_bytes()
    attachments = {name: (BPMN_DIR / name).read_bytes() for name in ATTACHMENTS}
    response, _ = deploy(client, "po_zhou", diagram, attachments)
    assert response.status_code == 200
    answered = response.get_json()["deployedProcessDefinitions"].values()  # the deployment holding it
    assert [d["version"] for d in answered if d["key"] == "service_request"] == [1]
    assert versions(client) == [1]
