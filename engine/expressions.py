"""Translate what Camunda users write into the Python the library evaluates.

SpiffWorkflow evaluates every condition, timer and decision cell as Python. Diagrams
written for Camunda use JUEL (``${priority == 'emergency'}``), unquoted ISO 8601 timer
literals (``PT24H``) and FEEL decision cells (``"plumbing","electrical"``). Left alone,
these fail at run time or, worse, silently never match. Each function here returns the
Python equivalent or raises :class:`Untranslatable` with a plain explanation; the
deployment turns that into a problem naming the element.
"""

from __future__ import annotations

import ast
import re


class Untranslatable(ValueError):
    """The text cannot be turned into a safe Python expression."""


_JUEL = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
_STRING = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_TOKEN = re.compile(
    rf"(?P<str>{_STRING})|(?P<op>&&|\|\||!=|==|<=|>=|!)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)",
    re.DOTALL,
)
_WORDS = {
    "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=",
    "and": "and", "or": "or", "not": "not",
    "true": "True", "false": "False", "null": "None",
    "div": "/", "mod": "%",
}
_OPS = {"&&": " and ", "||": " or ", "!": " not "}
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod,
    ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List,
)


def is_juel(text: str) -> bool:
    return bool(_JUEL.match(text or ""))


def juel_to_python(text: str) -> str:
    """``${a == 'x' && !b}`` → ``a == 'x' and not b``.

    Only the operator-and-variable subset of JUEL is translated; method calls
    (``${execution.getVariable('x')}``), the ternary operator and bean access are refused,
    because guessing their meaning would be worse than saying no.
    """
    match = _JUEL.match(text)
    if not match:
        raise Untranslatable(f"'{text}' is not a ${{…}} expression")
    body = match.group("body")
    if "${" in body or "#{" in body:
        raise Untranslatable("text mixed with several ${…} expressions is not supported")
    parts: list[str] = []
    tokens = list(_TOKEN.finditer(body))
    for index, token in enumerate(tokens):
        kind, value = token.lastgroup, token.group()
        if kind == "str" or (kind == "op" and value not in _OPS):
            parts.append(value)
        elif kind == "op":
            parts.append(_OPS[value])
        elif kind == "word":
            if value == "empty":
                parts.append(" not ")
            else:
                parts.append(f" {_WORDS[value]} " if value in _WORDS else value)
        elif value in "?:":
            raise Untranslatable("the JUEL conditional operator (a ? b : c) is not supported")
        elif value == "." and index + 1 < len(tokens) and tokens[index + 1].lastgroup == "word":
            raise Untranslatable(
                "method calls and property access (such as execution.getVariable) are not "
                "supported; refer to process variables by name"
            )
        else:
            parts.append(value)
    python = " ".join("".join(parts).split())
    check_simple_expression(python)
    return python


def check_simple_expression(python: str) -> None:
    """Refuse anything beyond variables, literals, comparisons and boolean logic."""
    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError as exc:
        raise Untranslatable(f"'{python}' is not a valid expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise Untranslatable(
                f"'{python}' uses {type(node).__name__}, which expressions here may not use"
            )


def python_expression(text: str) -> str:
    """A condition or value expression: JUEL is translated, Python must compile."""
    text = (text or "").strip()
    if not text:
        raise Untranslatable("the expression is empty")
    if is_juel(text):
        return juel_to_python(text)
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise Untranslatable(f"'{text}' is not a valid expression ({exc.msg})") from None
    return text


# ISO 8601 forms a Camunda user types straight into a timer field.
_ISO_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$", re.I
)
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ISO_CYCLE = re.compile(r"^R\d*/[^/\s]+(/[^/\s]+)?$", re.I)


def timer_expression(kind: str, text: str) -> str:
    """A ``timeDate``, ``timeDuration`` or ``timeCycle`` body as a Python expression.

    Unquoted ISO literals are quoted (``PT24H`` → ``"PT24H"``); ``${var}`` becomes ``var``;
    an already quoted literal or a variable name passes through. Literals are checked
    here so a typo fails the deployment, not the instance a week later.
    """
    text = (text or "").strip()
    if not text:
        raise Untranslatable(f"the {kind} is empty")
    literal = _unquote(text)
    if literal is not None or _looks_iso(kind, text):
        literal = text if literal is None else literal
        _check_iso_literal(kind, literal)
        return repr(literal)
    return python_expression(text)


def _unquote(text: str) -> str | None:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return None


_ISO_ATTEMPT = re.compile(r"^(P[\dT]|R\d*/|\d{4}-\d{2})", re.I)


def _looks_iso(kind: str, text: str) -> bool:
    """Meant as an ISO literal: valid, or close enough that it is surely a typo for one
    (``PT2X`` would otherwise be read as a variable and fail only when the timer starts)."""
    if kind == "timeCycle" and _ISO_CYCLE.match(text):
        return True
    return bool(_ISO_DURATION.match(text) or _ISO_DATETIME.match(text) or _ISO_ATTEMPT.match(text))


def _check_iso_literal(kind: str, literal: str) -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

    try:
        if kind == "timeCycle":
            Timer.parse_iso_recurring_interval(literal)
        elif kind == "timeDuration":
            Timer.parse_iso_duration(literal)
        else:
            Timer.parse_time_or_duration(literal)
    except Exception:
        raise Untranslatable(f"'{literal}' is not a valid ISO 8601 {kind}") from None


# --- DMN cells ---------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*(?P<lo>[\[\]\(])\s*(?P<a>[^.]+?)\s*\.\.\s*(?P<b>[^.]+?)\s*(?P<hi>[\[\]\)])\s*$")
_NOT = re.compile(r"^\s*not\s*\((?P<body>.*)\)\s*$", re.DOTALL)
_ORDERING = re.compile(r"^\s*(<=|>=|<|>)")


def feel_words_to_python(text: str) -> str:
    """``true``/``false``/``null`` outside string literals → ``True``/``False``/``None``."""
    out = []
    for token in _TOKEN.finditer(text):
        value = token.group()
        if token.lastgroup == "word" and value in ("true", "false", "null"):
            out.append(_WORDS[value])
        else:
            out.append(value)
    return "".join(out)


def dmn_input_entry(text: str | None) -> str | None:
    """A decision-table input cell in the form the library's DMN engine evaluates.

    ``None`` means "any value". FEEL lists (``"a","b"``), negations (``not("a")``) and
    ranges (``[1..5]``) are rewritten; a cell that is a Python tuple would otherwise be
    compared with ``==`` and silently never match. Comparisons and ranges do not match a
    missing (``None``) input, as in FEEL, instead of failing.
    """
    if text is None or text.strip() in ("", "-"):
        return None
    text = feel_words_to_python(text.strip())
    negated = _NOT.match(text)
    if negated:
        inner = dmn_input_entry(negated.group("body"))
        return f"not ({_as_test(inner)})" if inner is not None else "False"
    ranged = _RANGE.match(text)
    if ranged:
        low = ">=" if ranged.group("lo") == "[" else ">"
        high = "<=" if ranged.group("hi") == "]" else "<"
        return f"? is not None and ? {low} {ranged.group('a')} and ? {high} {ranged.group('b')}"
    probe = text.replace("?", "__input__")
    try:
        tree = ast.parse(probe, mode="eval")
    except SyntaxError:
        try:
            ast.parse(f"__input__ {probe}", mode="eval")
        except SyntaxError as exc:
            raise Untranslatable(f"'{text}' is not a valid decision cell ({exc.msg})") from None
        if _ORDERING.match(text):
            # FEEL: comparing null gives null, so the rule does not match ("no scores yet");
            # Python would raise TypeError, and a FIRST table evaluates every row.
            return f"? is not None and ? {text}"
        return text
    if isinstance(tree.body, ast.Tuple):
        return f"? in ({text},)"
    return text


def _as_test(cell: str) -> str:
    """A cell as a boolean test of ``?``, for wrapping in ``not (…)``."""
    probe = cell.replace("?", "__input__")
    try:
        ast.parse(probe, mode="eval")
    except SyntaxError:
        return f"? {cell}"
    return cell if "?" in cell else f"? == ({cell})"


def dmn_output_entry(text: str | None) -> str | None:
    if text is None or not text.strip():
        return text
    python = feel_words_to_python(text.strip())
    try:
        ast.parse(python, mode="eval")
    except SyntaxError as exc:
        raise Untranslatable(f"'{text}' is not a valid output value ({exc.msg})") from None
    return python
