"""The Camunda 7 REST subset under /engine-rest, through real HTTP: Camunda's JSON shapes,
typed variables, paging, errors and the same permissions as the web pages."""

from __future__ import annotations

import base64
import re

import pytest

from web.demo import DEMO_PASSWORD

REST = "/engine-rest"
TASK_FIELDS = {"id", "name", "assignee", "owner", "created", "lastUpdated", "due", "followUp",
               "delegationState", "description", "executionId", "parentTaskId", "priority",
               "processDefinitionId", "processInstanceId", "taskDefinitionKey", "caseExecutionId",
               "caseInstanceId", "caseDefinitionId", "suspended", "formKey", "camundaFormRef", "tenantId"}
DEFINITION_FIELDS = {"id", "key", "category", "description", "name", "version", "resource", "deploymentId",
                     "diagram", "suspended", "tenantId", "versionTag", "historyTimeToLive",
                     "startableInTasklist"}
HISTORIC_INSTANCE_FIELDS = {
    "id", "rootProcessInstanceId", "superProcessInstanceId", "superCaseInstanceId", "caseInstanceId",
    "processDefinitionName", "processDefinitionKey", "processDefinitionVersion", "processDefinitionId",
    "businessKey", "startTime", "endTime", "removalTime", "durationInMillis", "startUserId",
    "startActivityId", "deleteReason", "tenantId", "state"}
ACTIVITY_FIELDS = {
    "id", "parentActivityInstanceId", "activityId", "activityName", "activityType", "processDefinitionKey",
    "processDefinitionId", "processInstanceId", "executionId", "taskId", "assignee",
    "calledProcessInstanceId",
    "calledCaseInstanceId", "startTime", "endTime", "durationInMillis", "canceled", "completeScope",
    "tenantId", "removalTime", "rootProcessInstanceId"}
CAMUNDA_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
RECTIFICATION = {"problem": {"value": "楼道灯不亮 Stairwell lights out", "type": "String"},
                 "source": {"value": "spot_check", "type": "String"},
                 "responsible": {"value": "tech_chen", "type": "String"},
                 "deadline": {"value": "2026-01-08T00:00:00.000+0000", "type": "Date"}}


def basic(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def api(client, demo):
    """``api(user, method, path, **kwargs)``: one authenticated request."""

    def call(user, method, path, **kwargs):
        return client.open(REST + path, method=method, headers={**basic(user), **kwargs.pop("headers", {})},
                           **kwargs)

    return call


def assert_error(response, status: int, kind: str, *words: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["type"] == kind and isinstance(body["message"], str) and "code" in body
    for word in words:
        assert word in body["message"], body["message"]
    return body


def open_task(api, user, business_key, element):
    tasks = api(user, "GET", f"/task?processInstanceBusinessKey={business_key}&taskDefinitionKey={element}")
    assert tasks.status_code == 200 and len(tasks.get_json()) == 1, tasks.get_json()
    return tasks.get_json()[0]


# --- who is calling ----------------------------------------------------------------------------

def test_no_or_wrong_credentials_get_401_with_a_basic_challenge(client, demo, app):
    for headers in ({}, basic("cs_zhang", "wrong"), basic("nobody"), {"Authorization": "Bearer abc"}):
        response = client.get(f"{REST}/task", headers=headers)
        assert_error(response, 401, "AuthenticationException")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Propflow"'
    from web.extensions import db
    from web.models import User

    with app.app_context():
        db.session.execute(db.update(User).where(User.username == "tech_liu").values(active=False))
        db.session.commit()
    assert client.get(f"{REST}/version", headers=basic("tech_liu")).status_code == 401
    version = client.get(f"{REST}/version", headers=basic("tech_chen"))
    assert version.status_code == 200 and version.get_json() == {"version": "7.20.0"}


def test_failed_basic_attempts_are_rate_limited(client, demo):
    statuses = [client.get(f"{REST}/version", headers=basic("cs_zhang", "wrong")).status_code
                for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert_error(client.get(f"{REST}/version", headers=basic("cs_zhang")), 429, "RestException")
    assert client.get(f"{REST}/version", headers=basic("sup_zhao")).status_code == 200
    # Right passwords never count: a worker polling all day is not locked out.
    assert all(client.get(f"{REST}/version", headers=basic("sup_zhao")).status_code == 200 for _ in range(12))


def test_a_signed_in_browser_reads_but_posts_only_with_its_csrf_token(demo, browser):
    person = browser("cs_zhang")
    tasks = person.client.get(f"{REST}/task?taskDefinitionKey=Task_Register")
    assert tasks.status_code == 200 and len(tasks.get_json()) == 1
    url = f"{REST}/task/{tasks.get_json()[0]['id']}/claim"
    assert_error(person.client.post(url, json={"userId": "cs_zhang"}), 403, "AuthorizationException", "CSRF")
    person.get("/tasks/")  # a page of the app: its CSRF token
    claimed = person.client.post(url, json={"userId": "cs_zhang"}, headers={"X-CSRFToken": person.token})
    assert claimed.status_code == 204


def test_unknown_paths_answer_in_camundas_shape(api):
    assert_error(api("cs_zhang", "GET", "/no-such-thing"), 404, "RestException")


# --- deployments and definitions ---------------------------------------------------------------

def test_deployments_list_count_page_and_one(api):
    listed = api("po_zhou", "GET", "/deployment?sortBy=deploymentTime&sortOrder=desc")
    assert listed.status_code == 200
    [deployment] = listed.get_json()
    assert set(deployment) == {"links", "id", "name", "source", "deploymentTime", "tenantId"}
    assert deployment["name"] == "Propflow processes" and deployment["source"] == "demo"
    assert CAMUNDA_DATE.match(deployment["deploymentTime"])
    assert api("po_zhou", "GET", "/deployment/count").get_json() == {"count": 1}
    assert api("po_zhou", "GET", "/deployment?maxResults=0").get_json() == []
    assert api("po_zhou", "GET", "/deployment?firstResult=1").get_json() == []
    assert api("po_zhou", "GET", "/deployment/count?source=Camunda%20Modeler").get_json() == {"count": 0}
    one = api("qa_sun", "GET", f"/deployment/{deployment['id']}").get_json()
    assert one["id"] == deployment["id"]
    assert one["links"][0]["href"].endswith(f"/deployment/{deployment['id']}")
    assert_error(api("po_zhou", "GET", "/deployment/nope"), 404, "InvalidRequestException", "nope")
    assert_error(api("owner_wang", "GET", "/deployment"), 403, "AuthorizationException", "owner_wang")


@pytest.mark.parametrize(("query", "words"), [
    ("maxResults=abc", ["maxResults", "abc"]),
    ("firstResult=-1", ["firstResult", "-1"]),
    ("sortBy=name", ["sortBy and sortOrder required"]),
    ("sortBy=colour&sortOrder=asc", ["sortBy", "colour"]),
    ("sortBy=name&sortOrder=up", ["sortOrder", "up"]),
    ("after=yesterday", ["after", "yesterday"]),
])
def test_bad_query_values_are_400_naming_the_parameter(api, query, words):
    assert_error(api("po_zhou", "GET", f"/deployment?{query}"), 400, "InvalidRequestException", *words)


def test_process_definitions_filtered_sorted_paged(api):
    everything = api("qa_sun", "GET", "/process-definition?sortBy=key&sortOrder=asc").get_json()
    keys = [d["key"] for d in everything]
    assert keys == sorted(keys) and "service_request" in keys and "rectification" in keys
    assert set(everything[0]) == DEFINITION_FIELDS
    count = api("qa_sun", "GET", "/process-definition/count").get_json()["count"]
    assert count == len(everything)
    page = api("qa_sun", "GET", "/process-definition?sortBy=key&sortOrder=asc&firstResult=1&maxResults=2")
    assert [d["key"] for d in page.get_json()] == keys[1:3]
    latest = api("qa_sun", "GET", "/process-definition?key=rectification&latestVersion=true").get_json()
    assert [(d["key"], d["version"]) for d in latest] == [("rectification", 1)]
    like = api("qa_sun", "GET", "/process-definition?keyLike=survey%25").get_json()
    assert [d["key"] for d in like] == ["survey_questionnaire"]
    by_key = api("qa_sun", "GET", "/process-definition/key/rectification").get_json()
    assert by_key == latest[0] and by_key["resource"] == "rectification.bpmn"
    assert api("qa_sun", "GET", f"/process-definition/{by_key['id']}").get_json() == by_key
    xml = api("qa_sun", "GET", "/process-definition/key/rectification/xml").get_json()
    assert xml["id"] == by_key["id"] and 'id="StartEvent_Rectification"' in xml["bpmn20Xml"]
    assert_error(api("qa_sun", "GET", "/process-definition/key/nope"), 404, "RestException", "nope")
    assert_error(api("qa_sun", "GET", "/process-definition/nope:1:x/xml"), 404, "InvalidRequestException")
    assert_error(api("owner_li", "GET", "/process-definition"), 403, "AuthorizationException")


def test_start_form_variables_of_a_process(api):
    fields = api("sup_zhao", "GET", "/process-definition/key/rectification/form-variables").get_json()
    assert fields["deadline"] == {"type": "Date", "value": None, "valueInfo": {}}
    assert fields["problem"]["type"] == "String"


# --- starting ----------------------------------------------------------------------------------

def test_a_supervisor_starts_a_rectification_with_typed_variables(api):
    started = api("sup_zhao", "POST", "/process-definition/key/rectification/start", json={
        "businessKey": "RECT-REST-1", "variables": RECTIFICATION, "withVariablesInReturn": True})
    assert started.status_code == 200, started.get_json()
    body = started.get_json()
    assert {"links", "id", "definitionId", "businessKey", "caseInstanceId", "ended", "suspended",
            "tenantId", "variables"} <= set(body)
    assert body["businessKey"] == "RECT-REST-1" and body["ended"] is False and body["suspended"] is False
    assert body["links"][0]["href"].endswith(f"/process-instance/{body['id']}")
    assert body["variables"]["deadline"] == {"type": "Date", "value": "2026-01-08T00:00:00.000+0000",
                                             "valueInfo": {}}
    assert body["variables"]["started_by"]["value"] == "sup_zhao"
    task = open_task(api, "tech_chen", "RECT-REST-1", "Task_Rectify")
    assert task["assignee"] == "tech_chen" and task["processInstanceId"] == body["id"]


@pytest.mark.parametrize(("change", "words"), [
    ({"deadline": {"value": "next week", "type": "Date"}}, ["variable 'deadline'", "next week", "Date"]),
    ({"problem": {"value": {"a": 1}, "type": "String"}}, ["variable 'problem'"]),
    ({"source": {"value": "x", "type": "Colour"}}, ["variable 'source'", "Colour"]),
    ({"problem": {"value": "ok", "type": "Long"}}, ["variable 'problem'", "Long"]),
    ({"deadline": None}, ["deadline: is required"]),
    ({"source": {"value": "rumour", "type": "String"}}, ["source: must be one of"]),
    ({"problem": {"value": "x", "type": "String"}}, ["problem: must be at least 5 characters"]),
    ({"colour": {"value": "red", "type": "String"}}, ["colour: is not a field of this form"]),
])
def test_bad_start_variables_are_400_naming_them_and_start_nothing(api, change, words):
    variables = {k: v for k, v in {**RECTIFICATION, **change}.items() if v is not None}
    response = api("sup_zhao", "POST", "/process-definition/key/rectification/start",
                   json={"variables": variables})
    assert_error(response, 400, "InvalidRequestException", "Cannot instantiate process definition", *words)
    counted = api("sup_zhao", "GET", "/process-instance/count?processDefinitionKey=rectification")
    assert counted.get_json() == {"count": 0}


def test_only_the_starter_groups_may_start(api):
    assert_error(api("tech_chen", "POST", "/process-definition/key/rectification/start",
                     json={"variables": RECTIFICATION}), 403, "AuthorizationException", "CREATE_INSTANCE")
    assert_error(api("sup_zhao", "POST", "/process-definition/key/nope/start", json={}), 404, "RestException")
    by_id = api("sup_zhao", "GET", "/process-definition/key/rectification").get_json()["id"]
    started = api("admin", "POST", f"/process-definition/{by_id}/start", json={"variables": RECTIFICATION})
    assert started.status_code == 200 and started.get_json()["definitionId"] == by_id
    assert "variables" not in started.get_json()


# --- instances -----------------------------------------------------------------------------------

def test_running_instances_as_each_person_may_see_them(api):
    office = api("cs_zhang", "GET", "/process-instance?processDefinitionKey=service_request"
                                    "&sortBy=businessKey&sortOrder=asc").get_json()
    # SR-DEMO-005 and 006 are finished: the runtime holds the other four.
    assert [i["businessKey"] for i in office] == ["SR-DEMO-001", "SR-DEMO-002", "SR-DEMO-003", "SR-DEMO-004"]
    assert set(office[0]) == {"links", "id", "definitionId", "businessKey", "caseInstanceId", "ended",
                              "suspended", "tenantId"}
    owner = api("owner_li", "GET", "/process-instance?sortBy=businessKey&sortOrder=asc").get_json()
    assert [i["businessKey"] for i in owner] == ["SR-DEMO-002", "SR-DEMO-004"]
    assert api("owner_li", "GET", "/process-instance/count").get_json() == {"count": 2}
    technician = api("tech_liu", "GET", "/process-instance").get_json()
    assert technician == []  # SR-DEMO-004 waits for the owner now, not for him
    paged = api("cs_zhang", "GET", "/process-instance?processDefinitionKey=service_request"
                                   "&sortBy=businessKey&sortOrder=desc&firstResult=1&maxResults=2").get_json()
    assert [i["businessKey"] for i in paged] == ["SR-DEMO-003", "SR-DEMO-002"]
    wang = next(i for i in office if i["businessKey"] == "SR-DEMO-001")
    assert api("owner_wang", "GET", f"/process-instance/{wang['id']}").get_json()["id"] == wang["id"]
    assert_error(api("owner_li", "GET", f"/process-instance/{wang['id']}"), 404, "InvalidRequestException")
    variables = api("owner_wang", "GET", f"/process-instance/{wang['id']}/variables").get_json()
    assert variables["owner_id"] == {"type": "String", "value": "owner_wang", "valueInfo": {}}
    assert variables["started_at"]["type"] == "Date" and CAMUNDA_DATE.match(variables["started_at"]["value"])


def test_a_finished_instance_is_only_in_the_history(api):
    done = api("cs_zhang", "GET", "/history/process-instance?processInstanceBusinessKey=SR-DEMO-005")
    done = done.get_json()
    assert_error(api("cs_zhang", "GET", f"/process-instance/{done[0]['id']}"), 404, "InvalidRequestException")


# --- tasks ---------------------------------------------------------------------------------------

def test_task_lists_follow_the_worklist_rules(api):
    office = api("cs_zhang", "GET", "/task?sortBy=created&sortOrder=asc").get_json()
    assert [t["taskDefinitionKey"] for t in office] == ["Task_Register"]  # SR-DEMO-001's
    assert set(office[0]) == TASK_FIELDS
    assert CAMUNDA_DATE.match(office[0]["created"]) and CAMUNDA_DATE.match(office[0]["due"])
    assert office[0]["priority"] == 100  # a leak: recognised as an emergency
    supervisor = api("sup_zhao", "GET", "/task?sortBy=priority&sortOrder=desc").get_json()
    assert len(supervisor) == api("sup_zhao", "GET", "/task/count").get_json()["count"] >= 4
    assert [t["priority"] for t in supervisor] == sorted((t["priority"] for t in supervisor), reverse=True)
    assert api("sup_zhao", "GET", "/task?candidateGroup=customer_service").get_json() == office
    assert api("sup_zhao", "GET", "/task?candidateUser=cs_zhang").get_json() == office
    assert [t["taskDefinitionKey"] for t in api("owner_li", "GET", "/task").get_json()] == ["Task_Acceptance"]
    assert api("tech_chen", "GET", "/task").get_json() == []
    page = api("sup_zhao", "GET", "/task?sortBy=created&sortOrder=asc&firstResult=1&maxResults=2").get_json()
    assert [t["id"] for t in page] == [t["id"] for t in api(
        "sup_zhao", "GET", "/task?sortBy=created&sortOrder=asc").get_json()][1:3]
    assert_error(api("sup_zhao", "GET", "/task?candidateUser=cs_zhang&candidateGroup=x"), 400,
                 "InvalidRequestException", "candidateUser")
    assert_error(api("sup_zhao", "GET", "/task?dueBefore=2026-13-01"), 400, "InvalidRequestException",
                 "dueBefore")


def test_one_task_and_its_typed_form_variables(api):
    task = open_task(api, "cs_zhang", "SR-DEMO-001", "Task_Register")
    assert api("cs_zhang", "GET", f"/task/{task['id']}").get_json() == task
    form = api("cs_zhang", "GET", f"/task/{task['id']}/form-variables").get_json()
    assert form["building"] == {"type": "String", "value": "3", "valueInfo": {}}
    assert form["registration_note"] == {"type": "String", "value": None, "valueInfo": {}}
    assert set(form) == {"description", "contact_phone", "building", "unit", "service_type",
                         "registration_note"}
    some = api("cs_zhang", "GET", f"/task/{task['id']}/form-variables?variableNames=unit,nope").get_json()
    assert some == {"unit": {"type": "String", "value": "1201", "valueInfo": {}}}
    assert_error(api("tech_chen", "GET", f"/task/{task['id']}"), 404, "InvalidRequestException", task["id"])
    assert_error(api("owner_wang", "GET", f"/task/{task['id']}/form-variables"), 404,
                 "InvalidRequestException")
    assert_error(api("cs_zhang", "GET", "/task/nope"), 404, "InvalidRequestException", "nope")


def test_complete_validates_the_form_then_moves_on(api):
    task = open_task(api, "sup_zhao", "SR-DEMO-002", "Task_Review")
    url = f"/task/{task['id']}/complete"
    missing = api("sup_zhao", "POST", url, json={"variables": {
        "decision": {"value": "reject", "type": "String"}, "priority": {"value": "normal"}}})
    assert_error(missing, 400, "InvalidRequestException", f"Cannot complete task {task['id']}",
                 "rejection_reason: is required")
    wrong = api("sup_zhao", "POST", url, json={"variables": {"decision": {"value": 1, "type": "Boolean"}}})
    assert_error(wrong, 400, "InvalidRequestException", "variable 'decision'", "Boolean")
    assert api("sup_zhao", "GET", f"/task/{task['id']}").status_code == 200  # still open: nothing stored
    assert_error(api("cs_zhang", "POST", url, json={}), 404, "InvalidRequestException")  # not hers to see
    done = api("sup_zhao", "POST", f"/task/{task['id']}/submit-form", json={
        "variables": {"decision": {"value": "approve", "type": "String"},
                      "priority": {"value": "high", "type": "String"}}, "withVariablesInReturn": True})
    assert done.status_code == 200 and done.get_json()["priority"]["value"] == "high"
    again = api("sup_zhao", "POST", url, json={})
    assert_error(again, 409, "InvalidRequestException", "already completed by sup_zhao")
    confirm = open_task(api, "cs_zhang", "SR-DEMO-002", "Task_Confirm")
    assert confirm["priority"] == 75


def test_claim_unclaim_and_the_conflicts_between_them(api):
    task = open_task(api, "cs_zhang", "SR-DEMO-001", "Task_Register")
    claim = f"/task/{task['id']}/claim"
    assert_error(api("cs_zhang", "POST", claim, json={}), 400, "InvalidRequestException", "userId")
    assert api("cs_zhang", "POST", claim, json={"userId": "cs_zhang"}).status_code == 204
    assert api("cs_zhang", "GET", f"/task/{task['id']}").get_json()["assignee"] == "cs_zhang"
    assert api("cs_zhang", "GET", "/task?assignee=cs_zhang&assigned=true").get_json()[0]["id"] == task["id"]
    assert_error(api("sup_zhao", "POST", claim, json={"userId": "sup_zhao"}), 409,
                 "TaskAlreadyClaimedException", "already claimed")
    assert api("sup_zhao", "POST", f"/task/{task['id']}/unclaim").status_code == 204
    assert api("cs_zhang", "GET", f"/task/{task['id']}").get_json()["assignee"] is None
    assert_error(api("tech_chen", "POST", claim, json={"userId": "tech_chen"}), 404,
                 "InvalidRequestException")
    assert_error(api("cs_zhang", "POST", claim, json={"userId": "sup_zhao"}), 403, "AuthorizationException",
                 "TASK_ASSIGN")
    assert_error(api("sup_zhao", "POST", claim, json={"userId": "tech_chen"}), 400, "InvalidRequestException",
                 "not offered to 'tech_chen'")
    assert api("sup_zhao", "POST", claim, json={"userId": "cs_zhang"}).status_code == 204
    assert api("cs_zhang", "GET", f"/task/{task['id']}").get_json()["assignee"] == "cs_zhang"


def test_an_owner_answers_their_own_task_and_nobody_elses(api):
    task = open_task(api, "owner_li", "SR-DEMO-004", "Task_Acceptance")
    assert_error(api("owner_wang", "GET", f"/task/{task['id']}"), 404, "InvalidRequestException")
    assert_error(api("owner_li", "POST", f"/task/{task['id']}/unclaim"), 403, "AuthorizationException")
    assert api("owner_li", "POST", f"/task/{task['id']}/complete", json={
        "variables": {"acceptance": {"value": "accepted", "type": "String"}}}).status_code == 204
    assert [t["taskDefinitionKey"] for t in api("owner_li", "GET", "/task").get_json()] == ["Task_Rate"]


# --- history -------------------------------------------------------------------------------------

def test_historic_instances_with_their_states(api):
    listed = api("cs_zhang", "GET", "/history/process-instance?processDefinitionKey=service_request"
                                    "&sortBy=businessKey&sortOrder=asc").get_json()
    assert [i["businessKey"] for i in listed] == [f"SR-DEMO-00{n}" for n in range(1, 7)]
    assert set(listed[0]) == HISTORIC_INSTANCE_FIELDS
    states = {i["businessKey"]: i["state"] for i in listed}
    assert states["SR-DEMO-001"] == "ACTIVE" and states["SR-DEMO-005"] == "COMPLETED"
    done = next(i for i in listed if i["businessKey"] == "SR-DEMO-005")
    assert done["durationInMillis"] is not None and CAMUNDA_DATE.match(done["endTime"])
    assert done["startActivityId"] == "StartEvent_Submit" and done["startUserId"] == "cs_zhang"
    assert done["processDefinitionVersion"] == 1 and done["rootProcessInstanceId"] == done["id"]
    finished = api("cs_zhang", "GET", "/history/process-instance/count?finished=true"
                                      "&processDefinitionKey=service_request").get_json()
    assert finished == {"count": 2}
    both = api("cs_zhang", "GET", "/history/process-instance/count?finished=true&unfinished=true")
    assert both.get_json() == {"count": 0}
    later = api("cs_zhang", "GET",
                "/history/process-instance/count?startedAfter=2026-01-05T17:00:00.000%2B0800")
    assert later.get_json() == {"count": 0}  # the demo started at 09:00 UTC = 17:00 in Shanghai, not after
    owner = api("owner_wang", "GET", "/history/process-instance").get_json()
    assert sorted(i["businessKey"] for i in owner) == ["SR-DEMO-001", "SR-DEMO-003", "SR-DEMO-005"]
    assert api("owner_wang", "GET", f"/history/process-instance/{done['id']}").get_json() == done
    assert_error(api("owner_li", "GET", f"/history/process-instance/{done['id']}"), 404,
                 "InvalidRequestException")


def test_historic_activities_from_the_audit_trail(api, clock):
    done = api("cs_zhang", "GET", "/history/process-instance?processInstanceBusinessKey=SR-DEMO-005")
    done = done.get_json()[0]
    finished = api("cs_zhang", "GET", f"/history/activity-instance?processInstanceId={done['id']}").get_json()
    assert set(finished[0]) == ACTIVITY_FIELDS
    assert finished[0]["activityType"] == "startEvent" and finished[0]["activityId"] == "StartEvent_Submit"
    assert any(a["activityType"] == "noneEndEvent" and a["completeScope"] for a in finished)
    assert {"serviceTask", "businessRuleTask", "scriptTask", "subProcess"} <= {
        a["activityType"] for a in finished}
    hidden = api("owner_li", "GET", f"/history/activity-instance?processInstanceId={done['id']}")
    assert hidden.get_json() == []

    clock.advance(hours=1)
    review = open_task(api, "sup_zhao", "SR-DEMO-002", "Task_Review")
    assert api("sup_zhao", "POST", f"/task/{review['id']}/complete", json={"variables": {
        "decision": {"value": "approve", "type": "String"},
        "priority": {"value": "normal", "type": "String"}}}).status_code == 204
    url = f"/history/activity-instance?processInstanceId={review['processInstanceId']}&activityType=userTask"
    tasks = api("cs_zhang", "GET", f"{url}&sortBy=startTime&sortOrder=desc").get_json()
    assert [a["activityId"] for a in tasks] == ["Task_Confirm", "Task_Review", "Task_Register"]
    confirm, reviewed, registered = tasks
    assert confirm["endTime"] is None and confirm["durationInMillis"] is None and confirm["assignee"] is None
    assert reviewed["taskId"] == review["id"] and reviewed["assignee"] == "sup_zhao"
    assert reviewed["durationInMillis"] == 3_600_000 and reviewed["canceled"] is False
    assert registered["assignee"] == "cs_zhang" and registered["endTime"] == registered["startTime"]
    assert api("cs_zhang", "GET", f"{url}&maxResults=2&firstResult=1").get_json() == tasks[::-1][1:3]
    assert api("cs_zhang", "GET", url.replace("activity-instance", "activity-instance/count")).get_json() == {
        "count": 3}
    unfinished = api("cs_zhang", "GET", "/history/activity-instance?unfinished=true&activityId=Task_Confirm")
    assert [a["taskId"] for a in unfinished.get_json()] == [confirm["taskId"]]
    assert_error(api("cs_zhang", "GET", f"{url}&sortBy=colour&sortOrder=asc"), 400, "InvalidRequestException")


def test_a_task_a_timer_interrupted_is_canceled_in_the_history(api, app, clock):
    acceptance = open_task(api, "owner_li", "SR-DEMO-004", "Task_Acceptance")
    assert api("owner_li", "POST", f"/task/{acceptance['id']}/complete", json={
        "variables": {"acceptance": {"value": "accepted", "type": "String"}}}).status_code == 204
    rate = open_task(api, "owner_li", "SR-DEMO-004", "Task_Rate")
    clock.advance(days=8)  # nobody rates: the case closes after 7 days
    app.extensions["propflow.engine"].fire_due_timers()
    history = api("cs_zhang", "GET", "/history/activity-instance?activityId=Task_Rate"
                                     f"&processInstanceId={rate['processInstanceId']}").get_json()
    assert [(a["canceled"], a["endTime"] is not None) for a in history] == [(True, True)]
    instance = api("cs_zhang", "GET", f"/history/process-instance/{rate['processInstanceId']}").get_json()
    assert instance["state"] == "COMPLETED" and history[0]["endTime"] == instance["endTime"]
