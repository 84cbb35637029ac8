"""Read deployment files safely and describe their elements for the rest of the engine.

Two jobs, both done on the XML before the library sees it:

* :func:`parse_xml` refuses DTDs and entities (billion-laughs, external entities) and
  never touches the network.
* :func:`prepare_bpmn` / :func:`prepare_dmn` translate Camunda-style expressions in place
  (see :mod:`engine.expressions`), check scripts and forms, and collect an
  :class:`ElementInfo` per flow node: its form, candidate groups, assignee, due date,
  lane and ``camunda:properties``. The library drops most of these, so the engine reads
  them from here, never from the library's task specs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import expressions
from .errors import DiagramProblem
from .forms import CONSTRAINTS, FIELD_TYPES, FormDefinition, FormField, coerce_value
from .scripting import UnsafeSource, compile_expression, compile_script

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
# Nothing here processes XInclude, but a diagram asking for it is refused rather than kept
# for whatever reads the stored file later.
XINCLUDE_TAGS = ("{http://www.w3.org/2001/XInclude}*", "{http://www.w3.org/2003/XInclude}*")
REQUIRED_IF_PROPERTY = "propflow.requiredIf"
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
_FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "task", "userTask", "manualTask", "scriptTask", "serviceTask",
    "sendTask", "receiveTask", "businessRuleTask", "callActivity", "subProcess",
    "transaction", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway",
}


@dataclass(frozen=True)
class ElementInfo:
    id: str
    kind: str
    name: str = ""
    lane: str | None = None
    documentation: str = ""
    form: FormDefinition | None = None
    candidate_groups: tuple[str, ...] = ()
    candidate_users: tuple[str, ...] = ()
    assignee: str | None = None  # Python expression, already translated
    due_date: str | None = None  # Python expression, already translated
    properties: dict[str, str] = field(default_factory=dict)
    # False for elements reached only from a boundary event (escalation branches): their
    # end events do not describe how the case ended.
    main_path: bool = True
    # On a process's start event: camunda:candidateStarterGroups of the process, the
    # roles that may start it by hand.
    starter_groups: tuple[str, ...] = ()
    # On an external service task: its camunda:topic.
    topic: str | None = None
    # On a message event or receive task: the message's name; on an error boundary event:
    # the error code it catches (None catches every error).
    message: str | None = None
    error_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "form"}
        data["form"] = self.form.to_dict() if self.form is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ElementInfo:
        data = dict(data)
        form = data.pop("form")
        data["candidate_groups"] = tuple(data["candidate_groups"])
        data["candidate_users"] = tuple(data["candidate_users"])
        data["starter_groups"] = tuple(data.get("starter_groups", ()))
        return cls(form=FormDefinition.from_dict(form) if form else None, **data)


@dataclass
class PreparedBpmn:
    tree: etree._Element
    filename: str
    executable_processes: list[tuple[str, str]]  # (id, name)
    elements: dict[str, ElementInfo]
    problems: list[DiagramProblem]
    start_timers: dict[str, StartTimer] = field(default_factory=dict)  # by process id


@dataclass(frozen=True)
class StartTimer:
    """A timer start event: the application starts a new instance each time it is due."""

    element_id: str
    kind: str  # timeDate, timeDuration or timeCycle
    value: str  # the ISO 8601 literal


class _SafeResolver(etree.Resolver):
    def resolve(self, url, pubid, context):  # pragma: no cover - lxml calls only on DTDs
        raise etree.XMLSyntaxError("external references are not allowed", None, 0, 0)


def parse_xml(content: bytes, filename: str) -> tuple[etree._Element | None, DiagramProblem | None]:
    """Parse untrusted XML: no DTD, no entities, no network."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False,
    )
    parser.resolvers.add(_SafeResolver())
    try:
        tree = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        return None, DiagramProblem(f"the file is not well-formed XML: {exc.msg}", filename,
                                    line=exc.lineno)
    doctype = tree.getroottree().docinfo
    if doctype.doctype or doctype.internalDTD is not None:
        return None, DiagramProblem(
            "DOCTYPE declarations and entities are not allowed in diagrams", filename, line=1)
    included = next(iter(tree.iter(*XINCLUDE_TAGS)), None)
    if included is not None:
        return None, DiagramProblem("XInclude is not allowed in diagrams", filename, line=included.sourceline)
    return tree, None


def is_bpmn(tree: etree._Element) -> bool:
    return etree.QName(tree).namespace == BPMN_NS


def is_dmn(tree: etree._Element) -> bool:
    return etree.QName(tree).namespace in DMN_NAMESPACES


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _camunda(element: etree._Element, name: str) -> str | None:
    return element.get(f"{{{CAMUNDA_NS}}}{name}")


class _Collector:
    """Gathers problems with the element they belong to."""

    def __init__(self, filename: str):
        self.filename = filename
        self.problems: list[DiagramProblem] = []

    def add(self, element: etree._Element, message: str) -> None:
        owner = element
        # Form fields have ids of their own; the element a person looks for is the
        # BPMN/DMN one that holds them.
        while owner is not None and (
            owner.get("id") is None or etree.QName(owner).namespace == CAMUNDA_NS
        ):
            owner = owner.getparent()
        self.problems.append(DiagramProblem(
            message, self.filename, owner.get("id") if owner is not None else None,
            element.sourceline))


def prepare_bpmn(tree: etree._Element, filename: str) -> PreparedBpmn:
    problems = _Collector(filename)
    _translate_conditions(tree, problems)
    _translate_timers(tree, problems)
    start_timers = _take_start_timers(tree, problems)
    _check_scripts(tree, problems)
    _check_service_tasks(tree, problems)
    lanes = _lanes_by_node(tree)
    executable = [
        (p.get("id"), p.get("name") or p.get("id"))
        for p in tree.iterfind("bpmn:process", NS)
        if p.get("isExecutable", "true") != "false"
    ]
    reserved = _reserved_ids(p for p, _ in executable)
    main = _main_path_ids(tree)
    elements: dict[str, ElementInfo] = {}
    for element in tree.iter(f"{{{BPMN_NS}}}*"):
        if _local(element) in _FLOW_NODE_TAGS and element.get("id"):
            if element.get("id") in reserved:
                problems.add(element, f"the id '{element.get('id')}' is reserved by the engine; "
                                      "rename the element (for example StartEvent_1)")
            elements[element.get("id")] = _element_info(element, lanes, problems,
                                                        element.get("id") in main)
    _check_lengths(tree, elements, problems)
    return PreparedBpmn(tree, filename, executable, elements, problems.problems, start_timers)


# How long the text the engine keeps in columns may be. Longer text deploys on SQLite and
# fails on PostgreSQL at the first instance that reaches it, so it is refused here. A
# process id leaves room for ":<version>:<uuid>" in its definition's id.
_LENGTHS = {"process id": 200, "process name": 255, "id": 255, "name": 255, "lane": 255, "topic": 255,
            "message": 255, "deadline": 64}


def _check_lengths(tree: etree._Element, elements: dict[str, ElementInfo], problems: _Collector) -> None:
    def check(element: etree._Element, what: str, value: str | None) -> None:
        if value is not None and len(value) > _LENGTHS[what]:
            problems.add(element, f"the {what} is longer than {_LENGTHS[what]} characters")

    for process in tree.iterfind("bpmn:process", NS):
        check(process, "process id", process.get("id"))
        check(process, "process name", process.get("name"))
    for element in tree.iter(f"{{{BPMN_NS}}}*"):
        info = elements.get(element.get("id"))
        if info is None or info.id != element.get("id"):
            continue
        deadline = info.properties.get("propflow.deadline")
        for what, value in (("id", info.id), ("name", info.name), ("lane", info.lane), ("topic", info.topic),
                            ("message", info.message), ("deadline", deadline)):
            check(element, what, value)


def _take_start_timers(tree: etree._Element, problems: _Collector) -> dict[str, StartTimer]:
    """Record each process's timer start event and remove the timer from what the library
    parses: the library would make every instance wait for the timer and then add tokens
    to that one instance, where a periodic process wants a new instance each period."""
    found: dict[str, StartTimer] = {}
    for process in tree.iterfind("bpmn:process", NS):
        for start in process.iterfind("bpmn:startEvent", NS):
            timer = start.find("bpmn:timerEventDefinition", NS)
            if timer is None:
                continue
            body = next((c for c in timer if _local(c) in TIMER_KINDS), None)
            literal = _literal(body.text if body is not None else None)
            if body is None or literal is None:
                problems.add(start, "a timer start event needs a fixed date, duration or cycle "
                                    "(such as R/2026-01-05T09:00:00+08:00/P7D)")
                continue
            found[process.get("id")] = StartTimer(start.get("id"), _local(body), literal)
            start.remove(timer)
    return found


def _literal(python: str | None) -> str | None:
    """The string a translated timer expression stands for, if it is a plain literal."""
    try:
        value = ast.literal_eval(python or "")
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _main_path_ids(tree: etree._Element) -> set[str]:
    """Flow nodes reachable from a start event by sequence flows, in every process and
    subprocess. An interrupting boundary event carries the case on (its activity is
    cancelled), so it and its path count; what hangs off a non-interrupting one — an
    escalation beside the work — does not."""
    main: set[str] = set()
    containers = [*tree.iterfind(".//bpmn:process", NS), *tree.iterfind(".//bpmn:subProcess", NS),
                  *tree.iterfind(".//bpmn:transaction", NS)]
    for container in containers:
        targets: dict[str, list[str]] = {}
        for flow in container.iterfind("bpmn:sequenceFlow", NS):
            targets.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
        for boundary in container.iterfind("bpmn:boundaryEvent", NS):
            if boundary.get("cancelActivity", "true") != "false":
                targets.setdefault(boundary.get("attachedToRef"), []).append(boundary.get("id"))
        pending = [start.get("id") for start in container.iterfind("bpmn:startEvent", NS)]
        while pending:
            node = pending.pop()
            if node not in main:
                main.add(node)
                pending.extend(targets.get(node, ()))
    return main


def _reserved_ids(process_ids) -> set[str]:
    """Names the library gives its own task specs; an element with one is silently lost."""
    reserved = {"Start", "End", "Root"}
    for process_id in process_ids:
        reserved.add(f"{process_id}.EndJoin")
    return reserved


def _translate_conditions(tree: etree._Element, problems: _Collector) -> None:
    for expr in tree.iterfind(".//bpmn:conditionExpression", NS):
        if expr.get("language") not in (None, "", "python", "juel"):
            problems.add(expr, f"condition language '{expr.get('language')}' is not supported; "
                               "write a ${…} expression or Python")
            continue
        _translate_text(expr, problems, "condition", expressions.python_expression)
    for expr in tree.iterfind(".//bpmn:completionCondition", NS):
        _translate_text(expr, problems, "completion condition", expressions.python_expression)
    for expr in tree.iterfind(".//bpmn:loopCardinality", NS):
        _translate_text(expr, problems, "loop cardinality", expressions.python_expression)


def _translate_text(element, problems: _Collector, what: str, translate) -> None:
    try:
        element.text = translate(element.text or "")
        compile_expression(element.text)
    except expressions.Untranslatable as exc:
        problems.add(element, f"{what}: {exc}")
    except UnsafeSource as exc:
        problems.add(element, f"{what}: {exc}")


def _translate_timers(tree: etree._Element, problems: _Collector) -> None:
    for timer in tree.iterfind(".//bpmn:timerEventDefinition", NS):
        bodies = [child for child in timer if _local(child) in TIMER_KINDS]
        if len(bodies) != 1:
            problems.add(timer, "a timer needs exactly one of timeDate, timeDuration, timeCycle")
            continue
        body = bodies[0]
        kind = _local(body)
        _translate_text(body, problems, kind, lambda text, k=kind: expressions.timer_expression(k, text))


def _check_scripts(tree: etree._Element, problems: _Collector) -> None:
    for task in tree.iterfind(".//bpmn:scriptTask", NS):
        script_format = (task.get("scriptFormat") or "python").lower()
        if script_format not in ("python", "python3"):
            problems.add(task, f"script format '{script_format}' is not supported; use python")
            continue
        script = task.find("bpmn:script", NS)
        if script is None or not (script.text or "").strip():
            problems.add(task, "the script task has no script")
            continue
        try:
            tree_ = ast.parse(script.text)
            if any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in ast.walk(tree_)):
                problems.add(task, "scripts may not import modules; the functions they may use "
                                   "are provided (add_duration, contains, len, min, max, …)")
                continue
            compile_script(script.text)
        except SyntaxError as exc:
            problems.add(task, f"the script has a syntax error on line {exc.lineno}: {exc.msg}")
        except UnsafeSource as exc:
            problems.add(task, str(exc))


def _check_service_tasks(tree: etree._Element, problems: _Collector) -> None:
    for tag in ("serviceTask", "sendTask"):
        for task in tree.iterfind(f".//bpmn:{tag}", NS):
            for attribute in ("class", "delegateExpression", "expression"):
                if _camunda(task, attribute):
                    problems.add(task, f"camunda:{attribute} (Java code) cannot run here; "
                                       "use an external task (camunda:type=\"external\")")


def _lanes_by_node(tree: etree._Element) -> dict[str, str]:
    lanes: dict[str, str] = {}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    return lanes


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _element_info(element, lanes: dict[str, str], problems: _Collector, main_path: bool) -> ElementInfo:
    doc = element.find("bpmn:documentation", NS)
    properties = {
        p.get("name"): p.get("value") or ""
        for p in element.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS)
    }
    form_data = element.find("bpmn:extensionElements/camunda:formData", NS)
    return ElementInfo(
        id=element.get("id"),
        kind=_local(element),
        name=" ".join((element.get("name") or "").split()),
        lane=lanes.get(element.get("id")),
        documentation=(doc.text or "").strip() if doc is not None else "",
        form=_parse_form(form_data, problems) if form_data is not None else None,
        candidate_groups=_assignment_list(element, "candidateGroups", problems),
        candidate_users=_assignment_list(element, "candidateUsers", problems),
        assignee=_assignment_expression(element, "assignee", problems),
        due_date=_assignment_expression(element, "dueDate", problems),
        properties=properties,
        main_path=main_path,
        starter_groups=_starter_groups(element),
        topic=_camunda(element, "topic") if _camunda(element, "type") == "external" else None,
        message=_referenced_name(element, "messageEventDefinition", "messageRef", "message", "name"),
        error_code=_referenced_name(element, "errorEventDefinition", "errorRef", "error", "errorCode"),
    )


def _referenced_name(element, definition: str, reference: str, tag: str, attribute: str) -> str | None:
    """The name (or code) of the bpmn:message / bpmn:error an event definition refers to."""
    found = element.find(f"bpmn:{definition}", NS)
    ref = found.get(reference) if found is not None else (
        element.get(reference) if _local(element) == "receiveTask" and definition == "messageEventDefinition"
        else None)
    if not ref:
        return None
    target = element.getroottree().getroot().find(f"bpmn:{tag}[@id='{ref}']", NS)
    return target.get(attribute) if target is not None else None


def _starter_groups(element) -> tuple[str, ...]:
    parent = element.getparent()
    if _local(element) != "startEvent" or parent is None or _local(parent) != "process":
        return ()
    return _split(_camunda(parent, "candidateStarterGroups"))


def _assignment_list(element, attribute: str, problems: _Collector) -> tuple[str, ...]:
    """Literal lists stay literal; a ${…} entry is kept as ``=expr`` for run time."""
    values = []
    for value in _split(_camunda(element, attribute)):
        if expressions.is_juel(value):
            try:
                values.append("=" + expressions.juel_to_python(value))
            except expressions.Untranslatable as exc:
                problems.add(element, f"camunda:{attribute}: {exc}")
        else:
            values.append(value)
    return tuple(values)


def _assignment_expression(element, attribute: str, problems: _Collector) -> str | None:
    value = _camunda(element, attribute)
    if not value:
        return None
    if not expressions.is_juel(value):
        return repr(value)
    try:
        return expressions.juel_to_python(value)
    except expressions.Untranslatable as exc:
        problems.add(element, f"camunda:{attribute}: {exc}")
        return None


def _parse_form(form_data, problems: _Collector) -> FormDefinition:
    fields = []
    seen: set[str] = set()
    for xml_field in form_data.iterfind("camunda:formField", NS):
        form_field = _parse_field(xml_field, problems)
        if form_field is None:
            continue
        if form_field.id in seen:
            problems.add(xml_field, f"form field '{form_field.id}' is declared twice")
        seen.add(form_field.id)
        fields.append(form_field)
    for form_field in fields:
        if form_field.required_if and form_field.required_if[0] not in seen:
            problems.add(form_data, f"form field '{form_field.id}': requiredIf refers to "
                                    f"unknown field '{form_field.required_if[0]}'")
    return FormDefinition(tuple(fields))


def _parse_field(xml_field, problems: _Collector) -> FormField | None:
    field_id = xml_field.get("id")
    kind = xml_field.get("type") or "string"
    if not field_id or not field_id.isidentifier() or field_id.startswith("_"):
        # A leading underscore is the sandbox's own namespace (its guards, __builtins__).
        problems.add(xml_field, f"form field id '{field_id}' must be a valid variable name "
                                "not starting with _")
        return None
    if kind not in FIELD_TYPES:
        problems.add(xml_field, f"form field '{field_id}' has unknown type '{kind}' "
                                f"(supported: {', '.join(FIELD_TYPES)})")
        return None
    options = tuple(
        (value.get("id"), value.get("name") or value.get("id"))
        for value in xml_field.iterfind("camunda:value", NS)
    )
    if kind == "enum" and not options:
        problems.add(xml_field, f"enum form field '{field_id}' has no values")
    constraints = _constraints(xml_field, field_id, problems)
    properties = tuple(
        (p.get("id"), p.get("value") or "")
        for p in xml_field.iterfind("camunda:properties/camunda:property", NS)
    )
    # Conditional requirement is a field property rather than a constraint: Camunda 7
    # refuses constraints it does not know, but ignores properties, so diagrams using it
    # still deploy there.
    condition = dict(properties).get(REQUIRED_IF_PROPERTY)
    if condition is not None:
        other, _, expected = condition.partition("=")
        if other.strip() and expected.strip():
            constraints["required_if"] = (other.strip(), expected.strip())
        else:
            problems.add(xml_field, f"form field '{field_id}': {REQUIRED_IF_PROPERTY} needs "
                                    "'field=value'")
    form_field = FormField(
        id=field_id, type=kind, label=xml_field.get("label") or field_id, options=options,
        properties=properties, **constraints,
    )
    default = xml_field.get("defaultValue")
    if default is None or default == "":
        return form_field
    if expressions.is_juel(default):
        problems.add(xml_field, f"form field '{field_id}': expression defaults are not "
                                "supported; a process variable named like the field is shown "
                                "as its value instead")
        return form_field
    try:
        return FormField(**{**form_field.__dict__, "default": coerce_value(form_field, default)})
    except ValueError as exc:
        problems.add(xml_field, f"form field '{field_id}': default value '{default}' {exc}")
        return form_field


def _constraints(xml_field, field_id: str, problems: _Collector) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for constraint in xml_field.iterfind("camunda:validation/camunda:constraint", NS):
        name, config = constraint.get("name"), constraint.get("config")
        if name not in CONSTRAINTS:
            problems.add(constraint, f"form field '{field_id}': unknown constraint '{name}' "
                                     f"(supported: {', '.join(CONSTRAINTS)})")
        elif name in ("required", "readonly"):
            found[name] = True
        elif name == "requiredIf":
            other, _, expected = (config or "").partition("=")
            if not other or not expected:
                problems.add(constraint, f"form field '{field_id}': requiredIf needs "
                                         "config 'field=value'")
            else:
                found["required_if"] = (other.strip(), expected.strip())
        else:
            try:
                found[name] = int(config or "")
            except ValueError:
                problems.add(constraint, f"form field '{field_id}': constraint {name} needs a "
                                         f"whole number, not '{config}'")
    return found


def prepare_dmn(tree: etree._Element, filename: str) -> list[DiagramProblem]:
    """Translate FEEL cells in place and check that every cell compiles."""
    problems = _Collector(filename)
    ns = {"dmn": etree.QName(tree).namespace}
    for table in tree.iterfind(".//dmn:decisionTable", ns):
        for text in table.iterfind("dmn:input/dmn:inputExpression/dmn:text", ns):
            _translate_text(text, problems, "input expression", expressions.python_expression)
        for entry in table.iterfind("dmn:rule/dmn:inputEntry/dmn:text", ns):
            _translate_cell(entry, problems, expressions.dmn_input_entry, "input")
        for entry in table.iterfind("dmn:rule/dmn:outputEntry/dmn:text", ns):
            _translate_cell(entry, problems, expressions.dmn_output_entry, "output")
    return problems.problems


def _translate_cell(text, problems: _Collector, translate, what: str) -> None:
    try:
        translated = translate(text.text)
        text.text = translated
        if translated:
            compile_expression(_as_expression(translated.replace("?", "dmn_input_value")))
    except (expressions.Untranslatable, UnsafeSource) as exc:
        problems.add(text, f"decision {what} cell: {exc}")


def _as_expression(cell: str) -> str:
    """Unary tests such as ``< 5`` compare against the input: make them whole expressions."""
    try:
        ast.parse(cell, mode="eval")
    except SyntaxError:
        return f"dmn_input_value {cell}"
    return cell


def decision_ids(tree: etree._Element) -> Iterable[str]:
    ns = {"dmn": etree.QName(tree).namespace}
    return [d.get("id") for d in tree.iterfind("dmn:decision", ns)]
