"""rate_limits: token buckets shared by every worker

The write limit was kept in each process's memory, so N workers allowed N times the limit, and
anonymous writes and expensive reads were not limited at all. One row per bucket (an API key's or a
client address's), updated by one atomic upsert (geodata.store.ratelimit). On PostgreSQL the table is
UNLOGGED: its rows are counters that may be lost in a crash, and skipping the WAL keeps each request's
statement cheap (it is not copied to read replicas, which never read it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""
from __future__ import annotations


import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'


def upgrade() -> None:
    op.create_table(
        'rate_limits',
        sa.Column('bucket', sa.String(length=200), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('bucket'),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE rate_limits SET UNLOGGED')


def downgrade() -> None:
    op.drop_table('rate_limits')
