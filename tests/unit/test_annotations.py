"""Corrections are append-only in the database, and the engine writes a correction's audit
entry in the same transaction as the caller's rows (A-2)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from engine import AuditAction
from engine.models import AuditEvent
from web.models import Correction

TABLE = Correction.__table__


def _correction(**values) -> dict:
    return {"record_type": "feedback", "record_key": "k", "field": "subject", "original": "a",
            "corrected": "b", "reason": "typo", "author": "cs_zhang", "at": datetime(2026, 3, 1, tzinfo=UTC),
            **values}


def test_corrections_cannot_be_updated_or_deleted(sa_engine):
    with sa_engine.begin() as connection:
        connection.execute(insert(TABLE).values(**_correction()))
    for statement in (update(TABLE).values(corrected="c"), update(TABLE).values(reason="other"),
                      delete(TABLE)):
        with pytest.raises(DBAPIError, match="append-only"), sa_engine.begin() as connection:
            connection.execute(statement)
    with sa_engine.connect() as connection:
        kept = connection.execute(text("SELECT corrected, reason FROM correction")).all()
    assert [tuple(row) for row in kept] == [("b", "typo")]


def test_an_annotation_and_the_callers_rows_are_written_together(engine, clock):
    def write(session, now):
        row = Correction(**_correction(at=now))
        session.add(row)
        session.flush()
        return {"correction_id": row.id}

    entry = engine.record_annotation({"record_type": "feedback", "record_key": "k"}, actor="cs_zhang",
                                     instance_id="some-case", write=write)
    assert (entry.action, entry.actor, entry.instance_id, entry.at) == (
        AuditAction.ANNOTATED, "cs_zhang", "some-case", clock.now())
    with engine.read_session() as session:
        stored = session.scalars(select(Correction)).one()
        assert entry.data == {"record_type": "feedback", "record_key": "k", "correction_id": stored.id}
        assert stored.at == clock.now()
    assert engine.verify_audit_chain().ok


def test_nothing_is_kept_when_the_callers_write_fails(engine):
    def write(session, now):
        session.add(Correction(**_correction(at=now)))
        session.flush()
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        engine.record_annotation({"record_type": "feedback"}, actor="cs_zhang", write=write)
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Correction)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    assert engine.verify_audit_chain().ok
