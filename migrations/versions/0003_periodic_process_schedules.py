"""Schedules of periodic processes (timer start events), one row per process key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:12:39.435467
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('process_schedule',
    sa.Column('process_key', sa.String(length=255), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('process_key')
    )
    with op.batch_alter_table('process_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_schedule_next_run_at'), ['next_run_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('process_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_schedule_next_run_at'))

    op.drop_table('process_schedule')
