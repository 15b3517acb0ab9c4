"""VN-2000 / TM-3 zones in spatial_ref_sys on both backends, custom SRIDs for the zones EPSG lacks.

Why a migration rather than a start-up step: spatial_ref_sys is part of the schema every SQL client
of the database reads (QGIS, ST_Transform in reports), so a database at this revision has the zones
whatever process made it, `btsplan db upgrade` stays the one command that changes a database, and the
migration-owner role (not the application's restricted role) is the one that may write the table.
Rows are inserted only where missing (SpatiaLite ships none of EPSG:9205–9218; 0001 already added
them on PostGIS); the custom zones are ``970000 + 100 · degrees + minutes`` (107°45' → 980745), see
``geodata.crs.tm3_srid``. Downgrade removes only the custom (``BTSPLAN``) rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
from __future__ import annotations

from alembic import op

from geodata.crs import register_tm3_srids, unregister_custom_srids

revision: str = '0005'
down_revision: str | None = '0004'


def upgrade() -> None:
    register_tm3_srids(op.get_bind())


def downgrade() -> None:
    unregister_custom_srids(op.get_bind())
