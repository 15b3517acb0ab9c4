"""Cable methods as the plans count them: chỉnh trang / hạ ngầm / both.

Earlier releases stored ``underground``, ``bracketed`` and ``removed``; the department's plans
(18/KH-BCĐ, 85/KH-BCĐ) report progress split into chỉnh trang (tidy-up: bundling, đưa cáp vào gông,
taking down dead cable) and hạ ngầm (undergrounding). Stored rows are rewritten so every report splits
the same way; the old words stay readable on input (``planning.vocab.LEGACY_CABLE_METHODS``).
Downgrade maps back (both → underground, the stronger of the two; tidy-up → bracketed).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'

_UP = {"underground": "ha_ngam", "bracketed": "chinh_trang", "removed": "chinh_trang"}
_DOWN = {"ha_ngam": "underground", "chinh_trang_ha_ngam": "underground", "chinh_trang": "bracketed"}


def _rewrite(mapping: dict[str, str]) -> None:
    stmt = sa.text("UPDATE cable_segments SET method = :new WHERE method = :old")
    for old, new in mapping.items():
        op.execute(stmt.bindparams(old=old, new=new))


def upgrade() -> None:
    _rewrite(_UP)


def downgrade() -> None:
    _rewrite(_DOWN)
