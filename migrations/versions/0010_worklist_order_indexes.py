"""Indexes in the worklist's order, so a page is read off an index, not sorted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 11:00:00.000000
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_user_task_queue', 'user_task', ['assignee', 'due_at', 'created_at', 'id'])
    op.create_index('ix_user_task_queue_priority', 'user_task',
                    ['assignee', 'priority', 'due_at', 'created_at', 'id'])
    op.create_index('ix_user_task_due_order', 'user_task', ['due_at', 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_user_task_due_order', table_name='user_task')
    op.drop_index('ix_user_task_queue_priority', table_name='user_task')
    op.drop_index('ix_user_task_queue', table_name='user_task')
