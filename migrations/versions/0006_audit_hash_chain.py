"""Audit hash chain: every audit entry carries the hash of the one before it (A-1, A-2).

Adds ``prev_hash`` and ``hash`` to ``audit_event`` and the one-row chain head
``audit_chain``, and chains the entries already stored, in id order. The back-fill has
to UPDATE audit rows, which the append-only triggers refuse: they are dropped around it
and created again, exactly as 0001 made them. The hashes come from
``engine.audit_chain.entry_hash``, the function that verifies them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:03:17.813872
"""
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from engine.audit_chain import GENESIS, HEAD_ID, entry_hash

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_BATCH = 1000
_GUARD_MESSAGE = "audit_event is append-only"
_ENTRIES = sa.table(
    'audit_event', sa.column('id', sa.Integer()), sa.column('at', sa.DateTime(timezone=True)),
    sa.column('action', sa.String()), sa.column('actor', sa.String()), sa.column('instance_id', sa.String()),
    sa.column('task_id', sa.String()), sa.column('element_id', sa.String()),
    sa.column('element_name', sa.String()), sa.column('data', sa.JSON()),
    sa.column('prev_hash', sa.String()), sa.column('hash', sa.String()))


def upgrade() -> None:
    head = op.create_table('audit_chain',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _drop_audit_guards()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))

    last_id, last_hash = _chain_existing_entries()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
    _create_audit_guards()
    op.bulk_insert(head, [{'id': HEAD_ID, 'last_id': last_id, 'last_hash': last_hash}])


def _chain_existing_entries() -> tuple[int | None, str]:
    """Hash the stored entries in id order, one batch at a time; returns the new head."""
    bind = op.get_bind()
    write = (sa.update(_ENTRIES).where(_ENTRIES.c.id == sa.bindparam('entry_id'))
             .values(prev_hash=sa.bindparam('new_prev_hash'), hash=sa.bindparam('new_hash')))
    last_id, last_hash = None, GENESIS
    while True:
        query = sa.select(_ENTRIES).order_by(_ENTRIES.c.id).limit(_BATCH)
        if last_id is not None:
            query = query.where(_ENTRIES.c.id > last_id)
        rows = bind.execute(query).all()
        if not rows:
            return last_id, last_hash
        hashes = []
        for row in rows:
            at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)  # SQLite: naive UTC
            digest = entry_hash(last_hash, at=at, action=row.action, actor=row.actor,
                                instance_id=row.instance_id, task_id=row.task_id,
                                element_id=row.element_id, element_name=row.element_name, data=row.data)
            hashes.append({'entry_id': row.id, 'new_prev_hash': last_hash, 'new_hash': digest})
            last_id, last_hash = row.id, digest
        bind.execute(write, hashes)


def _create_audit_guards() -> None:
    """The triggers of 0001 (on SQLite a table rebuild drops them; on PostgreSQL the
    function stays)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                f"BEGIN SELECT RAISE(ABORT, '{_GUARD_MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse()"
    )


def _drop_audit_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")


def downgrade() -> None:
    _drop_audit_guards()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
    _create_audit_guards()
    op.drop_table('audit_chain')
