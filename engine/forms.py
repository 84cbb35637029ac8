"""Form definitions read from ``camunda:formData`` and validation of submitted data.

The library keeps form fields as raw strings and validates nothing, so this module is the
single place that decides whether a submission is acceptable. It is pure: no Flask, no
database. ``forms/`` builds WTForms classes from the same definitions for the browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from .errors import InvalidTaskData

FIELD_TYPES = ("string", "long", "boolean", "date", "enum")
CONSTRAINTS = ("required", "readonly", "minlength", "maxlength", "min", "max", "requiredIf")
_TRUE = {"true", "on", "1", "yes", "y"}
_FALSE = {"false", "off", "0", "no", "n", ""}
_CAMUNDA_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")  # Camunda's generated-form pattern
# Tab, line feed and carriage return are text; the other control characters are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONG = (-2**63, 2**63 - 1)  # Camunda's long


@dataclass(frozen=True)
class FormField:
    id: str
    type: str
    label: str = ""
    default: Any = None
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    minlength: int | None = None
    maxlength: int | None = None
    min: int | None = None
    max: int | None = None
    required_if: tuple[str, str] | None = None
    properties: tuple[tuple[str, str], ...] = ()

    def option_ids(self) -> tuple[str, ...]:
        return tuple(option_id for option_id, _ in self.options)


@dataclass(frozen=True)
class FormDefinition:
    fields: tuple[FormField, ...] = ()

    def field(self, field_id: str) -> FormField | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [asdict(f) for f in self.fields]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FormDefinition:
        fields = []
        for raw in data.get("fields", ()):
            raw = dict(raw)
            raw["options"] = tuple(tuple(o) for o in raw.get("options", ()))
            raw["properties"] = tuple(tuple(p) for p in raw.get("properties", ()))
            if raw.get("required_if"):
                raw["required_if"] = tuple(raw["required_if"])
            fields.append(FormField(**raw))
        return cls(tuple(fields))


def coerce_value(form_field: FormField, value: Any) -> Any:
    """The value in the type the field declares, or ``ValueError`` with a plain message."""
    if value is None:
        return None
    kind = form_field.type
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise ValueError("must be text")
        return _coerce_text(str(value))
    if kind == "long":
        return _coerce_long(value)
    if kind == "boolean":
        return _coerce_boolean(value)
    if kind == "date":
        return _coerce_date(value)
    if kind == "enum":
        value = str(value)
        if value not in form_field.option_ids():
            raise ValueError(f"must be one of: {', '.join(form_field.option_ids())}")
        return value
    raise ValueError(f"has unknown type '{kind}'")


def text_problem(text: str) -> str | None:
    """Why no database column or JSON document can hold ``text`` as it is, or None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def _coerce_text(text: str) -> str:
    problem = text_problem(text)
    if problem is None and _CONTROL.search(text):
        problem = "contains control characters"
    if problem:
        raise ValueError(problem)
    return text


def _coerce_long(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    whole_float = isinstance(value, float) and value.is_integer()
    whole_text = isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,30}\s*", value)
    if not (isinstance(value, int) or whole_float or whole_text):
        raise ValueError("must be a whole number")
    number = int(value)
    if not _LONG[0] <= number <= _LONG[1]:
        raise ValueError(f"must be between {_LONG[0]} and {_LONG[1]}")
    return number


def _coerce_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def _coerce_date(value: Any) -> str:
    """Dates are stored as ISO 8601 text so instance state stays plain JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    camunda = _CAMUNDA_DATE.match(text)
    if camunda:
        day, month, year = camunda.groups()
        text = f"{year}-{month}-{day}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a date such as 2026-05-31 or 2026-05-31T14:30") from None
    return text if len(text) == 10 else parsed.isoformat()


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_bounds(form_field: FormField, value: Any) -> list[str]:
    problems = []
    if isinstance(value, str) and form_field.type == "string":
        if form_field.minlength is not None and len(value) < form_field.minlength:
            problems.append(f"must be at least {form_field.minlength} characters")
        if form_field.maxlength is not None and len(value) > form_field.maxlength:
            problems.append(f"must be at most {form_field.maxlength} characters")
    if isinstance(value, int) and not isinstance(value, bool):
        if form_field.min is not None and value < form_field.min:
            problems.append(f"must be at least {form_field.min}")
        if form_field.max is not None and value > form_field.max:
            problems.append(f"must be at most {form_field.max}")
    return problems


def validate_submission(
    form: FormDefinition, submitted: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Coerce and check ``submitted`` against ``form``; return the values to store.

    Fields the form does not declare are refused rather than dropped, read-only fields
    keep their current value, and missing optional fields take their default.

    :raise InvalidTaskData: with every problem found, keyed by field id.
    """
    current = current or {}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    known = {f.id for f in form.fields}
    for key in submitted:
        if key not in known:
            errors.setdefault(key, []).append("is not a field of this form")
    for form_field in form.fields:
        problems = _clean_field(form_field, submitted, current, cleaned)
        if problems:
            errors.setdefault(form_field.id, []).extend(problems)
    merged = {**current, **cleaned}
    for form_field in form.fields:
        if form_field.id not in errors and not form_field.readonly and _missing_required(
                form_field, merged):
            errors.setdefault(form_field.id, []).append("is required")
    if errors:
        raise InvalidTaskData(errors)
    return cleaned


def _clean_field(form_field: FormField, submitted: Mapping[str, Any], current: Mapping[str, Any],
                 cleaned: dict[str, Any]) -> list[str]:
    """Put the field's value into ``cleaned``; return its problems."""
    present = form_field.id in submitted and not _is_empty(submitted[form_field.id])
    if form_field.readonly:
        if present and not _same_value(form_field, submitted[form_field.id], current.get(form_field.id)):
            return ["is read-only"]
        return []
    if not present:
        if form_field.default is not None and form_field.id not in current:
            cleaned[form_field.id] = form_field.default
        elif form_field.id in submitted and form_field.type == "string":
            cleaned[form_field.id] = ""
        return []
    try:
        value = coerce_value(form_field, submitted[form_field.id])
    except ValueError as exc:
        return [str(exc)]
    problems = _check_bounds(form_field, value)
    if not problems:
        cleaned[form_field.id] = value
    return problems


def _same_value(form_field: FormField, submitted: Any, current: Any) -> bool:
    """Equal once both are in the field's type: a browser sends "2026-05-31T14:30" back
    for a stored "2026-05-31T14:30:00", and a text area's lines end in CR LF (HTML says
    so) where the stored text has LF: neither is a change."""
    if isinstance(submitted, str) and isinstance(current, str):
        submitted, current = _lines(submitted), _lines(current)
    try:
        return coerce_value(form_field, submitted) == coerce_value(form_field, current)
    except ValueError:
        return False


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _missing_required(form_field: FormField, values: Mapping[str, Any]) -> bool:
    required = form_field.required
    if form_field.required_if:
        other, expected = form_field.required_if
        required = required or condition_holds(values.get(other), expected)
    return required and _is_empty(values.get(form_field.id))


def condition_holds(value: Any, expected: str) -> bool:
    """``propflow.requiredIf``'s test: ``field=value``, where a yes/no field's value is
    written ``true``/``false`` (any case) and text is compared as written."""
    if isinstance(value, bool):
        return str(value).lower() == expected.strip().lower()
    return str(value) == expected
