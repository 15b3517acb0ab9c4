"""idempotency_records: the first answer to each (actor, idempotency key), so a replay creates nothing

An inspector's phone queues results and photos while it has no connection and sends them when the
connection returns; a request whose answer was lost on the way is sent again. Each queued request
carries a key made on the phone (API clients send ``Idempotency-Key``); the server keeps the first
answer under (actor, key), unique, and answers a replay with it instead of storing a second row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'


def upgrade() -> None:
    op.create_table(
        'idempotency_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('operation', sa.String(length=200), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('response', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('actor', 'key', name='uq_idempotency_actor_key'),
    )
    op.create_index('ix_idempotency_records_created_at', 'idempotency_records', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_idempotency_records_created_at', table_name='idempotency_records')
    op.drop_table('idempotency_records')
