"""Deployment: from uploaded files to validated, serialized process specs.

Everything a deployment needs is checked before anything is stored, so a refused
deployment changes nothing and the previous version stays live.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import catalogue
from .catalogue import ElementInfo
from .errors import DiagramProblem, InvalidDiagram
from .serialization import SERIALIZER

MAX_RESOURCE_NAME = 255  # the column that keeps it


@dataclass(frozen=True)
class CompiledProcess:
    key: str
    name: str
    resource_name: str
    spec_json: str
    elements: dict[str, ElementInfo]
    start_timer: catalogue.StartTimer | None = None

    def catalogue_dict(self) -> dict[str, Any]:
        return {element_id: info.to_dict() for element_id, info in self.elements.items()}


def content_hash(files: Mapping[str, bytes]) -> str:
    """Identity of a set of resources: names and bytes, order-independent."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def resource_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def compile_deployment(files: Mapping[str, bytes]) -> list[CompiledProcess]:
    """Validate and translate every file, parse them together, serialize each process.

    :raise InvalidDiagram: with every problem found, each naming its file and element.
    """
    if not files:
        raise InvalidDiagram([DiagramProblem("the deployment contains no files")])
    problems: list[DiagramProblem] = []
    bpmn: list[catalogue.PreparedBpmn] = []
    dmn: list[tuple[Any, str]] = []
    for filename, content in files.items():
        if len(filename) > MAX_RESOURCE_NAME:
            problems.append(DiagramProblem(f"the file name is longer than {MAX_RESOURCE_NAME} characters",
                                           filename[:60] + "…"))
            continue
        tree, problem = catalogue.parse_xml(content, filename)
        if problem:
            problems.append(problem)
        elif catalogue.is_bpmn(tree):
            prepared = catalogue.prepare_bpmn(tree, filename)
            problems.extend(prepared.problems)
            bpmn.append(prepared)
        elif catalogue.is_dmn(tree):
            problems.extend(catalogue.prepare_dmn(tree, filename))
            dmn.append((tree, filename))
        else:
            problems.append(DiagramProblem("not a BPMN 2.0 or DMN file", filename))
    if not problems and not any(p.executable_processes for p in bpmn):
        problems.append(DiagramProblem("the deployment contains no executable BPMN process"))
    if problems:
        raise InvalidDiagram(problems)
    return _build_specs(bpmn, dmn)


def _build_specs(bpmn: list[catalogue.PreparedBpmn], dmn: list[tuple[Any, str]]) -> list[CompiledProcess]:
    parser = CamundaParser()
    try:
        for tree, filename in dmn:
            parser.add_dmn_xml(tree, filename=filename)
        for prepared in bpmn:
            parser.add_bpmn_xml(prepared.tree, filename=prepared.filename)
        compiled = []
        for prepared in bpmn:
            elements = _elements_for(prepared, bpmn)
            for process_id, name in prepared.executable_processes:
                spec = parser.get_spec(process_id)
                subprocess_specs = parser.get_subprocess_specs(process_id)
                spec_json = json.dumps({
                    "spec": SERIALIZER.to_dict(spec),
                    "subprocess_specs": {k: SERIALIZER.to_dict(v) for k, v in subprocess_specs.items()},
                }, separators=(",", ":"))
                compiled.append(CompiledProcess(process_id, name, prepared.filename, spec_json, elements,
                                                prepared.start_timers.get(process_id)))
    except ValidationException as exc:
        raise InvalidDiagram([_problem_from_validation(exc)]) from None
    except SpiffWorkflowException as exc:
        raise InvalidDiagram([DiagramProblem(str(exc))]) from None
    return compiled


def _elements_for(prepared: catalogue.PreparedBpmn,
                  bpmn: list[catalogue.PreparedBpmn]) -> dict[str, ElementInfo]:
    """A process's own file's elements, and those of the files defining processes it calls.
    Ids are unique within a file, not across the files deployed together, so its own file
    wins; files it does not call stay out (what else was deployed with it is no part of
    the process)."""
    calls = prepared.tree.iter(f"{{{catalogue.BPMN_NS}}}callActivity")
    called = {c.get("calledElement") for c in calls}
    elements: dict[str, ElementInfo] = {}
    for other in bpmn:
        if other is not prepared and called & {process_id for process_id, _ in other.executable_processes}:
            elements.update(other.elements)
    return {**elements, **prepared.elements}


def _problem_from_validation(exc: ValidationException) -> DiagramProblem:
    line = exc.line_number if isinstance(exc.line_number, int) else None
    message = str(exc.args[0]) if exc.args else str(exc)
    return DiagramProblem(message, exc.file_name or None, exc.id or None, line)
