"""WTForms classes built from the engine's form definitions (``camunda:formData``).

A pure function of the definition: the browser gets the same fields, labels, defaults and
checks the engine enforces. The engine validates again on completion and stays the one
authority; :func:`apply_engine_errors` puts its field errors back on the form so the page
can re-render them (with HTTP 422).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    Form,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation

from engine import FormDefinition, FormField, condition_holds

# Longer text gets a text area; the threshold is about one line of a form.
_TEXTAREA_FROM = 200
_DATE_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]


class _RequiredIf:
    """Required when another field holds a given value (``propflow.requiredIf``)."""

    def __init__(self, other: str, expected: str):
        self.other, self.expected = other, expected
        self.field_flags = {}

    def __call__(self, form: Form, field) -> None:
        other = form._fields.get(self.other)
        wanted = other is not None and condition_holds(other.data, self.expected)
        if wanted and not str(field.data or "").strip():
            raise StopValidation("is required")  # Optional() after it would clear the error


class _OnceEach(Form):
    """A form whose fields each take one value: WTForms would keep the first of a field
    sent twice and drop the rest unseen, so a repeated field is an error on it instead."""

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        values = getattr(formdata, "getlist", None)
        self._repeated = [name for name in self._fields if values is not None and len(values(name)) > 1]
        super().process(formdata, obj, data, extra_filters, **kwargs)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name in self._repeated:
            self[name].errors = [*self[name].errors, _l("was sent more than once")]
        return valid and not self._repeated


def build_form_class(definition: FormDefinition, name: str = "TaskForm") -> type[Form]:
    """A WTForms class with one field per form field, in the diagram's order; built once
    per definition (a class holds no request's data), unless a default is unhashable."""
    try:
        hash(definition)
    except TypeError:
        return _form_class(definition, name)
    return _cached_form_class(definition, name)


def _form_class(definition: FormDefinition, name: str) -> type[Form]:
    attributes = {f.id: _make_field(f) for f in definition.fields}
    return type(name, (_OnceEach,), attributes)


_cached_form_class = functools.lru_cache(maxsize=512)(_form_class)


def _validators(form_field: FormField) -> list:
    if form_field.readonly:
        return [Optional()]
    required = form_field.required and form_field.type != "boolean"  # unticked is an answer
    validators: list = [InputRequired()] if required else [Optional()]
    if form_field.required_if:
        validators.insert(0, _RequiredIf(*form_field.required_if))
    if form_field.type == "string" and (form_field.minlength or form_field.maxlength):
        validators.append(Length(min=form_field.minlength or -1, max=form_field.maxlength or -1))
    if form_field.type == "long" and (form_field.min is not None or form_field.max is not None):
        validators.append(NumberRange(min=form_field.min, max=form_field.max))
    return validators


def _make_field(form_field: FormField):
    options = {
        "label": form_field.label or form_field.id,
        "validators": _validators(form_field),
        "default": form_field.default,
        "render_kw": {"readonly": True} if form_field.readonly else None,
    }
    kind = form_field.type
    if kind == "long":
        return IntegerField(**options)
    if kind == "boolean":
        return BooleanField(**options)
    if kind == "date":
        return DateTimeLocalField(format=_DATE_FORMATS, **options)
    if kind == "enum":
        choices = [SelectChoice("", "—"), *(SelectChoice(v, label) for v, label in form_field.options)]
        return SelectField(choices=choices, **options)
    if (form_field.maxlength or 0) > _TEXTAREA_FROM:
        return TextAreaField(**options)
    return StringField(**options)


def form_data(form: Form, definition: FormDefinition) -> dict[str, Any]:
    """The submitted values as the engine takes them (dates as ISO 8601 text). Empty
    optional fields are left out so the engine keeps current values; read-only ones are
    passed on when sent, so a changed value is refused rather than silently dropped."""
    values: dict[str, Any] = {}
    for form_field in definition.fields:
        value = form[form_field.id].data
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        if value in (None, "") and form_field.type != "boolean":
            continue
        values[form_field.id] = value
    return values


def initial_values(definition: FormDefinition, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Process variables named like a field are shown as its value (Camunda's binding)."""
    values = {}
    for form_field in definition.fields:
        if form_field.id not in variables:
            continue
        value = variables[form_field.id]
        if form_field.type == "date" and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                continue
        values[form_field.id] = value
    return values


def apply_engine_errors(form: Form, errors: Mapping[str, list[str]]) -> None:
    """Attach the engine's field errors to the form for re-rendering."""
    for field_id, messages in errors.items():
        target = form._fields.get(field_id)
        if target is None:
            form.form_errors.extend(f"{field_id}: {m}" for m in messages)
        else:
            target.errors = [*target.errors, *messages]
