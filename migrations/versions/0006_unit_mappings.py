"""unit_mappings: old → new administrative units of a reform (full or partial merges)

On 2025-07-01 Vietnam abolished the district level and merged communes; many new units take only
part of an old one. Reports dated after the reform group by the new units, which often exist only
as codes and names at first: the mapping is what places sites in them (a site in a fully merged
old unit belongs to its new unit; one in a partially merged unit is reported as not placed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'


def upgrade() -> None:
    op.create_table(
        'unit_mappings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('effective_on', sa.Date(), nullable=False),
        sa.Column('old_code', sa.String(length=20), nullable=False),
        sa.Column('old_name', sa.String(length=200), nullable=False),
        sa.Column('new_code', sa.String(length=20), nullable=False),
        sa.Column('new_name', sa.String(length=200), nullable=False),
        sa.Column('new_level', sa.String(length=20), nullable=False),
        sa.Column('new_parent_code', sa.String(length=20), nullable=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('effective_on', 'old_code', 'new_code', name='uq_unit_mappings_old_new'),
    )
    op.create_index('ix_unit_mappings_effective_on', 'unit_mappings', ['effective_on'])
    op.create_index('ix_unit_mappings_old_code', 'unit_mappings', ['old_code'])
    op.create_index('ix_unit_mappings_new_code', 'unit_mappings', ['new_code'])


def downgrade() -> None:
    op.drop_table('unit_mappings')
