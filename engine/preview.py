"""What a deployment would change, before it is made: the problems that would refuse it,
and for each process the elements added, removed and changed against the live version.

A process is unchanged when its compiled form is: the same spec (flows, scripts,
conditions, decisions) and the same catalogue (forms, groups, timers, properties). That is
also the rule deploy uses to skip identical content, whatever else was uploaded with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalogue import ElementInfo
from .errors import DiagramProblem, InvalidDiagram
from .models import ProcessDefinition
from .specs import CompiledProcess, compile_deployment

# What a person would call each catalogue field when it changes.
_FIELDS = {"name": "name", "kind": "type", "lane": "lane", "documentation": "documentation",
           "form": "form", "candidate_groups": "candidate groups", "candidate_users": "candidate users",
           "assignee": "assignee", "due_date": "due date", "properties": "properties",
           "starter_groups": "starter groups", "topic": "topic", "message": "message",
           "error_code": "error code", "main_path": "path"}


@dataclass(frozen=True)
class ElementChange:
    id: str
    name: str
    kind: str
    change: str  # "added", "removed" or "changed"
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessPreview:
    key: str
    name: str
    resource_name: str
    live_version: int | None
    unchanged: bool
    changes: tuple[ElementChange, ...]
    # The spec differs where the catalogue does not show it (a flow, script or condition).
    behaviour_changed: bool


@dataclass(frozen=True)
class DeploymentPreview:
    problems: tuple[DiagramProblem, ...]
    processes: tuple[ProcessPreview, ...]

    @property
    def deployable(self) -> bool:
        return not self.problems


def is_unchanged(process: CompiledProcess, live: ProcessDefinition | None) -> bool:
    return live is not None and live.spec == process.spec_json and live.catalogue == _plain(
        process.catalogue_dict())


def preview(files: Mapping[str, bytes],
            live: Callable[[str], ProcessDefinition | None]) -> DeploymentPreview:
    """``live(key)`` is the latest version of a process (None for a new process)."""
    try:
        compiled = compile_deployment(files)
    except InvalidDiagram as refused:
        return DeploymentPreview(tuple(refused.problems), ())
    return DeploymentPreview((), tuple(_process(p, live(p.key)) for p in compiled))


def _process(process: CompiledProcess, live: ProcessDefinition | None) -> ProcessPreview:
    new = _plain(process.catalogue_dict())
    old = live.catalogue if live is not None else {}
    changes = [_change(ElementInfo.from_dict(new[i]), "added") for i in sorted(set(new) - set(old))]
    changes += [_change(ElementInfo.from_dict(old[i]), "removed") for i in sorted(set(old) - set(new))]
    for element_id in sorted(set(new) & set(old)):
        fields = tuple(label for field, label in _FIELDS.items()
                       if new[element_id].get(field) != old[element_id].get(field))
        if fields:
            changes.append(_change(ElementInfo.from_dict(new[element_id]), "changed", fields))
    unchanged = is_unchanged(process, live)
    return ProcessPreview(process.key, process.name, process.resource_name,
                          live.version if live is not None else None, unchanged, tuple(changes),
                          behaviour_changed=live is not None and not changes and not unchanged)


def _change(info: ElementInfo, change: str, fields: tuple[str, ...] = ()) -> ElementChange:
    return ElementChange(info.id, info.name, info.kind, change, fields)


def _plain(value: Any) -> Any:
    """As stored (JSON): tuples become lists, so a stored catalogue compares equal."""
    return json.loads(json.dumps(value))
