"""Facts the analysis counts: satisfaction scores, feedback items, and who was dispatched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:13:42.963945
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback_item',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('building', sa.String(length=20), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=True),
    sa.Column('urgency', sa.String(length=16), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replied_by', sa.String(length=64), nullable=True),
    sa.Column('owner_satisfied', sa.Boolean(), nullable=True),
    sa.Column('owner_comment', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id'),
    sa.UniqueConstraint('business_key')
    )
    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_item_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_item_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_item_received_at'), ['received_at'], unique=False)

    op.create_table('satisfaction_score',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('business_key', sa.String(length=64), nullable=True),
    sa.Column('campaign', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comments', sa.Text(), nullable=True),
    sa.Column('service_type', sa.String(length=32), nullable=True),
    sa.Column('building', sa.String(length=20), nullable=True),
    sa.Column('technician', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id')
    )
    with op.batch_alter_table('satisfaction_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_satisfaction_score_campaign'), ['campaign'], unique=False)
        batch_op.create_index(batch_op.f('ix_satisfaction_score_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_satisfaction_score_recorded_at'), ['recorded_at'], unique=False)

    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('technician', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_case_technician'), ['technician'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_technician'))
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('priority')
        batch_op.drop_column('technician')

    with op.batch_alter_table('satisfaction_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_satisfaction_score_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_satisfaction_score_owner_id'))
        batch_op.drop_index(batch_op.f('ix_satisfaction_score_campaign'))

    op.drop_table('satisfaction_score')
    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_item_received_at'))
        batch_op.drop_index(batch_op.f('ix_feedback_item_owner_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_item_category'))

    op.drop_table('feedback_item')
