"""forms/: a BPMN form definition becomes a WTForms class with the same rules."""

from datetime import datetime

import pytest
from werkzeug.datastructures import MultiDict

from engine import InvalidTaskData
from engine.forms import FormDefinition, FormField, validate_submission
from forms import apply_engine_errors, build_form_class, form_data, initial_values

DEFINITION = FormDefinition((
    FormField("name", "string", label="姓名 Name", required=True, minlength=2, maxlength=5),
    FormField("notes", "string", maxlength=1000),
    FormField("count", "long", min=1, max=10),
    FormField("urgent", "boolean", default=False),
    FormField("when", "date", required=True),
    FormField("kind", "enum", options=(("a", "A"), ("b", "B")), required=True),
    FormField("reason", "string", required_if=("kind", "b")),
    FormField("ref", "string", readonly=True),
))
TaskForm = build_form_class(DEFINITION)


def submit(**values) -> object:
    return TaskForm(MultiDict(values))


def test_fields_follow_the_definition():
    form = TaskForm()
    assert [f.name for f in form] == [f.id for f in DEFINITION.fields]
    assert form.name.label.text == "姓名 Name"
    assert form.notes.type == "TextAreaField" and form.name.type == "StringField"
    assert (form.count.type, form.urgent.type, form.when.type, form.kind.type) == (
        "IntegerField", "BooleanField", "DateTimeLocalField", "SelectField")
    assert form.ref.render_kw == {"readonly": True}
    assert [(c.value, c.label) for c in form.kind.choices][1:] == [("a", "A"), ("b", "B")]


def test_a_definition_is_built_into_a_class_once_and_its_forms_share_nothing():
    again = FormDefinition(tuple(FormField(**vars(f)) for f in DEFINITION.fields))  # equal, not the same
    assert build_form_class(again) is TaskForm
    assert build_form_class(DEFINITION, "StartForm") is not TaskForm
    refused, accepted = submit(name="x"), submit(name="Li", when="2026-05-31T09:00", kind="a")
    assert not refused.validate() and accepted.validate()
    assert refused.name.errors and not accepted.name.errors
    unhashable = FormDefinition((FormField("tags", "string", default=["a"]),))  # built each time
    assert build_form_class(unhashable) is not build_form_class(unhashable)


def test_valid_submission_gives_engine_ready_values():
    form = submit(name="Li", when="2026-05-31T14:30", kind="a", count="3", urgent="y")
    assert form.validate(), form.errors
    data = form_data(form, DEFINITION)
    assert data == {"name": "Li", "count": 3, "urgent": True, "when": "2026-05-31T14:30:00", "kind": "a"}
    assert validate_submission(DEFINITION, data)["when"] == "2026-05-31T14:30:00"


@pytest.mark.parametrize(("values", "field"), [
    ({"when": "2026-05-31", "kind": "a"}, "name"),
    ({"name": "L", "when": "2026-05-31", "kind": "a"}, "name"),
    ({"name": "Lilililili", "when": "2026-05-31", "kind": "a"}, "name"),
    ({"name": "Li", "when": "2026-05-31", "kind": "a", "count": "11"}, "count"),
    ({"name": "Li", "when": "2026-05-31", "kind": "a", "count": "x"}, "count"),
    ({"name": "Li", "when": "someday", "kind": "a"}, "when"),
    ({"name": "Li", "when": "2026-05-31", "kind": "c"}, "kind"),
    ({"name": "Li", "when": "2026-05-31", "kind": "b"}, "reason"),
])
def test_each_rule_is_checked_in_the_browser_form(values, field):
    form = submit(**values)
    assert not form.validate()
    assert field in form.errors


def test_initial_values_bind_variables_to_fields():
    values = initial_values(DEFINITION, {"name": "Wang", "when": "2026-05-31T09:00", "other": 1})
    form = TaskForm(data=values)
    assert form.name.data == "Wang" and form.when.data == datetime(2026, 5, 31, 9, 0)


def test_engine_errors_are_shown_on_their_fields():
    form = submit(name="Li", when="2026-05-31", kind="a")
    with pytest.raises(InvalidTaskData) as caught:
        validate_submission(DEFINITION, {"name": "Li", "kind": "a", "ghost": 1})
    apply_engine_errors(form, caught.value.errors)
    assert form.form_errors == ["ghost: is not a field of this form"]
    apply_engine_errors(form, {"name": ["is taken"]})
    assert form.name.errors == ["is taken"]


def test_required_if_on_a_date_field_with_a_value():
    definition = FormDefinition((
        FormField("result", "enum", options=(("ok", "OK"), ("bad", "Bad"))),
        FormField("fix_by", "date", required_if=("result", "bad")),
    ))
    form = build_form_class(definition)(MultiDict({"result": "bad", "fix_by": "2026-01-09"}))
    assert form.validate(), form.errors
    assert not build_form_class(definition)(MultiDict({"result": "bad"})).validate()
