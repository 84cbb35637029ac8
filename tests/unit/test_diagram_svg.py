"""The browser-free SVG renderer of BPMN diagrams (the dossier's "diagram as SVG"): every element
drawn and findable by id, names shown, marks and notes on the right elements, hostile input refused,
and text escaped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from web.diagram_svg import FONT_FAMILY, INK, MARK_STYLES, render_svg

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))
SERVICE_REQUEST = (ROOT / "bpmn" / "service_request.bpmn").read_bytes()

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
SVG = "{http://www.w3.org/2000/svg}"


def is_flow_element(element: etree._Element) -> bool:
    name = etree.QName(element).localname
    return name.endswith(("Task", "Event", "Gateway")) or name in {
        "task", "subProcess", "callActivity", "transaction", "sequenceFlow", "lane"}

# A collaboration with what the project's diagrams lack: two pools, message flows, an annotation and
# its association, data objects, markers; and names that need escaping.
COLLABORATION = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collab">
    <bpmn:participant id="P_Owner" name="Owner &lt;tenant &amp; co&gt;" processRef="owner_proc" />
    <bpmn:participant id="P_Vendor" name="Vendor" />
    <bpmn:messageFlow id="MF_Order" name="Order" sourceRef="T_Send" targetRef="P_Vendor" />
    <bpmn:textAnnotation id="Ann"><bpmn:text>Ask &lt;b&gt; &amp; "sign"</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="Assoc" sourceRef="T_Send" targetRef="Ann" />
  </bpmn:collaboration>
  <bpmn:process id="owner_proc" isExecutable="true">
    <bpmn:startEvent id="S" name="Start &lt;here&gt;"><bpmn:messageEventDefinition /></bpmn:startEvent>
    <bpmn:sendTask id="T_Send" name="Send &amp; wait" />
    <bpmn:exclusiveGateway id="G" name="OK?" default="F_No" />
    <bpmn:endEvent id="E_Yes" />
    <bpmn:endEvent id="E_No" />
    <bpmn:dataObjectReference id="DO" name="Order form" dataObjectRef="DObj" />
    <bpmn:dataObject id="DObj" />
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="T_Send" />
    <bpmn:sequenceFlow id="F2" sourceRef="T_Send" targetRef="G" />
    <bpmn:sequenceFlow id="F_Yes" name="a &lt; b" sourceRef="G" targetRef="E_Yes">
      <bpmn:conditionExpression>a &lt; b</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F_No" sourceRef="G" targetRef="E_No" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="D">
    <bpmndi:BPMNPlane id="Plane" bpmnElement="Collab">
      <bpmndi:BPMNShape id="P_Owner_di" bpmnElement="P_Owner" isHorizontal="true">
        <dc:Bounds x="100" y="100" width="700" height="250" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="P_Vendor_di" bpmnElement="P_Vendor" isHorizontal="true">
        <dc:Bounds x="100" y="450" width="700" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="S_di" bpmnElement="S"><dc:Bounds x="160" y="182" width="36" height="36" />
        </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="T_Send_di" bpmnElement="T_Send">
        <dc:Bounds x="240" y="160" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="G_di" bpmnElement="G" isMarkerVisible="true">
        <dc:Bounds x="400" y="175" width="50" height="50" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="E_Yes_di" bpmnElement="E_Yes"><dc:Bounds x="512" y="182" width="36" height="36" />
        </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="E_No_di" bpmnElement="E_No"><dc:Bounds x="512" y="272" width="36" height="36" />
        </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="DO_di" bpmnElement="DO"><dc:Bounds x="650" y="160" width="36" height="50" />
        </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Ann_di" bpmnElement="Ann"><dc:Bounds x="380" y="10" width="160" height="40" />
        </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="F1_di" bpmnElement="F1"><di:waypoint x="196" y="200" />
        <di:waypoint x="240" y="200" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="F2_di" bpmnElement="F2"><di:waypoint x="340" y="200" />
        <di:waypoint x="400" y="200" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="F_Yes_di" bpmnElement="F_Yes"><di:waypoint x="450" y="200" />
        <di:waypoint x="512" y="200" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="F_No_di" bpmnElement="F_No"><di:waypoint x="425" y="225" />
        <di:waypoint x="425" y="290" /><di:waypoint x="512" y="290" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="MF_Order_di" bpmnElement="MF_Order"><di:waypoint x="290" y="240" />
        <di:waypoint x="290" y="450" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Assoc_di" bpmnElement="Assoc"><di:waypoint x="320" y="160" />
        <di:waypoint x="380" y="40" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def parse(svg: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(svg.encode(), parser)


def group(root: etree._Element, element_id: str) -> etree._Element:
    found = root.findall(f".//{SVG}g[@data-element-id='{element_id}']")
    assert len(found) == 1, f"{element_id}: {len(found)} groups"
    assert found[0].get("id") == element_id
    return found[0]


def shown_text(root: etree._Element, element_id: str) -> str:
    """The text drawn for an element, inside its group or as its external label, lines joined."""
    holders = [group(root, element_id), *root.findall(f".//{SVG}g[@data-label-for='{element_id}']")]
    return " ".join(" ".join(t.itertext()) for holder in holders for t in holder.iter(f"{SVG}text"))


def squeezed(text: str) -> str:
    return "".join(text.split())


def outline(root: etree._Element, element_id: str) -> etree._Element:
    """The first drawn shape of an element: its rect, circle, diamond or line."""
    return next(child for child in group(root, element_id)
                if child.tag in {f"{SVG}rect", f"{SVG}circle", f"{SVG}polygon", f"{SVG}polyline"})


def marker_colour(root: etree._Element, reference: str) -> str:
    marker_id = reference.removeprefix("url(#").removesuffix(")")
    marker = root.find(f".//{SVG}marker[@id='{marker_id}']")
    return marker[0].get("fill")


def semantic(path: Path) -> tuple[etree._Element, set[str]]:
    definitions = etree.parse(str(path)).getroot()
    with_di = {di.get("bpmnElement") for di in definitions.iter(f"{BPMNDI}BPMNShape", f"{BPMNDI}BPMNEdge")}
    return definitions, with_di


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_flow_node_lane_and_flow_is_drawn_as_a_findable_group(path):
    definitions, with_di = semantic(path)
    root = parse(render_svg(path.read_bytes()))
    expected = [el for el in definitions.find(f"{BPMN}process").iter(f"{BPMN}*") if is_flow_element(el)]
    expected += list(definitions.iter(f"{BPMN}participant"))
    assert len(expected) >= 5  # at least a start, a step, an end and the flows between them
    for element in expected:
        assert element.get("id") in with_di, f"{path.name}: {element.get('id')} has no DI"
        drawn = group(root, element.get("id"))
        assert drawn.get("data-kind") == etree.QName(element).localname


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_name_is_shown_in_full(path):
    definitions, with_di = semantic(path)
    root = parse(render_svg(path.read_bytes()))
    named = [el for el in definitions.iter(f"{BPMN}*")
             if el.get("name") and el.get("id") in with_di]
    assert len(named) >= 3  # at least the start, a step and the end are named
    for element in named:
        shown = shown_text(root, element.get("id"))
        assert squeezed(shown) == squeezed(element.get("name")), element.get("id")


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_the_picture_is_standalone_and_framed(path):
    definitions, _ = semantic(path)
    svg = render_svg(path.read_bytes())
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("font-family") == FONT_FAMILY
    x, y, width, height = map(float, root.get("viewBox").split())
    assert float(root.get("width")) >= width and float(root.get("height")) >= height
    for bounds in definitions.iter(f"{DC}Bounds"):
        bx, by = float(bounds.get("x")), float(bounds.get("y"))
        assert x < bx and bx + float(bounds.get("width")) < x + width
        assert y < by and by + float(bounds.get("height")) < y + height
    assert not root.findall(f".//{SVG}script") and not root.findall(f".//{SVG}image")
    assert not root.findall(f".//{SVG}foreignObject")
    assert "href" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert all(v.startswith("url(#") for el in root.iter() for k, v in el.attrib.items() if "url(" in v)


def test_service_request_task_names_are_wrapped_inside_their_boxes():
    root = parse(render_svg(SERVICE_REQUEST))
    register = group(root, "Task_Register")
    lines = [t.text for t in register.iter(f"{SVG}tspan")]
    assert lines == ["申请登记", "Register request"] or lines == ["申请登记", "Register", "request"]
    rect = register.find(f"{SVG}rect")
    assert float(rect.get("rx")) == 10
    top, bottom = float(rect.get("y")), float(rect.get("y")) + float(rect.get("height"))
    assert all(top < float(t.get("y")) < bottom for t in register.iter(f"{SVG}tspan"))
    assert "Intake and response" in shown_text(root, "SubProcess_Intake")
    assert "Customer service" in shown_text(root, "Lane_CustomerService")


def test_shapes_follow_the_bpmn_notation():
    root = parse(render_svg(SERVICE_REQUEST))
    assert float(outline(root, "StartEvent_Submit").get("stroke-width")) == 2
    assert float(outline(root, "EndEvent_IntakeConfirmed").get("stroke-width")) == 4
    boundary = group(root, "BoundaryEvent_ResponseDeadline").findall(f"{SVG}circle")
    assert len(boundary) >= 3  # double ring and the clock face
    assert boundary[0].get("stroke-dasharray")  # non-interrupting
    assert group(root, "Gateway_Approved").find(f"{SVG}polygon").get("points").count(",") == 4
    assert group(root, "Gateway_Approved").find(f"{SVG}path") is not None  # the X
    flow = group(root, "Flow_ToRegister").find(f"{SVG}polyline")
    assert flow.get("marker-end", "").startswith("url(#")
    assert marker_colour(root, flow.get("marker-end")) == INK
    assert group(root, "Flow_Approve").find(f"{SVG}line[@class='default-marker']") is not None
    assert group(root, "Flow_Reject").find(f"{SVG}line[@class='default-marker']") is None


def test_marks_colour_the_marked_elements_only():
    marks = {"Task_Register": "done", "Task_Review": "active", "BoundaryEvent_ResponseDeadline": "breached",
             "Flow_ToRegister": "taken"}
    root = parse(render_svg(SERVICE_REQUEST, marks=marks))
    done, active = outline(root, "Task_Register"), outline(root, "Task_Review")
    assert done.get("stroke") == MARK_STYLES["done"].stroke
    assert active.get("stroke") == MARK_STYLES["active"].stroke
    assert active.get("fill") == MARK_STYLES["active"].fill
    assert float(active.get("stroke-width")) > float(outline(root, "Task_Confirm").get("stroke-width"))
    assert outline(root, "BoundaryEvent_ResponseDeadline").get("stroke") == MARK_STYLES["breached"].stroke
    taken = outline(root, "Flow_ToRegister")
    assert taken.get("stroke") == MARK_STYLES["taken"].stroke
    assert marker_colour(root, taken.get("marker-end")) == MARK_STYLES["taken"].stroke
    assert group(root, "Task_Review").get("data-mark") == "active"
    for unmarked in ("Task_Confirm", "Flow_ToReview", "StartEvent_Submit"):
        assert outline(root, unmarked).get("stroke") == INK
        assert group(root, unmarked).get("data-mark") is None


def test_a_mark_that_is_not_one_of_the_four_is_refused():
    with pytest.raises(ValueError, match="unknown mark 'finished' for 'Task_Register'"):
        render_svg(SERVICE_REQUEST, marks={"Task_Register": "finished"})


def test_notes_are_drawn_near_their_element_and_unknown_ids_are_ignored():
    text = "陈师傅 · 2026-01-05 10:40 · 35 min"
    root = parse(render_svg(SERVICE_REQUEST, notes={"Task_Register": text, "Nope": "x",
                                                     "Flow_ToReview": "10:40"}))
    notes = root.findall(f".//{SVG}g[@data-note-for]")
    assert sorted(n.get("data-note-for") for n in notes) == ["Flow_ToReview", "Task_Register"]
    note = next(n for n in notes if n.get("data-note-for") == "Task_Register")
    assert " ".join(note.find(f"{SVG}text").itertext()) == text
    box, task = note.find(f"{SVG}rect"), outline(root, "Task_Register")
    assert abs(float(box.get("x")) - float(task.get("x"))) < 1
    assert 0 < float(task.get("y")) - float(box.get("y")) - float(box.get("height")) < 10


def test_text_is_escaped():
    hostile = "<script>alert('x')</script> & more"
    svg = render_svg(COLLABORATION, notes={"T_Send": hostile})
    root = parse(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert not root.findall(f".//{SVG}script")
    assert squeezed(shown_text(root, "P_Owner")) == squeezed("Owner <tenant & co>")
    assert squeezed(shown_text(root, "S")) == "Start<here>"
    assert squeezed(shown_text(root, "T_Send")) == "Send&wait"
    assert squeezed(shown_text(root, "F_Yes")) == "a<b"
    assert squeezed(shown_text(root, "Ann")) == squeezed('Ask <b> & "sign"')
    note = root.find(f".//{SVG}g[@data-note-for='T_Send']")
    assert " ".join(note.find(f"{SVG}text").itertext()) == hostile


def test_collaboration_flows_pools_and_artifacts():
    root = parse(render_svg(COLLABORATION, marks={"MF_Order": "taken"}))
    for element_id in ("P_Owner", "P_Vendor", "S", "T_Send", "G", "E_Yes", "E_No", "DO", "Ann",
                       "F1", "F2", "F_Yes", "F_No", "MF_Order", "Assoc"):
        group(root, element_id)
    message = outline(root, "MF_Order")
    assert message.get("stroke-dasharray") and message.get("marker-start") and message.get("marker-end")
    assert message.get("stroke") == MARK_STYLES["taken"].stroke
    association = outline(root, "Assoc")
    assert association.get("stroke-dasharray") and association.get("marker-end") is None
    assert outline(root, "F1").get("stroke-dasharray") is None
    assert group(root, "F_No").find(f"{SVG}line[@class='default-marker']") is not None
    assert group(root, "G").find(f"{SVG}path") is not None
    assert squeezed(shown_text(root, "DO")) == "Orderform"


def test_process_id_picks_the_diagram_and_an_unknown_one_is_refused():
    assert 'data-element-id="T_Send"' in render_svg(COLLABORATION, process_id="owner_proc")
    with pytest.raises(ValueError, match="no diagram for process 'other'"):
        render_svg(COLLABORATION, process_id="other")


HOSTILE = {
    "external entity": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
                       b'<bpmn:process id="p" name="&x;"/></bpmn:definitions>',
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                      b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
                      b'<bpmn:process id="p" name="&b;"/></bpmn:definitions>',
    "entity in text": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                      b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
                      b'<bpmn:process id="p"><bpmn:documentation>&x;</bpmn:documentation></bpmn:process>'
                      b'</bpmn:definitions>',
    "plain doctype": b'<?xml version="1.0"?><!DOCTYPE definitions>' + COLLABORATION.split(b"?>", 1)[1],
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_doctype_and_entities_are_refused(content):
    with pytest.raises(ValueError, match="DOCTYPE"):
        render_svg(content)


@pytest.mark.parametrize(("content", "message"), [
    (b"<bpmn:definitions", "not well-formed XML"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a BPMN 2.0"),
    (COLLABORATION.split(b"<bpmndi:BPMNDiagram")[0] + b"</bpmn:definitions>", "no diagram interchange"),
], ids=["malformed", "not bpmn", "no DI"])
def test_other_bad_input_is_refused_with_a_clear_message(content, message):
    with pytest.raises(ValueError, match=message):
        render_svg(content)


def test_the_widest_diagram_renders_well_under_a_second():
    started = time.perf_counter()
    render_svg(SERVICE_REQUEST, marks={"Task_Register": "done"}, notes={"Task_Register": "ok"})
    assert time.perf_counter() - started < 0.5
