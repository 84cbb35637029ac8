"""Scripts run restricted, also after a reload; a failing script changes nothing."""

import pytest
from sqlalchemy import func, select

from engine import InvalidDiagram, ScriptError, WorkflowEngine
from engine.models import AuditEvent, ProcessInstance
from tests.conftest import FIXTURES

APPROVAL = (FIXTURES / "approval.bpmn").read_text()
SCRIPT = 'due = add_duration(started_at, "PT4H")'


def with_script(script: str) -> dict[str, bytes]:
    return {"approval.bpmn": APPROVAL.replace(SCRIPT, script).encode()}


@pytest.mark.parametrize("script", [
    "import os",
    "x = eval('1')",
    "os = __import__('os')",
    "x = ().__class__.__mro__[1].__subclasses__()",
    "x = [c for c in ().__class__.__base__.__subclasses__()]",
])
def test_hostile_scripts_are_refused_at_deploy(engine, script):
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy(with_script(script), name="hostile")
    assert caught.value.problems[0].element_id == "SetDue"
    assert engine.definitions() == []


@pytest.mark.parametrize("script", [
    "f = open('/etc/passwd')",
    "x = getattr((), '__class__')",
    "x = getattr((), '_' + '_class__')",
])
def test_scripts_that_compile_but_reach_for_danger_fail_at_run_time(engine, sa_engine, script):
    engine.deploy(with_script(script), name="sly")
    with pytest.raises(ScriptError) as caught:
        engine.start("approval", {"amount": 1})
    assert caught.value.element_id == "SetDue"
    with sa_engine.connect() as connection:  # no half-written instance, no audit of it
        assert connection.scalar(select(func.count()).select_from(ProcessInstance)) == 0
        assert connection.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id.is_not(None))) == 0


@pytest.mark.parametrize("cached", [True, False], ids=["kept-in-memory", "reloaded"])
def test_script_engine_is_reattached_after_every_load(engine, sa_engine, clock, cached):
    """A condition evaluated after a reload must still run restricted: with the library's
    default environment ``open`` would work."""
    condition = "${approved &amp;&amp; amount &lt; 1000}"
    engine.deploy({"approval.bpmn": APPROVAL.replace(
        condition, "open('/etc/hostname') is not None").encode()}, name="approval")
    started = engine.start("approval", {"amount": 1})
    worker_engine = engine if cached else WorkflowEngine(sa_engine, clock)
    with pytest.raises(ScriptError) as caught:
        worker_engine.complete_user_task(started.open_tasks[0].id, {"approved": True}, user="m")
    assert "open" in str(caught.value)
    assert engine.instance(started.id).open_tasks[0].element_id == "Approve"  # nothing saved


def test_useful_functions_are_available(engine):
    engine.deploy(with_script("due = add_duration(started_at, 'P1D')\nn = len(sorted([3, 1]))"),
                  name="ok")
    started = engine.start("approval", {"amount": 1})
    assert started.variables["due"] == "2026-01-06T09:00:00+00:00"
    assert started.variables["n"] == 2
