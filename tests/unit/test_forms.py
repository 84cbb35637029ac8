"""Submitted data is coerced and checked against the form; nothing else gets through."""

import pytest

from engine.errors import InvalidTaskData
from engine.forms import FormDefinition, FormField, validate_submission

FORM = FormDefinition((
    FormField("name", "string", required=True, minlength=2, maxlength=5),
    FormField("count", "long", min=1, max=10),
    FormField("urgent", "boolean", default=False),
    FormField("when", "date"),
    FormField("kind", "enum", options=(("a", "A"), ("b", "B")), required=True),
    FormField("reason", "string", required_if=("kind", "b")),
    FormField("ref", "string", readonly=True),
))


def errors_of(data, current=None):
    with pytest.raises(InvalidTaskData) as caught:
        validate_submission(FORM, data, current)
    return caught.value.errors


def test_valid_data_is_coerced_to_declared_types():
    cleaned = validate_submission(FORM, {
        "name": "Li", "count": "3", "urgent": "on", "when": "31/05/2026", "kind": "a"})
    assert cleaned == {"name": "Li", "count": 3, "urgent": True, "when": "2026-05-31", "kind": "a"}


def test_defaults_fill_missing_optional_fields():
    cleaned = validate_submission(FORM, {"name": "Li", "kind": "a"})
    assert cleaned["urgent"] is False
    assert "count" not in cleaned


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"kind": "a"}, "name", "is required"),
    ({"name": "   ", "kind": "a"}, "name", "is required"),
    ({"name": "L", "kind": "a"}, "name", "must be at least 2 characters"),
    ({"name": "Lilililili", "kind": "a"}, "name", "must be at most 5 characters"),
    ({"name": "Li", "kind": "a", "count": "2.5"}, "count", "must be a whole number"),
    ({"name": "Li", "kind": "a", "count": True}, "count", "must be a whole number"),
    ({"name": "Li", "kind": "a", "count": 0}, "count", "must be at least 1"),
    ({"name": "Li", "kind": "a", "count": 11}, "count", "must be at most 10"),
    ({"name": "Li", "kind": "a", "urgent": "perhaps"}, "urgent", "must be true or false"),
    ({"name": "Li", "kind": "a", "when": "tomorrow"}, "when",
     "must be a date such as 2026-05-31 or 2026-05-31T14:30"),
    ({"name": "Li", "kind": "c"}, "kind", "must be one of: a, b"),
    ({"name": "Li", "kind": "b"}, "reason", "is required"),
    ({"name": "Li", "kind": "a", "extra": 1}, "extra", "is not a field of this form"),
    ({"name": "Li", "kind": "a", "ref": "changed"}, "ref", "is read-only"),
])
def test_each_rule_reports_its_field(data, field, message):
    assert message in errors_of(data, {"ref": "R1"})[field]


def test_all_problems_are_reported_together():
    errors = errors_of({"name": "L", "kind": "z", "count": "x"})
    assert set(errors) == {"name", "kind", "count"}


def test_current_values_satisfy_required_fields():
    """A form field bound to an existing variable shows and keeps its value (Camunda)."""
    assert validate_submission(FORM, {"kind": "a"}, current={"name": "Wang"}) == {
        "kind": "a", "urgent": False}


def test_readonly_field_may_be_echoed_unchanged():
    assert validate_submission(FORM, {"name": "Li", "kind": "a", "ref": "R1"}, {"ref": "R1"}) == {
        "name": "Li", "kind": "a", "urgent": False}


def test_readonly_date_sent_back_in_browser_format_is_no_change():
    form = FormDefinition((FormField("when", "date", readonly=True),))
    assert validate_submission(form, {"when": "2026-05-31T14:30"}, {"when": "2026-05-31T14:30:00"}) == {}
    with pytest.raises(InvalidTaskData):
        validate_submission(form, {"when": "2026-06-01T14:30"}, {"when": "2026-05-31T14:30:00"})


def test_readonly_text_sent_back_from_a_text_area_is_no_change():
    form = FormDefinition((FormField("agenda", "string", readonly=True),))
    assert validate_submission(form, {"agenda": "1. a\r\n2. b"}, {"agenda": "1. a\n2. b"}) == {}
    with pytest.raises(InvalidTaskData):
        validate_submission(form, {"agenda": "1. a\r\n2. c"}, {"agenda": "1. a\n2. b"})


def test_required_if_a_yes_no_field_is_ticked_is_written_true_in_any_case():
    form = FormDefinition((FormField("fix", "boolean"),
                           FormField("who", "string", required_if=("fix", "true"))))
    with pytest.raises(InvalidTaskData) as caught:
        validate_submission(form, {"fix": "on"})
    assert caught.value.errors == {"who": ["is required"]}
    assert validate_submission(form, {"fix": "off"}) == {"fix": False}
