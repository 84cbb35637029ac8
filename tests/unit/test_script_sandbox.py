"""Scripts, conditions and decision cells that try to escape the sandbox or to take the
process down with work: refused at deploy, or failing their step with a ScriptError while
nothing is saved and the engine carries on. ``test_scripts.py`` has the first escapes
(imports, ``__subclasses__``, ``open``); these are the rest, and the cost bounds of
``engine/script_limits.py``."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine import InvalidDiagram, ScriptError, make_engine, script_limits
from engine.models import AuditEvent, ProcessInstance
from engine.script_limits import MAX_INT_BITS, MAX_LENGTH
from engine.scripting import RestrictedEnvironment
from tests.conftest import FIXTURES

APPROVAL = (FIXTURES / "approval.bpmn").read_text()
SCRIPT = 'due = add_duration(started_at, "PT4H")'
CONDITION = "${approved &amp;&amp; amount &lt; 1000}"


@pytest.fixture
def sa_engine(sqlite_url):
    """What a script may do does not depend on the database server: SQLite only."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def with_script(script: str) -> dict[str, bytes]:
    return {"approval.bpmn": APPROVAL.replace(SCRIPT, escape(f"{SCRIPT}\n{script}")).encode()}


def with_condition(condition: str) -> dict[str, bytes]:
    return {"approval.bpmn": APPROVAL.replace(CONDITION, condition).encode()}


def nothing_saved(sa_engine) -> None:
    with sa_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ProcessInstance)) == 0
        assert connection.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id.is_not(None))) == 0


def still_works(engine) -> None:
    """The process is alive and the restricted engine still runs a normal script."""
    engine.deploy({"approval.bpmn": APPROVAL.encode()}, name="good")
    started = engine.start("approval", {"amount": 1})
    assert started.variables["due"] == "2026-01-05T13:00:00+00:00"


# Each would take minutes or gigabytes without the bounds (an exponent of ten billion, a
# text of ten billion characters, a loop that never ends …).
TOO_MUCH = {
    "power tower": "x = 10 ** 10 ** 10",
    "pow builtin": "x = pow(10, 10 ** 10)",
    "shift": "x = 1 << 10 ** 10",
    "repeated text": "x = 'a' * 10 ** 10",
    "repeated list": "x = [0] * 10 ** 10",
    "doubling": "s = 'ab'\nfor i in range(64):\n    s = s + s",
    "doubling in place": "s = [1]\nwhile True:\n    s += s",
    "endless loop": "while True:\n    pass",
    "huge range": "x = sum(range(10 ** 12))",
    "nested comprehension": "x = [0 for a in range(10 ** 5) for b in range(10 ** 5)]",
    "padding": "x = 'a'.ljust(10 ** 10)",
    "zero fill": "x = '1'.zfill(10 ** 10)",
    "tabs": "x = 'a\\tb'.expandtabs(10 ** 10)",
    "join": "x = ''.join(['a' * 10 ** 6] * 10 ** 4)",
    "replace": "x = ('a' * 10 ** 6).replace('a', 'aaaa')",
    "percent width": "x = '%9999999999d' % 1",
    "percent star": "x = '%*d' % (10 ** 10, 1)",
    "slow passes": "xs = list(range(200000))\nfor i in range(10 ** 6):\n    ys = sorted(xs)",
}


@pytest.mark.parametrize("case", sorted(TOO_MUCH))
def test_scripts_asking_for_too_much_fail_their_step_and_save_nothing(engine, sa_engine, case, monkeypatch):
    monkeypatch.setattr(script_limits, "MAX_SECONDS", 0.25)  # the default, 2 s, in a tenth of the time
    engine.deploy(with_script(TOO_MUCH[case]), name="greedy")
    began = time.monotonic()
    with pytest.raises(ScriptError, match="script limit exceeded") as caught:
        engine.start("approval", {"amount": 1})
    assert time.monotonic() - began < 5
    assert caught.value.element_id == "SetDue"
    nothing_saved(sa_engine)
    still_works(engine)


@pytest.mark.parametrize("condition", [
    "sum(range(10 ** 12)) &gt; 0",
    "len('x' * 10 ** 10) &gt; 0",
    "10 ** 10 ** 10 &gt; amount",
])
def test_a_greedy_condition_leaves_the_task_open(engine, condition):
    engine.deploy(with_condition(condition), name="greedy")
    started = engine.start("approval", {"amount": 1})
    task = started.open_tasks[0]
    with pytest.raises(ScriptError, match="script limit exceeded") as caught:
        engine.complete_user_task(task.id, {"approved": True}, user="m")
    assert caught.value.element_id == "Gw"
    reloaded = engine.instance(started.id)
    assert [t.id for t in reloaded.open_tasks] == [task.id] and "approved" not in reloaded.variables


DECISION_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="decide" isExecutable="true">
    <bpmn:startEvent id="Begin"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="Decide" camunda:decisionRef="greedy">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:businessRuleTask>
    <bpmn:userTask id="Look" camunda:candidateGroups="managers">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="Finish"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Begin" targetRef="Decide" />
    <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="Look" />
    <bpmn:sequenceFlow id="f3" sourceRef="Look" targetRef="Finish" />
  </bpmn:process>
</bpmn:definitions>"""

DECISION_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="g" name="g" namespace="n">
  <decision id="greedy" name="Greedy">
    <decisionTable id="T" hitPolicy="FIRST">
      <input id="I"><inputExpression id="IE" typeRef="integer"><text>amount</text></inputExpression></input>
      <output id="O" name="answer" typeRef="string" />
      <rule id="R1">
        <inputEntry id="E1"><text>{cell}</text></inputEntry>
        <outputEntry id="O1"><text>{output}</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


@pytest.mark.parametrize(("cell", "output"), [
    ("&gt; 10 ** 10 ** 10", '"no"'),
    ("-", "'x' * 10 ** 10"),
    ("-", "str(sum(range(10 ** 12)))"),
])
def test_a_greedy_decision_cell_fails_the_step(engine, sa_engine, cell, output):
    engine.deploy({"decide.bpmn": DECISION_BPMN.encode(),
                   "greedy.dmn": DECISION_DMN.format(cell=cell, output=output).encode()}, name="d")
    with pytest.raises(ScriptError, match="script limit exceeded"):
        engine.start("decide", {"amount": 5})
    nothing_saved(sa_engine)


ESCAPES_REFUSED_AT_DEPLOY = [
    "x = (lambda: 0).__code__",
    "x = [].__class__.__base__",
    "class A:\n    pass\nx = A.__dict__",
    "x = __builtins__",
    "x = _getattr_",
    "x = exec('y = 1')",
    "x = f'{started_at:>99999999}'",
    "n = 10\nx = f'{started_at:>{n}}'",
]


@pytest.mark.parametrize("script", ESCAPES_REFUSED_AT_DEPLOY)
def test_more_escapes_are_refused_at_deploy(engine, script):
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy(with_script(script), name="hostile")
    assert caught.value.problems[0].element_id == "SetDue"
    assert engine.definitions() == []


@pytest.mark.parametrize(("old", "new", "message"), [
    # a form default is a value, never an expression
    ('<camunda:formField id="comment" label="Comment" type="string">',
     '<camunda:formField id="comment" label="Comment" type="string" defaultValue="${__import__(\'os\')}">',
     "expression defaults"),
    # a field named like the sandbox's own guards would put data where they live
    ('<camunda:formField id="comment"', '<camunda:formField id="__builtins__"', "not starting with _"),
    ('<camunda:formField id="comment"', '<camunda:formField id="_getattr_"', "not starting with _"),
])
def test_form_defaults_and_field_names_cannot_reach_the_sandbox(engine, old, new, message):
    assert old in APPROVAL
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy({"approval.bpmn": APPROVAL.replace(old, new, 1).encode()}, name="hostile")
    assert any(message in p.message and p.element_id == "Approve" for p in caught.value.problems), \
        caught.value.problems
    assert engine.definitions() == []


ESCAPES_FAILING_AT_RUN_TIME = [
    "x = '{0.__class__}'.format(started_at)",  # attribute traversal in a format string
    "x = '{v.__class__}'.format_map({'v': started_at})",
    "x = eval",
    "x = getattr(started_at, 'upper')",  # no eval, getattr, type, vars, globals, compile, open
    "x = type(started_at)",
    "x = vars()",
    "x = globals()",
    "x = compile('1', 'f', 'eval')",
    "x = open('/etc/hostname').read()",
    "raise SystemExit(0)",  # would stop the web or timer worker
    "raise KeyboardInterrupt()",
    "raise GeneratorExit()",
    "try:\n    x = 1\nexcept BaseException:\n    pass\nraise BaseException('out')",
    "def f():\n    return f()\nf()",  # recursion stays a Python error
]


@pytest.mark.parametrize("script", ESCAPES_FAILING_AT_RUN_TIME)
def test_escapes_that_compile_fail_their_step_and_the_process_survives(engine, sa_engine, script):
    engine.deploy(with_script(script), name="sly")
    with pytest.raises(ScriptError) as caught:
        engine.start("approval", {"amount": 1})
    assert caught.value.element_id == "SetDue"
    nothing_saved(sa_engine)
    still_works(engine)


def test_ordinary_arithmetic_text_and_loops_still_work(engine):
    engine.deploy(with_script(
        "total = 0\nfor i in range(1000):\n    total += i * i\n"
        "label = 'SR-%05d' % 42 + '-' + 'x'.ljust(3, '.') + f'{total:>12,}'\n"
        "big = 2 ** 200 // 3 ** 50\nwords = ' '.join(['a', 'b'] * 3).replace('a', 'A')\n"
        "n = 0\nwhile n < 10:\n    n += 1"), name="fine")
    variables = engine.start("approval", {"amount": 1}).variables
    assert variables["total"] == 332833500 and variables["label"] == "SR-00042-x.. 332,833,500"
    assert variables["big"] == 2 ** 200 // 3 ** 50 and variables["words"] == "A b A b A b"
    assert variables["n"] == 10


# --- property: no combination of the growing operators escapes the bounds ----------------

_LEAVES = st.one_of(
    st.integers(min_value=-(10 ** 12), max_value=10 ** 12).map(repr),
    st.sampled_from(["'ab'", "[0, 1]", "(1,)", "10 ** 6", "'%5d'"]))
_OPERATORS = st.sampled_from(["+", "*", "**", "<<", "%"])


def _expression(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _LEAVES
    smaller = _expression(depth - 1)
    combined = st.tuples(smaller, _OPERATORS, smaller).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    return st.one_of(smaller, combined)


def _size(value) -> int:
    if isinstance(value, int):
        return value.bit_length()
    return len(value) if hasattr(value, "__len__") else 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expression(4))
def test_any_mix_of_growing_operators_is_fast_and_bounded(source):
    environment = RestrictedEnvironment()
    began = time.monotonic()
    try:
        value = environment.evaluate(source, {})
    except ScriptError:
        value = None
    except (ArithmeticError, TypeError, ValueError):  # Python's own answer to nonsense
        value = None
    assert time.monotonic() - began < 1, source
    assert _size(value) <= max(MAX_LENGTH, MAX_INT_BITS) * 2, source
