"""Site structure, separate from placement (issue 16).

``mount`` used to mix what a mast is with where it stands ("cột tự đứng" and "dây co" meant ground),
so a rooftop self-supporting mast was read as a ground tower. ``mount`` is now placement only
(building / ground / structure) and ``structure`` says what the mast is (self_supporting, guyed,
monopole, pole). Nullable: existing rows keep their placement and gain no structure.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None, recreate="never") as batch:
        batch.add_column(sa.Column("structure", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None, recreate="never") as batch:
        batch.drop_column("structure")
