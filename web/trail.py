"""A case's trail on its diagram, and a version's counts on its diagram: what the review
pages draw and the dossier archives, as plain dataclasses keyed by element id.

Where a case went is read from its audit trail. The trail records every user task
(created, completed), every automatic step, end event and fired timer, but not gateways
nor the start events inside subprocesses. So a sequence flow counts as *taken* when its
source completed and its target was reached at or after that point in the trail (by audit
row order), gateways and inner start events being passed through on the way. That is
exact for a case that passed each element once. Where a case looped, a flow leaving an
element is shown as taken if its target was reached after the element's first
completion — so on a later pass a branch chosen only on an earlier one can appear taken
too; the history below the diagram is the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import AuditEntry, InstanceStatus, InstanceView, WorkflowEngine, queries
from engine.catalogue import BPMN_NS, NS, ElementInfo, parse_xml
from engine.forms import FormDefinition, FormField
from engine.views import DefinitionView

from .admin import ROLE_LABELS
from .models import FeedbackItem, ServiceCase, User
from .templating import when

DEADLINE_PROPERTY = "propflow.deadline"
MILESTONE_PROPERTY = "propflow.milestone"
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                      "complexGateway"})
CONTAINERS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
PEOPLES_KINDS = frozenset({"userTask", "manualTask", "startEvent"})
TIMER_KINDS = frozenset({"boundaryEvent", "intermediateCatchEvent"})
# Audit actions that mean the element was done (passed); TASK_CREATED means it was reached.
DONE = frozenset({"started", "task_completed", "activity_completed", "timer_fired", "deadline_breached",
                  "message_received"})
MARKS = ("breached", "active", "done")  # strongest first: an element shows one
STATUS_LABELS = {InstanceStatus.RUNNING: _l("Running"), InstanceStatus.COMPLETED: _l("Completed"),
                 InstanceStatus.CANCELLED: _l("Cancelled")}
DEADLINE_LABELS = {"response": _l("Response deadline"), "handling": _l("Handling deadline"),
                   "reply": _l("Reply deadline"), "rectification": _l("Rectification deadline")}
ACTION_LABELS = {
    "started": _l("Case started"), "task_created": _l("Task created"), "task_completed": _l("Completed"),
    "task_claimed": _l("Claimed"), "task_unclaimed": _l("Given back"), "task_assigned": _l("Assigned"),
    "timer_fired": _l("Timer fired"), "deadline_breached": _l("Deadline missed"),
    "deadline_reached": _l("Deadline reached"), "notified": _l("Reminder sent"),
    "activity_completed": _l("Done automatically"), "completed": _l("Case completed"),
    "cancelled": _l("Case cancelled"), "message_received": _l("Message received"),
    "external_task_failed": _l("External task failed"),
    "annotated": _l("Correction annotated"),
}
_INFINITY = float("inf")


# --- the diagram's shape ------------------------------------------------------------------

@dataclass(frozen=True)
class Outline:
    """What the catalogue does not keep: the process's own documentation, its sequence
    flows, which subprocess holds which node, and where boundary events are attached."""

    documentation: str = ""
    flows: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (source, target)
    kinds: Mapping[str, str] = field(default_factory=dict)  # node id -> BPMN tag
    parents: Mapping[str, str] = field(default_factory=dict)  # node id -> subprocess id
    attached: Mapping[str, str] = field(default_factory=dict)  # boundary id -> activity id


def read_outline(bpmn: bytes, process_key: str) -> Outline:
    """The outline of process ``process_key`` in a deployed file (empty if it is not there)."""
    tree, _problem = parse_xml(bpmn, "diagram")
    process = None if tree is None else next(
        (p for p in tree.iterfind("bpmn:process", NS) if p.get("id") == process_key), None)
    if process is None:
        return Outline()
    flows: dict[str, tuple[str, str]] = {}
    kinds: dict[str, str] = {}
    parents: dict[str, str] = {}
    attached: dict[str, str] = {}
    pending: list[tuple[etree._Element, str | None]] = [(process, None)]
    while pending:
        container, parent = pending.pop()
        for child in container.iterchildren(f"{{{BPMN_NS}}}*"):
            tag, node = etree.QName(child).localname, child.get("id")
            if tag == "sequenceFlow":
                flows[node] = (child.get("sourceRef"), child.get("targetRef"))
                continue
            if tag in ("documentation", "extensionElements", "laneSet") or not node:
                continue
            kinds[node] = tag
            if parent:
                parents[node] = parent
            if tag == "boundaryEvent":
                attached[node] = child.get("attachedToRef")
            if tag in CONTAINERS:
                pending.append((child, node))
    doc = process.find("bpmn:documentation", NS)
    return Outline((doc.text or "").strip() if doc is not None else "", flows, kinds, parents, attached)


# --- a case --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ElementTrail:
    """How one element looks on the case's diagram."""

    element_id: str
    mark: str  # done | active | breached
    classes: tuple[str, ...]  # every marker the browser adds (an overdue task is active and breached)
    note: str = ""
    late: bool = False  # the note tells of a missed deadline: shown in red


@dataclass(frozen=True)
class Step:
    """One line of the case's history: the audit row and the same in plain words."""

    entry: AuditEntry
    title: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Waiting:
    kind: str  # task | timer
    element_id: str
    name: str
    since: datetime | None
    due_at: datetime | None
    who: str = ""


@dataclass(frozen=True)
class CaseTrail:
    instance: InstanceView
    definition: DefinitionView
    outline: Outline
    elements: Mapping[str, ElementTrail]
    taken: frozenset[str]
    steps: tuple[Step, ...]
    waiting: tuple[Waiting, ...]
    owner: str | None
    names: Mapping[str, str]  # username -> display name, for everyone in the trail

    @property
    def breached(self) -> bool:
        return any(d.breached_at is not None or d.met is False for d in self.instance.deadlines)

    def marks(self) -> dict[str, str]:
        """Element or flow id -> done | active | breached | taken (one each, for the SVG)."""
        found = {**{f: "taken" for f in self.taken}, **{e.element_id: e.mark for e in self.elements.values()}}
        return dict(sorted(found.items()))

    def notes(self) -> dict[str, str]:
        return {e.element_id: e.note for e in self.elements.values() if e.note}

    def diagram_data(self) -> dict[str, Any]:
        """What diagram.js draws: marker classes per id and the overlays."""
        classes = {f: ["taken"] for f in sorted(self.taken)}
        classes.update({e.element_id: [*e.classes, *(["container"] if self.outline.kinds.get(e.element_id)
                                                     in CONTAINERS else [])]
                        for e in self.elements.values()})
        overlays = [{"element": e.element_id, "kind": "late" if e.late else e.mark, "text": e.note}
                    for e in self.elements.values() if e.note]
        return {"marks": classes, "overlays": overlays}


@dataclass
class _Visits:
    reached: list[float] = field(default_factory=list)  # audit ids (infinity: waiting now)
    first_at: datetime | None = None  # when it was first reached
    done: list[AuditEntry] = field(default_factory=list)


def case_trail(engine: WorkflowEngine, session: Session, instance_id: str, now: datetime) -> CaseTrail:
    """Everything the case page and the dossier show of one instance.

    :raise InstanceNotFound: no such instance.
    """
    instance = engine.instance(instance_id)
    definition = engine.definition(instance.definition_id)
    outline = read_outline(engine.definition_resource(instance.definition_id)[1], instance.process_key)
    catalogue = queries.definition_elements(session, instance.definition_id)
    history = engine.history(instance_id)
    timers = queries.armed_timers(session, instance_id)
    visits = _visits(history, instance, timers, outline)
    created = {e.task_id: e for e in history if e.action.value == "task_created" and e.task_id}
    taken, passed_through = _taken_flows(outline, visits)
    waiting = tuple(
        [Waiting("task", t.element_id, t.name, t.created_at, t.due_at,
                 t.assignee or _groups(t.candidate_groups)) for t in instance.open_tasks]
        + [Waiting("timer", t.element_id, _name(catalogue, t.element_id), None, t.due_at) for t in timers])
    elements = _element_trails(instance, catalogue, outline, visits, created, waiting, passed_through, now)
    steps = tuple(_steps(history, catalogue))
    owner = _owner(session, instance)
    people = {e.actor for e in history} | {t.assignee for t in instance.open_tasks} | {owner}
    return CaseTrail(instance, definition, outline, elements, frozenset(taken), steps, waiting, owner,
                     _display_names(session, people))


def _visits(history: list[AuditEntry], instance: InstanceView, timers,
            outline: Outline) -> dict[str, _Visits]:
    visits: dict[str, _Visits] = {}
    for entry in history:
        if entry.element_id is None:
            continue
        action = entry.action.value
        if action == "task_created" or action in DONE:
            _reach(visits, entry.element_id, entry.id, entry.at)
        if action in DONE:
            visits[entry.element_id].done.append(entry)
    for task in instance.open_tasks:
        _reach(visits, task.element_id, _INFINITY, task.created_at)
    for timer in timers:
        _reach(visits, timer.element_id, _INFINITY, None)
    # A subprocess is reached when anything inside it is.
    for element_id, seen in list(visits.items()):
        parent = outline.parents.get(element_id)
        while parent:
            for position in seen.reached:
                _reach(visits, parent, position, seen.first_at)
            parent = outline.parents.get(parent)
    return visits


def _reach(visits: dict[str, _Visits], element_id: str, position: float, at: datetime | None) -> None:
    seen = visits.setdefault(element_id, _Visits())
    seen.reached.append(position)
    if at is not None and (seen.first_at is None or at < seen.first_at):
        seen.first_at = at


def _taken_flows(outline: Outline, visits: Mapping[str, _Visits]) -> tuple[set[str], set[str]]:
    """Flows taken, and the unrecorded nodes (gateways, inner start events) passed on the way."""
    outgoing: dict[str, list[tuple[str, str]]] = {}
    for flow_id, (source, target) in outline.flows.items():
        outgoing.setdefault(source, []).append((flow_id, target))

    def transparent(node: str) -> bool:
        kind = outline.kinds.get(node)
        return kind in GATEWAYS or (kind == "startEvent" and not visits.get(node, _Visits()).done)

    taken: set[str] = set()
    passed: set[str] = set()

    def follow(node: str, since: float, flows: tuple[str, ...], nodes: tuple[str, ...]) -> None:
        for flow_id, target in outgoing.get(node, ()):
            if target in nodes:
                continue
            if transparent(target):
                follow(target, since, (*flows, flow_id), (*nodes, target))
            elif max(visits.get(target, _Visits()).reached, default=-1) >= since:
                taken.update((*flows, flow_id))
                passed.update(n for n in nodes[1:])

    for node, since in _departures(outline, visits):
        follow(node, since, (), (node,))
    # An inner start event is passed when a flow leaving it was taken.
    passed.update(outline.flows[f][0] for f in taken if transparent(outline.flows[f][0]))
    return taken, passed


def _departures(outline: Outline, visits: Mapping[str, _Visits]) -> Iterable[tuple[str, float]]:
    """Where tokens left from, and from which point of the trail: every element done (its
    first completion), and the start event of every subprocess entered."""
    for node, seen in visits.items():
        if seen.done:
            yield node, min(e.id for e in seen.done)
    for node, parent in outline.parents.items():
        entered = visits.get(parent)
        if outline.kinds.get(node) == "startEvent" and entered is not None and entered.reached:
            yield node, min(entered.reached)


def _element_trails(instance, catalogue, outline, visits, created, waiting, passed_through, now):
    waiting_at = {w.element_id: w for w in waiting}
    trails: dict[str, ElementTrail] = {}
    for element_id in sorted(set(visits) | set(passed_through)):
        seen = visits.get(element_id, _Visits())
        classes: list[str] = []
        note, late = "", False
        if seen.done or element_id in passed_through:
            classes.append("done")
            note, late = _done_note(catalogue.get(element_id), seen, created)
        now_waiting = waiting_at.get(element_id)
        if now_waiting is not None or _contains_waiting(element_id, outline, waiting_at):
            classes.append("active")
            if now_waiting is not None:
                note, late = _waiting_note(now_waiting, len(seen.done), now)
        if late:
            classes.append("breached")
        if classes:
            trails[element_id] = ElementTrail(element_id, _strongest(classes), tuple(classes), note, late)
    _add_deadlines(trails, instance, catalogue, outline, now)
    return trails


def _strongest(classes: Iterable[str]) -> str:
    return next(mark for mark in MARKS if mark in classes)


def _contains_waiting(element_id: str, outline: Outline, waiting_at: Mapping[str, Waiting]) -> bool:
    if outline.kinds.get(element_id) not in CONTAINERS:
        return False
    for inner in waiting_at:
        parent = outline.parents.get(inner)
        while parent:
            if parent == element_id:
                return True
            parent = outline.parents.get(parent)
    return False


def _done_note(info: ElementInfo | None, seen: _Visits, created) -> tuple[str, bool]:
    """Who, when, how long — for people's steps, timers and subprocesses; automatic steps
    are left to the history."""
    if info is None or not seen.done:
        return "", False
    last = seen.done[-1]
    parts = [f"×{len(seen.done)}"] if len(seen.done) > 1 else []
    late = False
    if info.kind in PEOPLES_KINDS:
        parts += [last.actor or "—", short(last.at)]
        opened = created.get(last.task_id)
        if opened is not None:
            parts.append(span(last.at - opened.at))
            due = opened.data.get("due_at")
            if due and datetime.fromisoformat(due) < last.at:
                late = True
                parts.append(_("late by %(t)s", t=span(last.at - datetime.fromisoformat(due))))
    elif info.kind in TIMER_KINDS:
        parts.append(_("fired %(when)s", when=short(last.at)))
    elif (info.kind in CONTAINERS or info.kind == "callActivity") and seen.first_at is not None:
        parts.append(span(last.at - seen.first_at))
    else:
        return "", False
    return " · ".join(parts), late


def _waiting_note(item: Waiting, passes: int, now: datetime) -> tuple[str, bool]:
    parts = [_("%(n)d done", n=passes)] if passes else []
    if item.kind == "task":
        parts += [item.who or "—", _("waiting %(t)s", t=span(now - item.since))]
    late = item.due_at is not None and item.due_at < now
    if item.due_at is not None:
        parts.append(_("overdue by %(t)s", t=span(now - item.due_at)) if late
                     else _("due %(when)s", when=short(item.due_at)))
    return " · ".join(parts), late and item.kind == "task"


def _add_deadlines(trails: dict[str, ElementTrail], instance: InstanceView, catalogue, outline, now) -> None:
    """Each deadline on the diagram: running (on its boundary timer), met (on the end event
    that met it) or missed (red, on its boundary timer and the activity it guards)."""
    for deadline in instance.deadlines:
        label = str(DEADLINE_LABELS.get(deadline.name, deadline.name))
        if deadline.breached_at is not None or deadline.met is False:
            missed_at = short(deadline.breached_at or deadline.reached_at)
            note = (_("%(deadline)s missed %(when)s (due %(due)s)", deadline=label, when=missed_at,
                      due=short(deadline.due_at)) if deadline.due_at is not None
                    else _("%(deadline)s missed %(when)s", deadline=label, when=missed_at))
            for timer in _carrying(catalogue, DEADLINE_PROPERTY, deadline.name, "boundaryEvent"):
                old = trails.get(timer)
                classes = tuple(dict.fromkeys([*(old.classes if old else ()), "breached"]))
                trails[timer] = ElementTrail(timer, "breached", classes, note, True)
                guarded = trails.get(outline.attached.get(timer))
                if guarded is not None:
                    trails[guarded.element_id] = ElementTrail(guarded.element_id, guarded.mark,
                                                              (*guarded.classes, "late"), guarded.note,
                                                              guarded.late)
        elif deadline.met:
            note = _("%(deadline)s met %(when)s", deadline=label, when=short(deadline.reached_at))
            _annotate(trails, _carrying(catalogue, MILESTONE_PROPERTY, deadline.name, "endEvent"), note)
        elif deadline.due_at is not None:
            note = _("%(deadline)s due %(when)s", deadline=label, when=short(deadline.due_at))
            _annotate(trails, _carrying(catalogue, DEADLINE_PROPERTY, deadline.name, "boundaryEvent"), note)


def _carrying(catalogue: Mapping[str, ElementInfo], prop: str, value: str, kind: str) -> list[str]:
    return [i.id for i in catalogue.values() if i.kind == kind and i.properties.get(prop) == value]


def _annotate(trails: dict[str, ElementTrail], element_ids: Iterable[str], note: str) -> None:
    """Give a note to the elements of these that are on the trail."""
    for element_id in element_ids:
        old = trails.get(element_id)
        if old is not None:
            trails[element_id] = ElementTrail(element_id, old.mark, old.classes, note, old.late)


# --- the history in plain words ---------------------------------------------------------------

def _steps(history: list[AuditEntry], catalogue: Mapping[str, ElementInfo]) -> Iterable[Step]:
    recorded: set[tuple[str | None, str]] = set()
    for entry in history:
        action = entry.action.value
        # A step done by a registered function is audited with its result, then again
        # (empty) as a finished step: show it once.
        if action == "activity_completed" and entry.task_id and (entry.task_id, action) in recorded \
                and not entry.data:
            continue
        recorded.add((entry.task_id, action))
        info = catalogue.get(entry.element_id) if entry.element_id else None
        yield Step(entry, str(ACTION_LABELS.get(action, action)), tuple(_step_fields(entry, info, catalogue)))


def _step_fields(entry: AuditEntry, info: ElementInfo | None, catalogue) -> list[tuple[str, str]]:
    data, action = entry.data, entry.action.value
    form = info.form if info is not None else None
    if action == "task_completed":
        return submitted_fields(data.get("submitted", {}), form)
    if action == "started":
        extra = {k: v for k, v in data.items() if k not in ("variables", "business_key", "definition_id")}
        return submitted_fields(data.get("variables", {}), form) + _plain(extra)
    if action == "task_created":
        return [(_("Assigned to"), data.get("assignee") or "—"),
                (_("Offered to"), _groups(data.get("candidate_groups") or ())),
                (_("Due"), when(data.get("due_at")))]
    if action == "annotated":  # a correction of a record of this case (web.corrections)
        return [(_("Field"), data.get("field") or "—"), (_("As recorded"), _value(data.get("original"))),
                (_("Corrected to"), _value(data.get("corrected"))), (_("Reason"), data.get("reason") or "—")]
    if action in ("task_claimed", "task_unclaimed", "task_assigned"):
        return [(_("From"), data.get("from") or "—"), (_("To"), data.get("to") or "—")]
    if action in ("deadline_breached", "deadline_reached"):
        fields = [(_("Deadline"), str(DEADLINE_LABELS.get(data.get("deadline"), data.get("deadline")))),
                  (_("Due"), when(data.get("due_at")))]
        if "met" in data:
            fields.append((_("Met"), _value(data["met"])))
        return fields
    if action == "completed":
        end = data.get("end_event")
        return [(_("Ended at"), _name(catalogue, end) if end else "—")]
    if action == "activity_completed":
        return _plain(data.get("result") or {})
    return _plain(data)


def submitted_fields(values: Mapping[str, Any], form: FormDefinition | None) -> list[tuple[str, str]]:
    """Submitted values with their form's labels, in the order they were given."""
    found = []
    for key, value in values.items():
        form_field = form.field(key) if form is not None else None
        label = form_field.label if form_field is not None and form_field.label else key
        found.append((label, _value(value, form_field)))
    return found


def _plain(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, _value(value)) for key, value in data.items()]


def _value(value: Any, form_field: FormField | None = None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if form_field is not None and form_field.options:
        return dict(form_field.options).get(str(value), str(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _groups(groups: Iterable[str]) -> str:
    return ", ".join(str(ROLE_LABELS.get(g, g)) for g in groups) or "—"


def _name(catalogue: Mapping[str, ElementInfo], element_id: str) -> str:
    info = catalogue.get(element_id)
    return info.name or element_id if info is not None else element_id


def short(value: datetime) -> str:
    """An instant on the diagram, where room is short: month, day and time in the company's zone."""
    return format_datetime(value, "MM-dd HH:mm")


def span(delta) -> str:
    """A length of time: "2 d 3 h", "3 h 20 min", "5 min"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([_("%(n)d d", n=days)] if days else []) + ([_("%(n)d h", n=hours)] if hours else [])
    if not days and (mins or not hours):
        parts.append(_("%(n)d min", n=mins))
    return " ".join(parts)


def _owner(session: Session, instance: InstanceView) -> str | None:
    for column, key in ((ServiceCase.owner_id, ServiceCase.instance_id),
                        (FeedbackItem.owner_id, FeedbackItem.instance_id)):
        owner = session.scalar(select(column).where(key == instance.id))
        if owner:
            return owner
    owner = instance.variables.get("owner_id")
    return owner if isinstance(owner, str) else None


def _display_names(session: Session, people: set[str | None]) -> dict[str, str]:
    people = {p for p in people if p}
    if not people:
        return {}
    rows = session.execute(select(User.username, User.display_name).where(User.username.in_(people)))
    return dict(rows.all())


# --- a version --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ElementLine:
    info: ElementInfo
    counts: queries.ElementCounts


@dataclass(frozen=True)
class ProcessOverview:
    definition: DefinitionView
    versions: tuple[DefinitionView, ...]  # every version of the same process
    documentation: str
    elements: tuple[ElementLine, ...]  # in the diagram file's order
    instances: Mapping[InstanceStatus, int]

    def diagram_data(self) -> dict[str, Any]:
        """Count badges per element for diagram.js."""
        overlays = []
        for line in self.elements:
            c = line.counts
            badges = [{"kind": kind, "n": n, "title": str(title)} for kind, n, title in (
                ("open", c.open_tasks, _("Open tasks")), ("timer", c.waiting_timers, _("Waiting timers")),
                ("passed", c.passed, _("Completed")), ("breached", c.breached, _("Deadlines missed"))) if n]
            if badges:
                overlays.append({"element": line.info.id, "kind": "counts", "badges": badges})
        return {"marks": {}, "overlays": overlays}


def process_overview(engine: WorkflowEngine, session: Session, definition_id: str) -> ProcessOverview:
    """One deployed version: its documentation, elements and how many cases are where.

    :raise ProcessNotFound: no such version.
    """
    definition = engine.definition(definition_id)
    outline = read_outline(engine.definition_resource(definition_id)[1], definition.key)
    counts = queries.element_counts(session, definition_id)
    empty = queries.ElementCounts()
    elements = tuple(ElementLine(info, counts.get(element_id, empty))
                     for element_id, info in queries.definition_elements(session, definition_id).items())
    return ProcessOverview(definition, tuple(engine.definitions(definition.key)), outline.documentation,
                           elements, queries.instance_counts(session).get(definition_id, {}))
