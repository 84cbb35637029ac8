"""Query parameters and JSON bodies as Camunda reads them: paging (``firstResult``,
``maxResults``), ``sortBy`` with ``sortOrder``, booleans, dates and comma lists; a bad value
is a 400 naming the parameter, in Camunda's words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import jsonify, request

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


def integer(name: str, minimum: int = 0) -> int | None:
    value = text(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise _refuse(name, value, "not a whole number") from None
    if number < minimum:
        raise _refuse(name, value, f"must be at least {minimum}")
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
    """The request's JSON object; an empty body is ``{}``."""
    if not request.get_data():
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body
