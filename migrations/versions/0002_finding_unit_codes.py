"""findings keep their units' codes beside the names

Findings stored only the district and commune names, so they could not be filtered by unit code
the way sites are. Existing rows get the code of the unit their stored name (or code) names at
that level; a name that no stored unit carries leaves the code empty.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'

_LEVELS = (("district_code", "district", "district"), ("commune_code", "commune", "commune"))


def upgrade() -> None:
    # recreate="never": adding columns and indexes is plain ALTER TABLE on SpatiaLite too, so the
    # table (and its registered geometry column) is never copied
    with op.batch_alter_table('findings', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('district_code', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('commune_code', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_findings_district_code'), ['district_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_commune_code'), ['commune_code'], unique=False)
    for code_col, name_col, level in _LEVELS:
        op.execute(sa.text(
            f"UPDATE findings SET {code_col} = (SELECT MIN(a.code) FROM admin_units a WHERE a.level = :level "
            f"AND (a.name = findings.{name_col} OR a.code = findings.{name_col})) WHERE {name_col} IS NOT NULL"
        ).bindparams(level=level))


def downgrade() -> None:
    # SQLite ≥ 3.35 and PostgreSQL both drop a column in place (no table copy)
    with op.batch_alter_table('findings', schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_commune_code'))
        batch_op.drop_index(batch_op.f('ix_findings_district_code'))
        batch_op.drop_column('commune_code')
        batch_op.drop_column('district_code')
