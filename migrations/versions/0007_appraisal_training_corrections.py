"""Appraisal, rewards and penalties, training; the inspection and rectification facts the
appraisal counts; corrections (append-only, like the audit trail).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:48:20.459992
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('correction',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('record_type', sa.String(length=32), nullable=False),
    sa.Column('record_key', sa.String(length=128), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('original', sa.Text(), nullable=True),
    sa.Column('corrected', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_at'), ['at'], unique=False)
        batch_op.create_index('ix_correction_record', ['record_type', 'record_key'], unique=False)

    op.create_table('training_session',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('location', sa.String(length=100), nullable=True),
    sa.Column('trainer', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('training_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_session_starts_at'), ['starts_at'], unique=False)

    op.create_table('training_attendance',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('attended', sa.Boolean(), nullable=True),
    sa.Column('assessment_score', sa.Integer(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['training_session.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'username')
    )
    with op.batch_alter_table('training_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_attendance_username'), ['username'], unique=False)

    op.create_table('appraisal',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=64), nullable=True),
    sa.Column('round_key', sa.String(length=64), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('tasks_completed', sa.Integer(), nullable=False),
    sa.Column('deadlines_due', sa.Integer(), nullable=False),
    sa.Column('deadlines_met', sa.Integer(), nullable=False),
    sa.Column('scores', sa.Integer(), nullable=False),
    sa.Column('average_score', sa.Float(), nullable=True),
    sa.Column('inspections', sa.Integer(), nullable=False),
    sa.Column('inspections_failed', sa.Integer(), nullable=False),
    sa.Column('rectifications', sa.Integer(), nullable=False),
    sa.Column('rectifications_overdue', sa.Integer(), nullable=False),
    sa.Column('complaints', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('assessment', sa.Text(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('staff_comment', sa.Text(), nullable=True),
    sa.Column('approver', sa.String(length=64), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('proposal', sa.String(length=32), nullable=True),
    sa.Column('proposal_reason', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id'),
    sa.UniqueConstraint('username', 'period_start', name='uq_appraisal_period')
    )
    with op.batch_alter_table('appraisal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appraisal_round_key'), ['round_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_appraisal_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_appraisal_username'), ['username'], unique=False)

    op.create_table('inspection_result',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('item', sa.String(length=64), nullable=False),
    sa.Column('check_key', sa.String(length=64), nullable=True),
    sa.Column('technician', sa.String(length=64), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('inspected_by', sa.String(length=64), nullable=False),
    sa.Column('inspected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id', 'item')
    )
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_result_inspected_at'), ['inspected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_result_technician'), ['technician'], unique=False)

    op.create_table('rectification_item',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=64), nullable=True),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_reference', sa.String(length=64), nullable=True),
    sa.Column('responsible', sa.String(length=64), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_id')
    )
    with op.batch_alter_table('rectification_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectification_item_responsible'), ['responsible'], unique=False)
        batch_op.create_index(batch_op.f('ix_rectification_item_started_at'), ['started_at'], unique=False)

    op.create_table('training_need',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_reference', sa.String(length=64), nullable=True),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('raised_by', sa.String(length=64), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['training_session.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('training_need', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_need_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_need_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_need_username'), ['username'], unique=False)

    op.create_table('sanction',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('measure', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.Column('appraisal_id', sa.String(length=36), nullable=True),
    sa.Column('proposed_by', sa.String(length=64), nullable=True),
    sa.Column('approved_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appraisal_id'], ['appraisal.instance_id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sanction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sanction_appraisal_id'), ['appraisal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sanction_recorded_at'), ['recorded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sanction_username'), ['username'], unique=False)

    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('related_request', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_feedback_item_related_request'), ['related_request'], unique=False)

    _create_correction_guards()


_GUARD_MESSAGE = "correction is append-only"


def _create_correction_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER correction_no_{verb.lower()} BEFORE {verb} ON correction "
                f"BEGIN SELECT RAISE(ABORT, '{_GUARD_MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION correction_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_GUARD_MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER correction_no_change BEFORE UPDATE OR DELETE ON correction "
        "FOR EACH ROW EXECUTE FUNCTION correction_refuse()"
    )


def _drop_correction_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS correction_no_update")
        op.execute("DROP TRIGGER IF EXISTS correction_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS correction_no_change ON correction")
    op.execute("DROP FUNCTION IF EXISTS correction_refuse()")


def downgrade() -> None:
    _drop_correction_guards()
    with op.batch_alter_table('feedback_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_item_related_request'))
        batch_op.drop_column('related_request')

    with op.batch_alter_table('sanction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sanction_username'))
        batch_op.drop_index(batch_op.f('ix_sanction_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_sanction_appraisal_id'))

    op.drop_table('sanction')
    with op.batch_alter_table('training_need', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_need_username'))
        batch_op.drop_index(batch_op.f('ix_training_need_raised_at'))
        batch_op.drop_index(batch_op.f('ix_training_need_instance_id'))

    op.drop_table('training_need')
    with op.batch_alter_table('rectification_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectification_item_started_at'))
        batch_op.drop_index(batch_op.f('ix_rectification_item_responsible'))

    op.drop_table('rectification_item')
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_result_technician'))
        batch_op.drop_index(batch_op.f('ix_inspection_result_inspected_at'))

    op.drop_table('inspection_result')
    with op.batch_alter_table('appraisal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appraisal_username'))
        batch_op.drop_index(batch_op.f('ix_appraisal_status'))
        batch_op.drop_index(batch_op.f('ix_appraisal_round_key'))

    op.drop_table('appraisal')
    with op.batch_alter_table('training_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_attendance_username'))

    op.drop_table('training_attendance')
    with op.batch_alter_table('training_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_session_starts_at'))

    op.drop_table('training_session')
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.drop_index('ix_correction_record')
        batch_op.drop_index(batch_op.f('ix_correction_at'))

    op.drop_table('correction')
