"""Camunda-style expressions become the Python the library runs, or are refused."""

import pytest

from engine import expressions
from engine.expressions import Untranslatable


@pytest.mark.parametrize(("juel", "python"), [
    ("${priority == 'emergency'}", "priority == 'emergency'"),
    ('${approved && amount < 1000}', "approved and amount < 1000"),
    ("${!approved || vip}", "not approved or vip"),
    ("${a eq 'x' and b ne 2}", "a == 'x' and b != 2"),
    ("${empty comment}", "not comment"),
    ("${flag == true}", "flag == True"),
    ("${response_due}", "response_due"),
    ("#{x > 1}", "x > 1"),
    ("${name == 'a && b'}", "name == 'a && b'"),
])
def test_juel_forms_translate(juel, python):
    assert expressions.juel_to_python(juel) == python


@pytest.mark.parametrize("juel", [
    "${execution.getVariable('x')}",
    "${a ? b : c}",
    "${__import__('os')}",
    "${x.__class__}",
    "${f(x)}",
])
def test_juel_beyond_the_simple_subset_is_refused(juel):
    with pytest.raises(Untranslatable):
        expressions.juel_to_python(juel)


@pytest.mark.parametrize(("kind", "text", "python"), [
    ("timeDuration", "PT24H", "'PT24H'"),
    ("timeDuration", "P3D", "'P3D'"),
    ("timeDuration", "'PT2H'", "'PT2H'"),
    ("timeDate", "2026-05-01T10:00:00+08:00", "'2026-05-01T10:00:00+08:00'"),
    ("timeCycle", "R3/PT10M", "'R3/PT10M'"),
    ("timeDate", "${response_due}", "response_due"),
    ("timeDate", "response_due", "response_due"),
])
def test_timer_literals_are_quoted_and_expressions_translated(kind, text, python):
    assert expressions.timer_expression(kind, text) == python


@pytest.mark.parametrize(("kind", "text"), [
    ("timeDuration", "'PT24X'"),
    ("timeDuration", ""),
    ("timeCycle", "R/every day"),
])
def test_bad_timer_literals_are_refused(kind, text):
    with pytest.raises(Untranslatable):
        expressions.timer_expression(kind, text)


@pytest.mark.parametrize(("cell", "python"), [
    ('"plumbing"', '"plumbing"'),
    ('"plumbing","electrical"', '? in ("plumbing","electrical",)'),
    ('not("cleaning")', 'not (? == ("cleaning"))'),
    ('not("a","b")', 'not (? in ("a","b",))'),
    ("[1..5]", "? is not None and ? >= 1 and ? <= 5"),
    ("]1..5[", "? is not None and ? > 1 and ? < 5"),
    ("< 5", "? is not None and ? < 5"),
    (">= 4.5", "? is not None and ? >= 4.5"),
    ("true", "True"),
    ("-", None),
    ("", None),
    ('contains(?, "漏水")', 'contains(?, "漏水")'),
])
def test_feel_cells_translate(cell, python):
    assert expressions.dmn_input_entry(cell) == python


@pytest.mark.parametrize(("cell", "on_none", "on_six"), [
    ("< 5", False, False), (">= 4.5", False, True), ("[1..5]", False, False), ("not(< 5)", True, True)])
def test_a_comparison_does_not_match_a_missing_input_as_in_feel(cell, on_none, on_six):
    """FEEL's null compares to nothing; Python's None < 5 would raise TypeError."""
    translated = expressions.dmn_input_entry(cell).replace("?", "value")
    assert eval(translated, {"value": None}) is on_none
    assert eval(translated, {"value": 6}) is on_six


def test_a_feel_list_would_otherwise_never_match():
    """The reason for translating: compared with ==, a tuple never equals a string."""
    untranslated = '"plumbing","electrical"'
    assert (eval(untranslated) == "plumbing") is False
    translated = expressions.dmn_input_entry(untranslated).replace("?", "value")
    assert eval(translated, {"value": "plumbing"}) is True
    assert eval(translated, {"value": "cleaning"}) is False
