"""Camunda's typed variables, both ways: ``{"name": {"value": …, "type": "Long",
"valueInfo": {}}}`` in requests and answers; the engine keeps plain JSON values (dates as
ISO 8601 text).

In: String, Integer, Short, Long, Double, Boolean, Date (``yyyy-MM-dd'T'HH:mm:ss.SSSZ``),
Json (its text, or the object itself), Object serialized as ``application/json``, Null, or
no type (the JSON value as it is). A value that does not fit its type is refused naming
the variable. Out: the type a form field declares when one does, else the value's own
(Integer or Long by size, Double, Boolean, String, Json for objects and lists, Null); text
holding a timestamp with an offset — what the engine stores for dates — is a Date. Times
are written in UTC.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import invalid

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$")
_STORED_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGES = {"integer": (-2**31, 2**31 - 1), "short": (-2**15, 2**15 - 1), "long": (-2**63, 2**63 - 1)}
_UNSUPPORTED = ("bytes", "file", "xml")
DATE_FORMAT_HELP = "a date such as 2026-01-05T09:00:00.000+0800 (yyyy-MM-dd'T'HH:mm:ss.SSSZ)"


def format_date(value: datetime | None) -> str | None:
    """Camunda's date format, in UTC: ``2026-01-05T01:00:00.000+0000``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_date(text: str) -> datetime:
    """A timestamp in Camunda's format (the offset is required; ``+08:00``, ``Z`` and
    fewer or more fraction digits are accepted too). :raise ValueError: otherwise."""
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected {DATE_FORMAT_HELP}")
    day, time, fraction, offset = match.groups()
    offset = "+00:00" if offset == "Z" else f"{offset[:3]}:{offset[-2:]}"
    try:
        parsed = datetime.fromisoformat(f"{day}T{time}.{(fraction or '0')[:6].ljust(6, '0')}{offset}")
        parsed.astimezone(UTC)  # 9999-12-31T23:00-0500 has no UTC time: stored, it could not be read
    except (ValueError, OverflowError):
        raise ValueError(f"expected {DATE_FORMAT_HELP}") from None
    return parsed


# --- in ----------------------------------------------------------------------------------------

def parse_variables(raw: Any, context: str, hints: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Plain values from a ``{"name": {"value", "type", "valueInfo"}}`` map; ``hints`` are
    form field types by name. :raise RestError: 400 naming the first bad variable."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"{context}: 'variables' must be a JSON object of name: {{value, type}}")
    plain = {}
    for name, dto in raw.items():
        if not isinstance(dto, dict):
            raise invalid(f"{context}: variable '{name}' must be an object with 'value' and 'type'")
        try:
            plain[name] = _plain(dto, (hints or {}).get(name))
        except ValueError as exc:
            raise invalid(f"{context}: variable '{name}': {exc}") from None
    return plain


def _plain(dto: Mapping[str, Any], hint: str | None) -> Any:
    value, kind = dto.get("value"), dto.get("type")
    if kind is None:
        return value
    if not isinstance(kind, str) or not kind:
        raise ValueError("its type must be a name such as String or Long")
    name = kind[0].lower() + kind[1:]  # Camunda accepts "String" and "string" alike
    if name == "null" or value is None:
        return None
    if name in _UNSUPPORTED:
        raise ValueError(f"type '{kind}' is not supported here")
    converter = _CONVERTERS.get(name)
    if converter is None:
        if name == "object":
            return _object(dto, kind)
        raise ValueError(f"unsupported value type '{kind}'")
    return converter(value, kind, hint)


def _cannot(value: Any, kind: str, why: str = "") -> ValueError:
    shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return ValueError(f"cannot convert value '{shown}' to type {kind}" + (f" ({why})" if why else ""))


def _string(value, kind, hint):
    if isinstance(value, (dict, list)):
        raise _cannot(value, kind)
    return value if isinstance(value, str) else json.dumps(value)


def _whole(value, kind, hint):
    number = value
    whole_text = isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value)
    if whole_text or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise _cannot(value, kind, "not a whole number")
    low, high = _RANGES[kind[0].lower() + kind[1:]]
    if not low <= number <= high:
        raise _cannot(value, kind, f"outside {low} … {high}")
    return number


def _double(value, kind, hint):
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise _cannot(value, kind, "not a number") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise _cannot(value, kind, "not a number")
    return number


def _boolean(value, kind, hint):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _cannot(value, kind, "true or false")


def _date(value, kind, hint):
    if not isinstance(value, str):
        raise _cannot(value, kind, DATE_FORMAT_HELP)
    try:
        parsed = parse_date(value)
    except ValueError:
        raise _cannot(value, kind, DATE_FORMAT_HELP) from None
    # A form's date field holds a calendar day; it went out as that day's midnight in UTC.
    if hint == "date" and parsed.utcoffset().total_seconds() == 0 and parsed.time() == datetime.min.time():
        return parsed.date().isoformat()
    return parsed.isoformat()


def _json(value, kind, hint):
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str):
        raise _cannot(value, kind, "JSON text")
    try:
        return json.loads(value)
    except ValueError:
        raise _cannot(value, kind, "not valid JSON") from None


def _object(dto: Mapping[str, Any], kind: str) -> Any:
    info = dto.get("valueInfo") or {}
    if info.get("serializationDataFormat") != "application/json":
        raise ValueError("type 'Object' is only accepted serialized as application/json; use Json")
    return _json(dto.get("value"), kind, None)


_CONVERTERS = {"string": _string, "integer": _whole, "short": _whole, "long": _whole, "double": _double,
               "boolean": _boolean, "date": _date, "json": _json}


# --- out ---------------------------------------------------------------------------------------

def typed(value: Any, hint: str | None = None) -> dict[str, Any]:
    """One plain value as Camunda's ``{"type", "value", "valueInfo"}``."""
    kind, shown = _type_of(value, hint)
    return {"type": kind, "value": shown, "valueInfo": {}}


def _type_of(value: Any, hint: str | None) -> tuple[str, Any]:
    if value is None:
        return ("Date" if hint == "date" else "String" if hint in ("string", "enum")
                else "Long" if hint == "long" else "Boolean" if hint == "boolean" else "Null"), None
    if isinstance(value, bool):
        return "Boolean", value
    if isinstance(value, int):
        return ("Long" if hint == "long" or not -2**31 <= value < 2**31 else "Integer"), value
    if isinstance(value, float):
        return "Double", value
    if isinstance(value, (dict, list)):
        return "Json", json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        date = _stored_date(value, hint)
        if date is not None:
            return "Date", format_date(date)
        return "String", value
    return "String", str(value)


def _stored_date(value: str, hint: str | None) -> datetime | None:
    if hint == "date" and _DATE_ONLY.match(value):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if (hint == "date" or hint is None) and _STORED_TIMESTAMP.match(value):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo is not None else None
    return None


def typed_map(values: Mapping[str, Any], hints: Mapping[str, str] | None = None,
              names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Typed variables, all or only ``names`` (those the map has)."""
    wanted = values.keys() if names is None else [n for n in names if n in values]
    return {name: typed(values[name], (hints or {}).get(name)) for name in wanted}
