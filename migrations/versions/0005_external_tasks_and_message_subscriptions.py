"""External tasks waiting for workers, and instances waiting for messages (the Camunda REST API's
external-task and message endpoints).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 05:02:15.516475
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('external_task',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('definition_id', sa.String(length=300), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('worker_id', sa.String(length=255), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retries', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_details', sa.Text(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('external_task', schema=None) as batch_op:
        batch_op.create_index('ix_external_task_fetch', ['topic', 'lock_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_external_task_instance_id'), ['instance_id'], unique=False)

    op.create_table('message_subscription',
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('message_name', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('message_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_subscription_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_message_subscription_name', ['message_name'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('message_subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_message_subscription_name')
        batch_op.drop_index(batch_op.f('ix_message_subscription_instance_id'))

    op.drop_table('message_subscription')
    with op.batch_alter_table('external_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_task_instance_id'))
        batch_op.drop_index('ix_external_task_fetch')

    op.drop_table('external_task')
