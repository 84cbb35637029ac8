"""The restricted environment every script, condition and decision cell runs in.

The library's default environment is plain ``eval``/``exec`` with full builtins, so a
diagram could run ``__import__('os')``. Here every source text is compiled with
RestrictedPython (which refuses names and attributes starting with ``_``, so
``().__class__.__mro__[1].__subclasses__()`` does not compile) and runs with a small set
of builtins and RestrictedPython's guards. The library does not serialize the script
engine: :mod:`engine.runtime` re-attaches this one after every load. What one evaluation
may cost (numbers, text and list sizes, loop passes, time) is bounded by
:mod:`engine.script_limits`.
"""

from __future__ import annotations

import os
from datetime import datetime, time
from functools import lru_cache
from types import CodeType
from typing import Any
from zoneinfo import ZoneInfo

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from .errors import ScriptError
from .script_limits import (
    OPERATOR_GUARDS,
    BoundedTransformer,
    Budget,
    bounded_getattr,
    bounded_range,
    guarded_inplace,
    guarded_pow,
)


class UnsafeSource(ScriptError):
    """Source text that the restricted compiler refuses."""


def add_duration(start: str, duration: str) -> str:
    """ISO 8601 ``start`` plus an ISO 8601 ``duration`` (``PT24H``, ``P3D``, ``P1M``); a
    leading ``-`` subtracts (``-P1D``: a day before)."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

    when = datetime.fromisoformat(start)
    if duration.startswith("-"):
        delta = Timer.get_timedelta_from_end(Timer.parse_iso_duration(duration[1:]), when)
        return (when - delta).isoformat()
    delta = Timer.get_timedelta_from_start(Timer.parse_iso_duration(duration), when)
    return (when + delta).isoformat()


COMPANY_TIMEZONE = os.environ.get("PROPFLOW_TIMEZONE", "Asia/Shanghai")


def end_of_day(day: str, timezone: str | None = None) -> str:
    """The last second of a date (``2026-02-01`` or a date-time) in the company's time zone,
    with its offset: what people mean by "due on the 1st"."""
    parsed = datetime.fromisoformat(day)
    zone = ZoneInfo(timezone or COMPANY_TIMEZONE)
    return datetime.combine(parsed.date(), time(23, 59, 59), zone).isoformat()


def contains(text: Any, word: str) -> bool:
    """Case-insensitive substring test that treats a missing text as not containing."""
    return text is not None and str(word).casefold() in str(text).casefold()


SCRIPT_FUNCTIONS = {"add_duration": add_duration, "contains": contains, "end_of_day": end_of_day}

_EXTRA_BUILTINS = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in (
        "all", "any", "dict", "enumerate", "filter", "list", "map", "max", "min",
        "reversed", "set", "sorted", "sum", "tuple", "zip", "frozenset",
    )
}

# Exceptions a script could raise to stop the process itself rather than fail its step.
_PROCESS_EXITS = ("BaseException", "GeneratorExit", "KeyboardInterrupt", "SystemExit")
_BUILTINS = {
    **{name: value for name, value in safe_builtins.items() if name not in _PROCESS_EXITS},
    **_EXTRA_BUILTINS, "range": bounded_range, "pow": guarded_pow,
}


def _guards() -> dict[str, Any]:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": bounded_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,  # replaced per evaluation by a counting one
        "_loop_": None,  # likewise
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": guarded_inplace,
        **OPERATOR_GUARDS,
    }


def _compiled(result, what: str) -> CodeType:
    if result.errors:
        raise UnsafeSource(f"{what} is not allowed: {'; '.join(result.errors)}")
    return result.code


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CodeType:
    result = compile_restricted_eval(source, "<expression>", policy=BoundedTransformer)
    return _compiled(result, f"expression '{source}'")


@lru_cache(maxsize=1024)
def compile_script(source: str) -> CodeType:
    return _compiled(compile_restricted_exec(source, "<string>", policy=BoundedTransformer), "script")


class RestrictedEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment whose code is compiled and guarded by RestrictedPython."""

    def __init__(self, functions: dict[str, Any] | None = None):
        self._guards = _guards()
        super().__init__({**self._guards, **SCRIPT_FUNCTIONS, **(functions or {})})

    def evaluate(self, expression, context, external_context=None):
        code = compile_expression(expression)
        scope = dict(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        scope.update(self._guards)  # data never stands in for a guard
        scope.update(Budget().guards())
        return eval(code, scope)

    def execute(self, script, context, external_context=None):
        self.check_for_overwrite(context, external_context or {})
        code = compile_script(script)
        context.update(self.globals)
        context.update(external_context or {})
        context.update(Budget().guards())
        try:
            exec(code, context)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


def build_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())
