"""The worklist's order: urgent priorities first when asked, then soonest due, then oldest."""

TRIAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="triage" isExecutable="true">
    <bpmn:startEvent id="Begin"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Handle" name="Handle" camunda:candidateGroups="staff" camunda:dueDate="${due}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="Finish"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Begin" targetRef="Handle" />
    <bpmn:sequenceFlow id="f2" sourceRef="Handle" targetRef="Finish" />
  </bpmn:process>
</bpmn:definitions>"""


def test_urgent_priorities_come_first_whatever_their_due_time(engine, clock):
    engine.deploy({"triage.bpmn": TRIAGE}, name="triage")
    for hour, priority in enumerate(("normal", "urgent", "emergency", None), start=10):
        engine.start("triage", {"due": f"2026-01-05T{hour}:00:00+00:00", "priority": priority})
    by_due = [t.priority for t in engine.user_tasks(process_key="triage")]
    assert by_due == ["normal", "urgent", "emergency", None]
    first = ("emergency", "urgent")
    ranked = [t.priority for t in engine.user_tasks(process_key="triage", urgent_first=first)]
    assert ranked == ["emergency", "urgent", "normal", None]
