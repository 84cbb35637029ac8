"""Accounts, roles and skills; service cases and their photos; the worklist's priority and skill.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:36:15.367059
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('building', sa.String(length=20), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('app_user_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role')
    )
    op.create_table('app_user_skill',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'skill')
    )
    op.create_table('attachment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachment_instance_id'), ['instance_id'], unique=False)

    op.create_table('service_case',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=64), nullable=False),
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('service_type', sa.String(length=32), nullable=False),
    sa.Column('building', sa.String(length=20), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id'),
    sa.UniqueConstraint('business_key')
    )
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_case_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_service_type'), ['service_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_case_submitted_at'), ['submitted_at'], unique=False)

    # Plain ALTERs, never a table rebuild: user_task holds live work.
    op.add_column('user_task', sa.Column('priority', sa.String(length=32), nullable=True))
    op.add_column('user_task', sa.Column('skill', sa.String(length=32), nullable=True))
    op.create_index(op.f('ix_user_task_priority'), 'user_task', ['priority'], unique=False)
    op.create_index(op.f('ix_user_task_skill'), 'user_task', ['skill'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('user_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_task_skill'))
        batch_op.drop_index(batch_op.f('ix_user_task_priority'))
        batch_op.drop_column('skill')
        batch_op.drop_column('priority')

    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_service_case_service_type'))
        batch_op.drop_index(batch_op.f('ix_service_case_owner_id'))

    op.drop_table('service_case')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_instance_id'))

    op.drop_table('attachment')
    op.drop_table('app_user_skill')
    op.drop_table('app_user_role')
    op.drop_table('app_user')
