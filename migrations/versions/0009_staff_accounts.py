"""staff_users, staff_sessions, sign_in_attempts: department staff sign in to the browser workspace

Firms and scripts use API keys; department staff are not API users and work in a browser. Accounts
keep an Argon2 hash of the password, sessions only the SHA-256 of their cookie (so a copy of the table
opens nothing) with server-side expiry and revocation, and each sign-in attempt is kept so repeated
failures lock the account for a while.

On SQLite, SpatiaLite's convenience virtual tables (SpatialIndex, ElementaryGeometries, KNN) are
dropped: btsplan never queries them (its spatial indexes are the idx_* R-trees, which any SQLite
reads), and while they exist a plain ``sqlite3`` without mod_spatialite cannot read every table of the
file — which is how one checks that no password is stored in clear, or reads a backup anywhere.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'


#: SpatiaLite's virtual tables that need mod_spatialite to be read, and that nothing here uses.
SPATIALITE_VIRTUAL_TABLES = {'SpatialIndex': 'VirtualSpatialIndex', 'ElementaryGeometries': 'VirtualElementary',
                             'KNN': 'VirtualKNN'}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in SPATIALITE_VIRTUAL_TABLES:
            op.execute(f'DROP TABLE IF EXISTS "{name}"')
    op.create_table(
        'staff_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('password_changed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username'),
    )
    op.create_table(
        'staff_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_staff_sessions_user_id', 'staff_sessions', ['user_id'])
    op.create_table(
        'sign_in_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sign_in_attempts_username', 'sign_in_attempts', ['username'])
    op.create_index('ix_sign_in_attempts_at', 'sign_in_attempts', ['at'])


def downgrade() -> None:
    op.drop_index('ix_sign_in_attempts_at', table_name='sign_in_attempts')
    op.drop_index('ix_sign_in_attempts_username', table_name='sign_in_attempts')
    op.drop_table('sign_in_attempts')
    op.drop_index('ix_staff_sessions_user_id', table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_table('staff_users')
    if op.get_bind().dialect.name == 'sqlite':
        for name, module in SPATIALITE_VIRTUAL_TABLES.items():
            op.execute(f'CREATE VIRTUAL TABLE IF NOT EXISTS "{name}" USING {module}()')
