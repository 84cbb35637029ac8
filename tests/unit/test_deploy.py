"""Deployment: versions, duplicate filtering, and every kind of bad diagram refused with
the element named while the previous version stays live."""

import pytest
from sqlalchemy import func, select

from engine import InvalidDiagram
from engine.models import Deployment, ProcessDefinition
from tests.conftest import FIXTURES, read_files

APPROVAL = (FIXTURES / "approval.bpmn").read_text()


def approval(text: str = APPROVAL, name: str = "approval.bpmn") -> dict[str, bytes]:
    return {name: text.encode()}


def variant(old: str, new: str) -> dict[str, bytes]:
    assert old in APPROVAL, old
    return approval(APPROVAL.replace(old, new, 1))


def refused(engine, files) -> list:
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy(files, name="bad")
    return caught.value.problems


def test_deploy_creates_version_one_and_then_two(engine):
    first = engine.deploy(approval(), name="approval")
    second = engine.deploy(variant('name="Approve"', 'name="Approve order"'), name="approval")
    assert [d.version for d in first.definitions] == [1]
    assert [d.version for d in second.definitions] == [2]
    assert engine.latest_definition("approval").id == second.definitions[0].id
    assert [d.version for d in engine.definitions("approval")] == [1, 2]


def test_duplicate_filtering_returns_the_existing_deployment(engine):
    first = engine.deploy(approval(), name="approval")
    again = engine.deploy(approval(), name="approval", duplicate_filtering=True)
    assert again.duplicate and again.id == first.id
    assert [d.version for d in engine.definitions("approval")] == [1]
    without = engine.deploy(approval(), name="approval")
    assert without.definitions[0].version == 2


def test_changed_only_skips_unchanged_processes(engine):
    engine.deploy(approval(), name="approval")
    result = engine.deploy(approval(), name="approval", changed_only=True)
    assert result.duplicate
    changed = engine.deploy(variant('name="Chase approver"', 'name="Remind"'), name="approval",
                            changed_only=True)
    assert [d.version for d in changed.definitions] == [2]


def test_running_instances_keep_their_version(engine):
    engine.deploy(approval(), name="approval")
    old = engine.start("approval", {"amount": 5})
    engine.deploy(variant('name="Approve"', 'name="Approve v2"'), name="approval")
    new = engine.start("approval", {"amount": 5})
    assert old.definition_id != new.definition_id
    assert [t.name for t in engine.instance(old.id).open_tasks] == ["Approve"]
    assert [t.name for t in new.open_tasks] == ["Approve v2"]
    task = engine.instance(old.id).open_tasks[0]
    done = engine.complete_user_task(task.id, {"approved": True}, user="m")
    assert done.end_event_id == "EndApproved"


def test_the_original_file_is_kept(engine):
    deployed = engine.deploy(approval(), name="approval")
    name, content = engine.definition_resource(deployed.definitions[0].id)
    assert name == "approval.bpmn" and content == APPROVAL.encode()


BAD = {
    "not xml": (approval("<bpmn:definitions"), None, "not well-formed XML"),
    "xxe": (approval('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                     + APPROVAL.split("?>", 1)[1]), None, "DOCTYPE"),
    "billion laughs": (approval('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">'
                                '<!ENTITY b "&a;&a;&a;&a;">]>' + APPROVAL.split("?>", 1)[1]),
                       None, "DOCTYPE"),
    "unknown form field type": (variant('type="long"', 'type="money"'), "StartEvent_1",
                                "unknown type 'money'"),
    "unknown constraint": (variant('name="min" config="1"', 'name="positive"'), "StartEvent_1",
                           "unknown constraint 'positive'"),
    "bad timer literal": (variant(">PT2H<", ">PT2X<"), "Reminder", "timeDuration"),
    "method call in condition": (variant("${approved &amp;&amp; amount &lt; 1000}",
                                         "${execution.getVariable('approved')}"),
                                 "F4", "method calls"),
    "reserved id": (approval(APPROVAL.replace("StartEvent_1", "Start")), "Start", "reserved"),
    "script syntax": (variant('due = add_duration(started_at, "PT4H")', "due = = 1"), "SetDue",
                      "syntax error"),
    "import in script": (variant('due = add_duration(started_at, "PT4H")',
                                 "os = __import__('os')"), "SetDue", "not allowed"),
    "subclasses escape": (variant('due = add_duration(started_at, "PT4H")',
                                  "x = ().__class__.__mro__[1].__subclasses__()"), "SetDue",
                          "not allowed"),
    "escape in condition": (variant("${approved &amp;&amp; amount &lt; 1000}",
                                    "().__class__.__bases__[0].__subclasses__()"), "F4",
                            "not allowed"),
    "java delegate": (variant('<bpmn:scriptTask id="SetDue" name="Set due" scriptFormat="python">',
                              '<bpmn:scriptTask id="SetDue" name="Set due" scriptFormat="groovy">'),
                      "SetDue", "script format 'groovy'"),
    "not bpmn": ({"x.xml": b"<html/>"}, None, "not a BPMN 2.0 or DMN file"),
    "dangling flow": (variant('targetRef="EndRejected" />', 'targetRef="Nowhere" />'), None, ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_diagrams_are_refused_naming_the_element(engine, case):
    files, element, message = BAD[case]
    engine.deploy(approval(), name="approval")
    problems = refused(engine, files)
    assert problems
    if element:
        assert element in {p.element_id for p in problems}, problems
    assert any(message in p.message for p in problems), problems
    # Nothing stored, and the previous version is still the one that starts.
    assert [d.version for d in engine.definitions("approval")] == [1]
    assert engine.start("approval", {"amount": 3}).open_tasks[0].name == "Approve"


def test_refused_deployment_stores_nothing(engine, sa_engine):
    refused(engine, variant('type="long"', 'type="money"'))
    with sa_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Deployment)) == 0
        assert connection.scalar(select(func.count()).select_from(ProcessDefinition)) == 0


def test_every_problem_is_reported_at_once(engine):
    text = APPROVAL.replace('type="long"', 'type="money"').replace(">PT2H<", ">PT2X<")
    problems = refused(engine, approval(text))
    assert {p.element_id for p in problems} >= {"StartEvent_1", "Reminder"}


def test_problem_text_names_file_element_and_line(engine):
    problem = refused(engine, variant(">PT2H<", ">PT2X<"))[0]
    assert str(problem).startswith("approval.bpmn, element 'Reminder', line ")


def test_decision_referenced_but_not_deployed_is_refused(engine):
    with pytest.raises(InvalidDiagram):
        engine.deploy(read_files("service_request.bpmn"), name="no dmn")


def test_the_same_element_id_in_two_files_of_one_deployment_stays_apart(engine):
    """Ids are unique within a file only: the approval's ``Approve`` must not take the
    other file's groups (a found bug: one catalogue served every process deployed together)."""
    other = (APPROVAL.replace('id="approval"', 'id="approval_b"')
             .replace('name="Approval"', 'name="Approval B"')
             .replace('camunda:candidateGroups="managers"', 'camunda:candidateGroups="directors"'))
    engine.deploy({**approval(), **approval(other, "approval_b.bpmn")}, name="both")
    first = engine.start("approval", {"amount": 1})
    second = engine.start("approval_b", {"amount": 1})
    assert first.open_tasks[0].candidate_groups == ("managers",)
    assert second.open_tasks[0].candidate_groups == ("directors",)


def test_preview_lists_what_would_change_and_stores_nothing(engine, sa_engine):
    engine.deploy(approval(), name="approval")
    same = engine.preview_deployment(approval())
    assert same.deployable and [(p.key, p.live_version, p.unchanged, p.changes) for p in same.processes] == [
        ("approval", 1, True, ())]
    edited = engine.preview_deployment(variant('name="Approve" camunda:candidateGroups="managers"',
                                               'name="Approve it" camunda:candidateGroups="directors"'))
    [process] = edited.processes
    assert not process.unchanged
    assert [(c.id, c.change, c.fields) for c in process.changes] == [
        ("Approve", "changed", ("name", "candidate groups"))]
    broken = engine.preview_deployment(approval("<bpmn:definitions"))
    assert not broken.deployable and broken.processes == ()
    with sa_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ProcessDefinition)) == 1


def test_a_process_compiled_the_same_is_unchanged_whatever_came_with_it(engine):
    """Camunda Modeler deploys one diagram with its decision tables; the demo deployed
    every file at once. The same process is no new version."""
    files = read_files("service_request.bpmn", "priority_proposal.dmn", "service_level.dmn",
                       "rectification.bpmn")
    engine.deploy(files, name="all")
    alone = read_files("service_request.bpmn", "priority_proposal.dmn", "service_level.dmn")
    again = engine.deploy(alone, name="from the Modeler", duplicate_filtering=True)
    assert again.duplicate
    assert [d.version for d in engine.definitions("service_request")] == [1]
