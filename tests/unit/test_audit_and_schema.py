"""The audit trail cannot be rewritten, and the schema comes only from migrations."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from engine import make_engine
from engine.db import alembic_config
from engine.models import AuditEvent, Base
from tests.conftest import FIXTURES


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
