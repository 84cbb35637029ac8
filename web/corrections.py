"""Corrections (A-2, 谁记录、谁负责): a record is never changed after the fact. Whoever may
correct it annotates one field with the corrected value and a reason; the record keeps
its original value and every page that shows the record shows the correction beside it.

Corrections are append-only (database triggers refuse UPDATE and DELETE) and each one
writes an ``annotated`` audit entry in the same transaction, through the engine facade.

For other pages: ``for_record(session, record_type, key)`` lists a record's corrections;
``panel_for(session, viewer, record_type, key)`` gives what the Jinja macro
``corrections_panel`` (``archive/_corrections.html``) shows, with the link to annotate a
correction when the viewer may.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import WorkflowEngine

from .models import Correction, Role, User
from .records import SERVICE_RECORDS, TYPES, Column, Record, find
from .templating import when

MAX_VALUE = 2000
MAX_REASON = 2000
# Who may correct a record besides its author (personnel records: managers only).
CORRECTORS = (Role.SERVICE_SUPERVISOR, Role.MANAGER)
_TRUE = {"true", "yes", "1", "是"}
_FALSE = {"false", "no", "0", "否"}


@dataclass(frozen=True)
class CorrectionView:
    """A correction as pages show it: values already formatted for reading."""

    id: int
    field: str | None
    label: str
    original: str
    corrected: str
    reason: str
    author: str
    at: datetime


@dataclass(frozen=True)
class Panel:
    """What ``corrections_panel`` shows for one record."""

    record_type: str
    key: str
    title: str
    items: tuple[CorrectionView, ...]
    correct_url: str | None  # set when the viewer may annotate a correction

    @property
    def shown(self) -> bool:
        return bool(self.items or self.correct_url)


def for_record(session: Session, record_type: str, key: str) -> list[Correction]:
    """A record's corrections, oldest first."""
    return list(session.scalars(select(Correction).where(
        Correction.record_type == record_type, Correction.record_key == key).order_by(Correction.id)))


def for_records(session: Session, record_type: str, keys: Iterable[str]) -> dict[str, list[Correction]]:
    """The corrections of several records of one type, by key, oldest first."""
    found: dict[str, list[Correction]] = {}
    keys = list(keys)
    if keys:
        rows = session.scalars(select(Correction).where(
            Correction.record_type == record_type, Correction.record_key.in_(keys)).order_by(Correction.id))
        for row in rows:
            found.setdefault(row.record_key, []).append(row)
    return found


def counts(session: Session, record_type: str, keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    if not keys:
        return {}
    return dict(session.execute(
        select(Correction.record_key, func.count()).where(
            Correction.record_type == record_type, Correction.record_key.in_(keys))
        .group_by(Correction.record_key)).all())


def may_correct(user: User, record: Record) -> bool:
    """The record's author, or service supervisors and managers; personnel records
    (appraisals, rewards and penalties, training) managers only. Owners never: they give
    feedback instead."""
    kind = TYPES[record.type]
    if not kind.correctable_fields() or not user.is_staff:
        return False
    if kind.personnel:
        return user.has_role(Role.MANAGER)
    return user.has_role(*CORRECTORS) or (record.author is not None and record.author == user.username)


def text_of(value: Any) -> str | None:
    """A recorded value as the correction stores it: ISO 8601 for times and dates (UTC for
    recorded instants), true/false, or the text itself."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def latest(items: Iterable[Correction]) -> dict[str, Correction]:
    """The newest correction of each field."""
    found: dict[str, Correction] = {}
    for row in items:
        if row.field:
            found[row.field] = row
    return found


def _boolean(text: str) -> str:
    if text.lower() not in _TRUE | _FALSE:
        raise ValueError(text)
    return "true" if text.lower() in _TRUE else "false"


def _instant(text: str, zone: ZoneInfo) -> str | None:
    """Typed in company time (or with an offset), stored in UTC."""
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    return text_of(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def _local(text: str, zone: ZoneInfo) -> str:
    """A time as people type it in forms, without a zone."""
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    if moment.tzinfo:
        moment = moment.astimezone(zone).replace(tzinfo=None)
    return moment.isoformat()  # as the engine keeps form times: 2026-03-10T11:30:00


def _text(text: str) -> str:
    if len(text) > MAX_VALUE:
        raise ValueError(text)
    return text


_PARSERS = {
    "int": lambda text, zone: str(int(text)), "float": lambda text, zone: str(float(text)),
    "bool": lambda text, zone: _boolean(text),
    "date": lambda text, zone: date.fromisoformat(text).isoformat(),
    "datetime": _instant, "local": _local, "text": lambda text, zone: _text(text),
}


def parse(column: Column, text: str, zone: ZoneInfo) -> str | None:
    """The corrected value typed for ``column``, in the form ``text_of`` gives; None for
    nothing typed (the field should be empty).

    :raise ValueError: not a value of the column's kind.
    """
    text = text.strip()
    return _PARSERS[column.kind](text, zone) if text else None


def check(session: Session, record: Record, field: str | None, corrected: str, reason: str,
          zone: ZoneInfo) -> tuple[str | None, dict[str, list[str]]]:
    """The corrected value in stored form, and the errors by form field (empty if none)."""
    errors: dict[str, list[str]] = {}
    column = TYPES[record.type].field(field or "")
    value = None
    if column is None or not column.correctable:
        errors["field"] = [_("Choose one of the record's fields.")]
    else:
        try:
            value = parse(column, corrected, zone)
        except ValueError:
            errors["corrected"] = [_("This is not a valid value for this field.")]
        else:
            current = latest(for_record(session, record.type, record.key)).get(column.name)
            if value == (current.corrected if current else text_of(record.values.get(column.name))):
                errors["corrected"] = [_("The record already has this value.")]
    if not reason.strip():
        errors["reason"] = [_("Say why the record is corrected.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("At most %(n)d characters.", n=MAX_REASON)]
    return value, errors


def annotate(engine: WorkflowEngine, record: Record, *, field: str, corrected: str | None, reason: str,
             author: str) -> int:
    """Append a correction of ``record`` and its audit entry, in one transaction; the id.

    The caller has checked ``may_correct`` and ``check``.
    """
    original = text_of(record.values.get(field))
    reason = reason.strip()

    def write(session: Session, now: datetime) -> Mapping[str, Any]:
        row = Correction(record_type=record.type, record_key=record.key, subject=record.subject, field=field,
                         original=original, corrected=corrected, reason=reason, author=author, at=now)
        session.add(row)
        session.flush()
        return {"correction_id": row.id}

    entry = engine.record_annotation(
        {"record_type": record.type, "record_key": record.key, "field": field, "original": original,
         "corrected": corrected, "reason": reason},
        actor=author, instance_id=record.instance_id, write=write)
    return entry.data["correction_id"]


def shown(column: Column | None, text: str | None) -> str:
    """A stored value (original or corrected) for reading."""
    if text is None or text == "":
        return "—"
    kind = column.kind if column is not None else "text"
    if kind in ("datetime", "date", "local"):
        return when(text)
    if kind == "bool":
        return _("yes") if text == "true" else _("no")
    return text


def views(record_type: str, items: Iterable[Correction]) -> tuple[CorrectionView, ...]:
    kind = TYPES.get(record_type)
    out = []
    for row in items:
        column = kind.field(row.field) if kind is not None and row.field else None
        out.append(CorrectionView(row.id, row.field, str(column.label) if column else (row.field or "—"),
                                  shown(column, row.original), shown(column, row.corrected), row.reason,
                                  row.author, row.at))
    return tuple(out)


def panel(session: Session, viewer: User, record: Record) -> Panel:
    """A record's corrections as ``corrections_panel`` shows them."""
    url = (url_for("archive.record", record_type=record.type, key=record.key, _anchor="correct")
           if may_correct(viewer, record) else None)
    return Panel(record.type, record.key, f"{TYPES[record.type].label} {record.display_key}",
                 views(record.type, for_record(session, record.type, record.key)), url)


def panel_for(session: Session, viewer: User, record_type: str, key: str) -> Panel | None:
    """The panel of a record by type and key (None if there is no such record); the caller
    has already decided the viewer may see the record."""
    record = find(session, record_type, key)
    return panel(session, viewer, record) if record is not None else None


def case_panels(session: Session, viewer: User, instance_id: str) -> list[Panel]:
    """A service request's panels: the request, then each service record of the case."""
    found = [find(session, "service_request", instance_id), *SERVICE_RECORDS.for_case(session, instance_id)]
    return [p for p in (panel(session, viewer, r) for r in found if r is not None) if p.shown]
