"""directory: savoir-faire and diploma extracts, professionals marked inactive by --prune

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('directory_professionals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('inactive_since', sa.DateTime(timezone=True), nullable=True))

    op.create_table('directory_savoir_faire',
    sa.Column('rpps', sa.String(length=11), nullable=False),
    sa.Column('type_code', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('type_label', sa.String(length=120), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['rpps'], ['directory_professionals.rpps'], name=op.f('fk_directory_savoir_faire_rpps_directory_professionals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rpps', 'type_code', 'code', name=op.f('pk_directory_savoir_faire'))
    )
    op.create_table('directory_diplomas',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('diploma_type_code', sa.String(length=8), nullable=False),
    sa.Column('diploma_type', sa.String(length=120), nullable=False),
    sa.Column('diploma_code', sa.String(length=16), nullable=False),
    sa.Column('diploma', sa.String(length=200), nullable=False),
    sa.Column('authorisation_type_code', sa.String(length=8), nullable=False),
    sa.Column('authorisation_type', sa.String(length=120), nullable=False),
    sa.Column('discipline_code', sa.String(length=16), nullable=False),
    sa.Column('discipline', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['rpps'], ['directory_professionals.rpps'], name=op.f('fk_directory_diplomas_rpps_directory_professionals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_diplomas'))
    )
    with op.batch_alter_table('directory_diplomas', schema=None) as batch_op:
        batch_op.create_index('ix_directory_diplomas_rpps', ['rpps', 'position'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('directory_diplomas', schema=None) as batch_op:
        batch_op.drop_index('ix_directory_diplomas_rpps')
    op.drop_table('directory_diplomas')
    op.drop_table('directory_savoir_faire')
    with op.batch_alter_table('directory_professionals', schema=None) as batch_op:
        batch_op.drop_column('inactive_since')
        batch_op.drop_column('active')
