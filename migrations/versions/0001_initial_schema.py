"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from geodata.crs import register_postgis_srids, unregister_postgis_srids

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    register_postgis_srids(bind)
    op.create_geospatial_table('admin_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('unit_type', sa.String(length=50), nullable=True),
    sa.Column('parent_code', sa.String(length=20), nullable=True),
    sa.Column('urban', sa.Boolean(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code', 'valid_from', name='uq_admin_units_code_valid_from')
    )
    with op.batch_alter_table('admin_units', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_admin_units_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_admin_units_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_units_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_units_parent_code'), ['parent_code'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('entity', sa.String(length=50), nullable=False),
    sa.Column('entity_id', sa.String(length=100), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_entity'), ['entity'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_entity_id'), ['entity_id'], unique=False)
    # the audit log is append-only in the database itself, not just in the API
    if bind.dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")

    op.create_table('cable_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=50), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('targets', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref')
    )
    op.create_geospatial_table('cable_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('from_desc', sa.String(length=200), nullable=True),
    sa.Column('to_desc', sa.String(length=200), nullable=True),
    sa.Column('district_code', sa.String(length=20), nullable=True),
    sa.Column('commune_code', sa.String(length=20), nullable=True),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('plan_ref', sa.String(length=50), nullable=True),
    sa.Column('target_year', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('operators', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_changed_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('cable_segments', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_cable_segments_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_cable_segments_district_code'), ['district_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cable_segments_plan_ref'), ['plan_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_cable_segments_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_cable_segments_street'), ['street'], unique=False)

    op.create_table('duct_leases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('duct_owner', sa.String(length=200), nullable=False),
    sa.Column('operators', sa.JSON(), nullable=True),
    sa.Column('price_vnd_per_m_month', sa.Float(), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=True),
    sa.Column('end_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check', sa.String(length=30), nullable=False),
    sa.Column('rule', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('site_code', sa.String(length=50), nullable=True),
    sa.Column('operator', sa.String(length=20), nullable=True),
    sa.Column('zone', sa.String(length=200), nullable=True),
    sa.Column('route', sa.String(length=200), nullable=True),
    sa.Column('other_site_code', sa.String(length=50), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('district', sa.String(length=200), nullable=True),
    sa.Column('commune', sa.String(length=200), nullable=True),
    sa.Column('legal_source', sa.String(length=300), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_findings_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_findings_check'), ['check'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_site_code'), ['site_code'], unique=False)

    op.create_table('inspection_campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=False),
    sa.Column('end_on', sa.Date(), nullable=True),
    sa.Column('site_filter', sa.JSON(), nullable=True),
    sa.Column('site_codes', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('meta',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('operators',
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('short_name', sa.String(length=50), nullable=True),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('legal_ref', sa.String(length=200), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('target_filter', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_geospatial_table('relocation_projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('relocation_projects', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_relocation_projects_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})

    op.create_geospatial_table('routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district_code', sa.String(length=20), nullable=True),
    sa.Column('corridor_m', sa.Float(), nullable=False),
    sa.Column('policy', sa.String(length=20), nullable=False),
    sa.Column('legal_source', sa.String(length=300), nullable=True),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_routes_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_routes_name'), ['name'], unique=False)

    op.create_geospatial_table('zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('policy', sa.String(length=20), nullable=False),
    sa.Column('radius_m', sa.Float(), nullable=True),
    sa.Column('buffer_m', sa.Float(), nullable=False),
    sa.Column('district_code', sa.String(length=20), nullable=True),
    sa.Column('legal_source', sa.String(length=300), nullable=True),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_zones_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_zones_name'), ['name'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('operator', sa.String(length=20), nullable=True),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['operator'], ['operators.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_prefix'), ['prefix'], unique=False)

    op.create_table('cable_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['segment_id'], ['cable_segments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cable_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cable_status_changes_segment_id'), ['segment_id'], unique=False)

    op.create_geospatial_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reporter', sa.String(length=200), nullable=True),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('district_code', sa.String(length=20), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['segment_id'], ['cable_segments.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_complaints_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_complaints_status'), ['status'], unique=False)

    op.create_table('inspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('site_code', sa.String(length=50), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('inspected_on', sa.Date(), nullable=False),
    sa.Column('inspector', sa.String(length=100), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['inspection_campaigns.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspections_site_code'), ['site_code'], unique=False)

    op.create_table('plan_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['operator'], ['operators.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('operator', 'idempotency_key', name='uq_plan_idempotency')
    )
    with op.batch_alter_table('plan_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_submissions_operator'), ['operator'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_submissions_status'), ['status'], unique=False)

    op.create_table('programme_sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('site_code', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('integrates', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('programme_id', 'site_code', name='uq_programme_site')
    )
    with op.batch_alter_table('programme_sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_sites_programme_id'), ['programme_id'], unique=False)

    op.create_geospatial_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('operator', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('mount', sa.String(length=20), nullable=True),
    sa.Column('mast_height_m', sa.Float(), nullable=True),
    sa.Column('building_height_m', sa.Float(), nullable=True),
    sa.Column('reach_m', sa.Float(), nullable=True),
    sa.Column('camouflaged', sa.Boolean(), nullable=True),
    sa.Column('declared_class', sa.String(length=10), nullable=True),
    sa.Column('derived_class', sa.String(length=10), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=True),
    sa.Column('tech', sa.String(length=50), nullable=True),
    sa.Column('transmitters', sa.Integer(), nullable=True),
    sa.Column('shared_by', sa.JSON(), nullable=True),
    sa.Column('max_tenants', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('commune_code', sa.String(length=20), nullable=True),
    sa.Column('district_code', sa.String(length=20), nullable=True),
    sa.Column('x_m', sa.Float(), nullable=True),
    sa.Column('y_m', sa.Float(), nullable=True),
    sa.Column('built_on', sa.Date(), nullable=True),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['operator'], ['operators.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_sites_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_sites_commune_code'), ['commune_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_sites_derived_class'), ['derived_class'], unique=False)
        batch_op.create_index('ix_sites_district_class', ['district_code', 'derived_class'], unique=False)
        batch_op.create_index('ix_sites_class_cover', ['derived_class', 'declared_class', 'status', 'id', 'x_m', 'y_m'], unique=False)
        batch_op.create_index(batch_op.f('ix_sites_district_code'), ['district_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_sites_operator'), ['operator'], unique=False)
        batch_op.create_index(batch_op.f('ix_sites_status'), ['status'], unique=False)

    op.create_table('plan_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('items', sa.JSON(), nullable=True),
    sa.Column('diff', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan_submissions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('plan_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_events_plan_id'), ['plan_id'], unique=False)

    op.create_table('tile_site_cells',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('ix', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('iy', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tx', sa.Integer(), nullable=False),
    sa.Column('ty', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_a1a', sa.Integer(), nullable=False),
    sa.Column('n_a1b', sa.Integer(), nullable=False),
    sa.Column('n_a2a', sa.Integer(), nullable=False),
    sa.Column('n_a2b', sa.Integer(), nullable=False),
    sa.Column('n_a2c', sa.Integer(), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=50), nullable=True),
    sa.Column('operator', sa.String(length=20), nullable=True),
    sa.Column('derived_class', sa.String(length=10), nullable=True),
    sa.Column('declared_class', sa.String(length=10), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('level', 'ix', 'iy')
    )
    with op.batch_alter_table('tile_site_cells', schema=None) as batch_op:
        batch_op.create_index('ix_tile_site_cells_tile', ['level', 'tx', 'ty'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tile_site_cells', schema=None) as batch_op:
        batch_op.drop_index('ix_tile_site_cells_tile')

    op.drop_table('tile_site_cells')
    with op.batch_alter_table('plan_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_events_plan_id'))

    op.drop_table('plan_events')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sites_status'))
        batch_op.drop_index(batch_op.f('ix_sites_operator'))
        batch_op.drop_index(batch_op.f('ix_sites_district_code'))
        batch_op.drop_index('ix_sites_class_cover')
        batch_op.drop_index('ix_sites_district_class')
        batch_op.drop_index(batch_op.f('ix_sites_derived_class'))
        batch_op.drop_index(batch_op.f('ix_sites_commune_code'))
        batch_op.drop_geospatial_index('idx_sites_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('sites')
    with op.batch_alter_table('programme_sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_sites_programme_id'))

    op.drop_table('programme_sites')
    with op.batch_alter_table('plan_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_submissions_status'))
        batch_op.drop_index(batch_op.f('ix_plan_submissions_operator'))

    op.drop_table('plan_submissions')
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspections_site_code'))

    op.drop_table('inspections')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_status'))
        batch_op.drop_geospatial_index('idx_complaints_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('complaints')
    with op.batch_alter_table('cable_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cable_status_changes_segment_id'))

    op.drop_table('cable_status_changes')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_prefix'))

    op.drop_table('api_keys')
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zones_name'))
        batch_op.drop_geospatial_index('idx_zones_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('zones')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routes_name'))
        batch_op.drop_geospatial_index('idx_routes_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('routes')
    with op.batch_alter_table('relocation_projects', schema=None) as batch_op:
        batch_op.drop_geospatial_index('idx_relocation_projects_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('relocation_projects')
    op.drop_table('programmes')
    op.drop_table('operators')
    op.drop_table('meta')
    op.drop_table('inspection_campaigns')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_site_code'))
        batch_op.drop_index(batch_op.f('ix_findings_check'))
        batch_op.drop_geospatial_index('idx_findings_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('findings')
    op.drop_table('duct_leases')
    with op.batch_alter_table('cable_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cable_segments_street'))
        batch_op.drop_index(batch_op.f('ix_cable_segments_status'))
        batch_op.drop_index(batch_op.f('ix_cable_segments_plan_ref'))
        batch_op.drop_index(batch_op.f('ix_cable_segments_district_code'))
        batch_op.drop_geospatial_index('idx_cable_segments_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('cable_segments')
    op.drop_table('cable_plans')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_entity_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_entity'))

    op.drop_table('audit_log')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('admin_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_units_parent_code'))
        batch_op.drop_index(batch_op.f('ix_admin_units_level'))
        batch_op.drop_index(batch_op.f('ix_admin_units_code'))
        batch_op.drop_geospatial_index('idx_admin_units_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('admin_units')
    unregister_postgis_srids(op.get_bind())
