"""A corrected value is read as a value of the field's kind and stored the way the original
is stored, so the two compare and read alike (A-2)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from web.corrections import parse, text_of
from web.records import TYPES, Column

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("kind, typed, stored", [
    ("int", " 90 ", "90"), ("float", "4.50", "4.5"), ("bool", "Yes", "true"), ("bool", "否", "false"),
    ("date", "2026-03-31", "2026-03-31"),
    ("datetime", "2026-03-02 00:00", "2026-03-01T16:00:00+00:00"),  # company time in, UTC stored
    ("datetime", "2026-03-02T00:00+00:00", "2026-03-02T00:00:00+00:00"),
    ("local", "2026-03-10 11:30", "2026-03-10T11:30:00"),  # a time as typed in a form stays so
    ("local", "2026-03-10T03:30:00+00:00", "2026-03-10T11:30:00"),
    ("text", "  阀门 ×2 ", "阀门 ×2"), ("text", "   ", None),
])
def test_typed_values_are_stored_like_the_originals(kind, typed, stored):
    assert parse(Column("f", kind), typed, SHANGHAI) == stored


@pytest.mark.parametrize("kind, typed", [
    ("int", "eighty"), ("int", "8.5"), ("float", "x"), ("bool", "maybe"), ("date", "2026-02-30"),
    ("datetime", "tomorrow"), ("local", "10:30"), ("text", "x" * 2001),
])
def test_values_not_of_the_fields_kind_are_refused(kind, typed):
    with pytest.raises(ValueError):
        parse(Column("f", kind), typed, SHANGHAI)


def test_originals_are_stored_as_text_in_one_form():
    assert text_of(datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)) == "2026-03-02T00:00:00+00:00"
    assert [text_of(v) for v in (date(2026, 3, 1), True, False, 88, 4.5, None, "a")] == [
        "2026-03-01", "true", "false", "88", "4.5", None, "a"]
    assert text_of(datetime(2026, 3, 2, tzinfo=UTC)) == parse(
        TYPES["service_request"].field("submitted_at"), "2026-03-02 08:00", SHANGHAI)


def test_keys_authors_and_recorded_times_are_not_correctable():
    fixed = {name: {c.name for c in kind.columns if not c.correctable} for name, kind in TYPES.items()}
    assert fixed["service_request"] == {"instance_id", "business_key", "submitted_by", "submitted_at",
                                        "dispatched_at"}
    assert fixed["appraisal"] >= {"instance_id", "username", "reviewer", "approver", "status", "computed_at"}
    assert {c.name for c in TYPES["service_record"].correctable_fields()} == {
        "work_content", "work_started_at", "work_finished_at", "materials", "owner_remarks"}
    assert TYPES["correction"].correctable_fields() == ()
    assert {n for n, kind in TYPES.items() if kind.personnel} == {
        "appraisal", "sanction", "training_attendance", "training_need"}
