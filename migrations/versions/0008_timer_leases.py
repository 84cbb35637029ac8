"""Timer leases: SQLite timer workers claim the instances they are about to fire (PostgreSQL
workers lock rows with SKIP LOCKED and leave this table empty).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:10:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timer_lease',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id')
    )


def downgrade() -> None:
    op.drop_table('timer_lease')
