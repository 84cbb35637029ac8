"""The audit trail cannot be rewritten, and the schema comes only from migrations."""

from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from engine import AuditAction, InstanceStatus, WorkflowEngine, make_engine, upgrade_schema, worker
from engine.db import alembic_config
from engine.models import AuditEvent, Base
from tests.conftest import FIXTURES
from tests.unit.test_service_request import Case


def test_audit_rows_cannot_be_updated_or_deleted(engine, sa_engine):
    engine.deploy({"approval.bpmn": (FIXTURES / "approval.bpmn").read_bytes()}, name="a")
    engine.start("approval", {"amount": 1}, user="wang")
    for statement in (update(AuditEvent).values(actor="someone else"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"), sa_engine.begin() as connection:
            connection.execute(statement)
    with sa_engine.connect() as connection:
        actors = connection.execute(text("SELECT DISTINCT actor FROM audit_event")).scalars().all()
    assert "someone else" not in actors


def test_models_match_the_migrations(database_url):
    sa_engine = make_engine(database_url)
    with sa_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    sa_engine.dispose()
    assert differences == []


def test_migrations_downgrade_and_upgrade_again(database_url):
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")


PREVIOUS_RELEASE = "0007"  # the schema before issue 7's timer leases and rate-limit counters


def test_upgrading_a_database_with_live_instances_keeps_them_running(database_url, clock):
    command.downgrade(alembic_config(database_url), PREVIOUS_RELEASE)
    before = make_engine(database_url)
    waiting, midway = Case(before, clock, "straight"), Case(before, clock, "straight")
    waiting.submit()  # at registration, its 24-hour response timer armed
    midway.submit()
    midway.intake()
    before.dispose()

    upgrade_schema(database_url)
    after = make_engine(database_url)
    for case in (waiting, midway):
        case.sa_engine, case.mode = after, "reload"  # fresh engines on the upgraded schema
    midway.execute()
    assert midway.engine.instance(midway.id).status == InstanceStatus.COMPLETED
    clock.advance(timedelta(hours=25))
    assert worker.sweep(WorkflowEngine(after, clock)) == 1
    assert [e.element_id for e in waiting.history(AuditAction.DEADLINE_BREACHED)]
    assert waiting.engine.verify_audit_chain().ok
    after.dispose()
