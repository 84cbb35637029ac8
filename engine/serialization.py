"""The one serializer configuration, and instance state stored without its spec.

An instance row stores the library's workflow dict minus ``spec`` and
``subprocess_specs``; those are stored once per deployed version. Restoring reuses the
version's already-built spec objects instead of rebuilding them for every load, unless
the spec contains multi-instance tasks, which the library mutates while running.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG


class _SharedSpecWorkflowConverter(BpmnWorkflowConverter):
    """Stores a workflow without its spec and restores it around spec objects handed in,
    not rebuilt from the dict: converting the spec on every save would cost about as
    much as the rest of the state together."""

    def state_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        data = WorkflowConverter.to_dict(self, workflow)
        data["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        data["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        data["typename"] = self.typename
        return data

    def from_dict(self, dct):
        shared = dct.pop("_propflow_specs", None)
        if shared is None:
            return super().from_dict(dct)
        spec, subprocess_specs = shared
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> tuple[BpmnWorkflowSerializer, _SharedSpecWorkflowConverter]:
    # The Camunda configuration has no converter for a plain bpmn:serviceTask (the
    # library expects Spiff's own service tasks): it is a task spec like any other.
    registry = BpmnWorkflowSerializer.configure({**DEFAULT_CONFIG, ServiceTask: BpmnTaskSpecConverter})
    converter = _SharedSpecWorkflowConverter(BpmnWorkflow, registry)  # replaces the default
    return BpmnWorkflowSerializer(registry), converter


SERIALIZER, _WORKFLOW_CONVERTER = _make_serializer()
SERIALIZER_VERSION = SERIALIZER.VERSION


class LoadedSpecs:
    """A deployed version's spec objects, built once from its stored JSON."""

    def __init__(self, spec_json: str):
        self._spec_json = spec_json
        data = json.loads(spec_json)
        self.spec = SERIALIZER.from_dict(data["spec"])
        self.subprocess_specs = {k: SERIALIZER.from_dict(v) for k, v in data["subprocess_specs"].items()}
        self.shareable = not any(
            isinstance(task_spec, MultiInstanceTask)
            for spec in (self.spec, *self.subprocess_specs.values())
            for task_spec in spec.task_specs.values()
        )

    def specs_for_instance(self):
        if self.shareable:
            return self.spec, self.subprocess_specs
        fresh = LoadedSpecs(self._spec_json)
        return fresh.spec, fresh.subprocess_specs


def dump_state(workflow: BpmnWorkflow) -> str:
    return json.dumps(_WORKFLOW_CONVERTER.state_dict(workflow), separators=(",", ":"))


def load_state(state: str, serializer_version: str, specs: LoadedSpecs) -> BpmnWorkflow:
    data: dict[str, Any] = json.loads(state)
    if serializer_version != SERIALIZER_VERSION:
        # Older rows go through the library's own migrations, which need the spec inline.
        raw = json.loads(specs._spec_json)
        data.update(raw)
        data[SERIALIZER.VERSION_KEY] = serializer_version
        SERIALIZER.migrate(data)
        return SERIALIZER.from_dict(data)
    data["_propflow_specs"] = specs.specs_for_instance()
    return SERIALIZER.from_dict(data)
