"""What one script, condition or decision cell may cost.

RestrictedPython keeps a diagram away from the interpreter's internals, but not from asking
for too much: ``10**10**10``, ``'a' * 10**10`` or ``while True: pass`` would hold a web
worker (or the timer worker) for minutes or exhaust its memory. :class:`BoundedTransformer`
compiles the operators that can build a huge value (``+ * ** << %``) into calls of checks
that refuse before the value is built, counts every pass of every loop and comprehension,
and refuses computed or page-wide f-string format specifications. ``range``, ``pow`` and
the string methods that pad, repeat or join are replaced by bounded versions.

A refusal is a :class:`ScriptLimitExceeded` (a :class:`~engine.errors.ScriptError`): the
command fails and nothing is saved. Not every allocation can be bounded from inside the
process; the deployment's process limits (gunicorn's worker timeout, the service's memory
limit) stay the backstop.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from time import monotonic
from typing import Any

from RestrictedPython.Guards import safer_getattr
from RestrictedPython.transformer import RestrictingNodeTransformer

from .errors import ScriptError

MAX_LENGTH = 1_000_000  # characters of a text, items of a list
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
MAX_WIDTH = 1_000  # of a formatted field
MAX_LOOP_PASSES = 1_000_000  # per evaluation, all loops together
MAX_SECONDS = 2.0  # per evaluation, checked on loop passes


class ScriptLimitExceeded(ScriptError):
    """A script asked for more time or memory than one step may take."""


def _refuse(what: str) -> ScriptLimitExceeded:
    return ScriptLimitExceeded(f"script limit exceeded: {what}")


# --- the compiler ---------------------------------------------------------------------------

_GUARDED = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_",
            ast.Mod: "_mod_"}
_WIDTH = re.compile(r"\d+")


class BoundedTransformer(RestrictingNodeTransformer):
    """RestrictedPython's checks, plus the bounds above compiled in."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _GUARDED.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_While(self, node: ast.While) -> ast.AST:
        node = self.node_contents_visit(node)
        tick = ast.Expr(ast.Call(func=ast.Name("_loop_", ast.Load()), args=[], keywords=[]))
        node.body.insert(0, ast.fix_missing_locations(ast.copy_location(tick, node)))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            if any(isinstance(part, ast.FormattedValue) for part in ast.walk(spec)):
                self.error(node, "a computed format specification is not allowed")
            elif any(int(w) > MAX_WIDTH for part in ast.walk(spec) if isinstance(part, ast.Constant)
                     for w in _WIDTH.findall(str(part.value))):
                self.error(node, f"a formatted field wider than {MAX_WIDTH} is not allowed")
        return self.node_contents_visit(node)


# --- operators ------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise _refuse(f"a number of more than {MAX_INT_BITS} bits")


def _check_length(length: int) -> None:
    if length > MAX_LENGTH:
        raise _refuse(f"a text or list longer than {MAX_LENGTH:,}")


def guarded_add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(len(left) + len(right))
    return left + right


def guarded_mul(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right):
        _check_bits(left.bit_length() + right.bit_length())
    elif isinstance(left, _SEQUENCES) and _is_int(right):
        _check_length(len(left) * right)
    elif _is_int(left) and isinstance(right, _SEQUENCES):
        _check_length(left * len(right))
    return left * right


def guarded_pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    if modulus is not None:
        return pow(base, exponent, modulus)
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        _check_bits(exponent * base.bit_length())
    return base ** exponent


def guarded_lshift(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right) and left:
        _check_bits(left.bit_length() + right)
    return left << right


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def guarded_mod(left: Any, right: Any) -> Any:
    """``%`` formatting: no field wider than a page, and no width taken from the values."""
    if isinstance(left, (str, bytes)):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        for width, precision in _PERCENT_FIELD.findall(text):
            for number in (width, precision):
                if number == "*" or (number and int(number) > MAX_WIDTH):
                    raise _refuse(f"a formatted field wider than {MAX_WIDTH}")
    return left % right


_INPLACE = {"+=": guarded_add, "-=": operator.isub, "*=": guarded_mul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": guarded_mod, "**=": guarded_pow, "<<=": guarded_lshift}


def guarded_inplace(op: str, target: Any, value: Any) -> Any:
    """``x += y`` and friends, as RestrictedPython compiles them."""
    function = _INPLACE.get(op)
    if function is None:
        raise ScriptError(f"the operator {op} is not allowed in scripts")
    return function(target, value)


# --- builtins and methods -------------------------------------------------------------------

def bounded_range(*args: int) -> range:
    numbers = range(*args)
    _check_length(len(numbers))
    return numbers


def _padded(method: Callable) -> Callable:
    def pad(width: int, *args: Any) -> Any:
        _check_length(width)
        return method(width, *args)
    return pad


def _expandtabs(text: Any) -> Callable:
    def expand(tabsize: int = 8) -> Any:
        _check_length(len(text) * max(tabsize, 1))
        return text.expandtabs(tabsize)
    return expand


def _join(separator: Any) -> Callable:
    def join(items: Iterable) -> Any:
        items = list(items)
        _check_length(sum(len(i) for i in items if isinstance(i, _SEQUENCES))
                      + len(separator) * max(len(items) - 1, 0))
        return separator.join(items)
    return join


def _replace(text: Any) -> Callable:
    def replace(old: Any, new: Any, count: int = -1) -> Any:
        if len(new) > len(old):
            times = text.count(old) if old else len(text) + 1
            times = times if count < 0 else min(times, count)
            _check_length(len(text) + times * (len(new) - len(old)))
        return text.replace(old, new, count)
    return replace


_BOUNDED_METHODS: dict[str, Callable[[Any], Callable]] = {
    "ljust": lambda t: _padded(t.ljust), "rjust": lambda t: _padded(t.rjust),
    "center": lambda t: _padded(t.center), "zfill": lambda t: _padded(t.zfill),
    "expandtabs": _expandtabs, "join": _join, "replace": _replace,
}


def bounded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr``, with text methods that can grow a value bounded."""
    if isinstance(obj, (str, bytes)) and name in _BOUNDED_METHODS:
        safer_getattr(obj, name)  # the same refusals first
        return _BOUNDED_METHODS[name](obj)
    return safer_getattr(obj, name, default)


# --- loops ----------------------------------------------------------------------------------

class Budget:
    """The loop passes and time one evaluation may use."""

    __slots__ = ("deadline", "passes")

    def __init__(self) -> None:
        self.passes = 0
        self.deadline = monotonic() + MAX_SECONDS

    def tick(self) -> None:
        self.passes += 1
        if self.passes > MAX_LOOP_PASSES:
            raise _refuse(f"more than {MAX_LOOP_PASSES:,} loop passes")
        if not self.passes & 0xF and monotonic() > self.deadline:
            raise _refuse(f"more than {MAX_SECONDS:g} s")

    def iterate(self, iterable: Iterable) -> Iterator:
        for item in iterable:
            self.tick()
            yield item

    def guards(self) -> dict[str, Any]:
        return {"_getiter_": self.iterate, "_loop_": self.tick}


OPERATOR_GUARDS = {"_add_": guarded_add, "_mul_": guarded_mul, "_pow_": guarded_pow,
                   "_lshift_": guarded_lshift, "_mod_": guarded_mod}
