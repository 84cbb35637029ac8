"""Query parameters and JSON bodies as Camunda reads them: paging (``firstResult``,
``maxResults``), ``sortBy`` with ``sortOrder``, booleans, dates and comma lists; a bad value
is a 400 naming the parameter, in Camunda's words."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import jsonify, request

from engine.forms import text_problem

from .errors import invalid
from .variables import parse_date


def _refuse(name: str, value: str, why: str = "") -> Exception:
    return invalid(f"Cannot set query parameter '{name}' to value '{value}'" + (f": {why}" if why else ""))


def text(name: str) -> str | None:
    value = request.args.get(name)
    return value if value not in (None, "") else None


def text_list(name: str) -> tuple[str, ...] | None:
    """A comma-separated list (Camunda's ``…In`` parameters)."""
    value = text(name)
    return tuple(v for v in value.split(",") if v) if value is not None else None


INTEGER_MAX = 2**31 - 1  # Camunda's paging parameters are Java Integers


def integer(name: str, minimum: int = 0, maximum: int = INTEGER_MAX) -> int | None:
    value = text(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise _refuse(name, value, "not a whole number") from None
    if number < minimum:
        raise _refuse(name, value, f"must be at least {minimum}")
    if number > maximum:
        raise _refuse(name, value, f"must be at most {maximum}")
    return number


def boolean(name: str) -> bool | None:
    value = text(name)
    if value is None:
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _refuse(name, value, "must be true or false")


def date(name: str) -> datetime | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_date(value.replace(" ", "+"))  # an unencoded '+' arrives as a space
    except ValueError as exc:
        raise _refuse(name, value, str(exc)) from None


def paging() -> tuple[int, int | None]:
    """``firstResult`` (default 0) and ``maxResults`` (default: all)."""
    return integer("firstResult") or 0, integer("maxResults")


def sorting(keys: Mapping[str, str | None]) -> list[tuple[str, bool]]:
    """Camunda's ``sortBy`` mapped through ``keys`` (a key mapped to None sorts nothing:
    a field that is always null here) with its required ``sortOrder``."""
    sort_by, order = text("sortBy"), text("sortOrder")
    if sort_by is None and order is None:
        return []
    if sort_by is None or order is None:
        raise invalid("Only a single sorting parameter specified. sortBy and sortOrder required")
    if sort_by not in keys:
        raise _refuse("sortBy", sort_by)
    if order not in ("asc", "desc"):
        raise _refuse("sortOrder", order)
    key = keys[sort_by]
    return [(key, order == "desc")] if key is not None else []


def like(pattern: str, value: str | None) -> bool:
    """SQL LIKE in Python (``%`` any run, ``_`` one character), for lists filtered here."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return value is not None and re.fullmatch(regex, value, re.DOTALL) is not None


def page(items: list, first: int, most: int | None) -> list:
    return items[first:first + most if most is not None else None]


def count(total: int):
    return jsonify({"count": total})


def json_body() -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``.

    :raise RestError: 400 for anything else, and for what Camunda's parser refuses too:
        ``NaN`` and infinite numbers, nesting deeper than :data:`MAX_DEPTH`; and text no
        column can hold (NUL characters, lone surrogates), naming where it is.
    """
    data = request.get_data()
    if not data:
        return {}
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    problem = _value_problem(body, "", 0)
    if problem:
        raise invalid(f"The request body {problem}")
    return body


MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _value_problem(value: Any, where: str, depth: int) -> str | None:
    """What makes ``value`` (at ``where``, a dotted path) unusable, or None."""
    if isinstance(value, (list, dict)) and depth >= MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    at = f" at '{where}'" if where else ""
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds a number too large for a double{at}"
    if isinstance(value, str):
        problem = text_problem(value)
        return f"holds text that {problem}{at}" if problem else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        problem = text_problem(key) if isinstance(key, str) else None
        if problem:
            return f"holds a name that {problem}{at}"
        problem = _value_problem(item, path, depth + 1)
        if problem:
            return problem
    return None
