"""Deploying from the browser (I-1): check first — every problem with its element, or
what changes against the live version — then deploy; nothing is stored before that."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import BPMN_DIR, FIXTURES
from tests.integration.test_web import text
from web import workflow_engine

APPROVAL = (FIXTURES / "approval.bpmn").read_bytes()


def upload(person, files: dict[str, bytes], name="from the web"):
    person.get("/deploy/")
    response = person.client.post("/deploy/check", data={
        "csrf_token": person.token, "name": name,
        "files": [(io.BytesIO(content), file_name) for file_name, content in files.items()]},
        content_type="multipart/form-data")
    response.get_data()
    response.close()  # and with it the request body the client spooled to a file
    return response


def confirm(person, page: str):
    names = re.findall(r'name="file_name" value="([^"]+)"', page)
    contents = re.findall(r'name="file_content" value="([^"]+)"', page)
    return person.client.post("/deploy/confirm", data={
        "csrf_token": person.token, "name": "from the web", "file_name": names, "file_content": contents})


def versions(app, key: str) -> list[int]:
    with app.app_context():
        return [d.version for d in workflow_engine().definitions(key)]


def test_a_changed_diagram_is_checked_then_deployed(app, demo, browser):
    owner = browser("po_zhou")
    assert upload(owner, {"approval.bpmn": APPROVAL}).status_code == 200
    first = text(upload(owner, {"approval.bpmn": APPROVAL}))
    assert "A new process" in first or "新流程" in first
    assert confirm(owner, first).status_code == 303
    assert versions(app, "approval") == [1]
    edited = APPROVAL.replace(b'name="Approve" camunda:candidateGroups="managers"',
                              b'name="Approve it" camunda:candidateGroups="directors"')
    page = text(upload(owner, {"approval.bpmn": edited}))
    assert 'data-change="changed" data-element="Approve"' in page
    assert versions(app, "approval") == [1]  # a check stores nothing
    done = confirm(owner, page)
    assert done.status_code == 303 and "/review/processes/approval:2:" in done.headers["Location"]
    assert versions(app, "approval") == [1, 2]


def test_the_same_content_deploys_nothing(app, demo, browser):
    owner = browser("po_zhou")
    files = {name: (BPMN_DIR / name).read_bytes()
             for name in ("service_request.bpmn", "priority_proposal.dmn", "service_level.dmn")}
    page = text(upload(owner, files))
    assert 'data-testid="unchanged"' in page and 'data-testid="nothing-to-deploy"' in page
    assert 'data-testid="confirm-form"' not in page


def test_a_broken_diagram_shows_each_problem_with_its_element(app, demo, browser):
    owner = browser("po_zhou")
    broken = APPROVAL.replace(b">PT2H<", b">PT2X<")
    response = upload(owner, {"approval.bpmn": broken})
    assert response.status_code == 422
    page = text(response)
    assert 'data-testid="problem"' in page and "<code>Reminder</code>" in page
    assert 'data-testid="confirm-form"' not in page
    assert versions(app, "approval") == []


@pytest.mark.parametrize("files, status", [
    ({}, 422), ({"notes.txt": b"hello"}, 422), ({"big.bpmn": b"x" * 20_481}, 413)])
def test_uploads_are_checked(app, demo, browser, files, status):
    app.config["DEPLOY_MAX_FILE_BYTES"] = 20 * 1024
    response = upload(browser("po_zhou"), files)
    assert response.status_code == status and 'data-testid="upload-problem"' in text(response)


def test_a_tampered_confirmation_is_refused(app, demo, browser):
    owner = browser("po_zhou")
    owner.get("/deploy/")
    response = owner.client.post("/deploy/confirm", data={
        "csrf_token": owner.token, "file_name": ["a.bpmn"], "file_content": ["!!not base64!!"]})
    assert response.status_code == 400


@pytest.mark.parametrize("user, status", [("po_zhou", 200), ("admin", 200), ("mgr_wu", 403),
                                          ("sup_zhao", 403), ("owner_wang", 403)])
def test_who_may_deploy(app, demo, browser, user, status):
    assert browser(user).get("/deploy/").status_code == status
