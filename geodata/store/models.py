"""SQLAlchemy 2 models for every stored entity (docs/architecture.md, "Data model").

Geometry is stored in EPSG:4326 with a spatial index on both backends. Sites also keep their
coordinates in the province's metric CRS (``x_m``/``y_m``) because every planning check measures in
metres; projecting once at write time is what lets the checks over a million sites stay fast.
The values a status, class, mount or role column may hold are listed in :mod:`planning.vocab`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 4326


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def geom(kind: str = "GEOMETRY") -> Geometry:
    return Geometry(geometry_type=kind, srid=SRID, spatial_index=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    """Key/value facts about the database: data version (tile cache), demo seed, planted sites."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Operator(Base):
    __tablename__ = "operators"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(50))


class AdminUnit(Base):
    """Province, district or commune, versioned (``valid_from``/``valid_to``) for the 2025 reform."""

    __tablename__ = "admin_units"
    __table_args__ = (UniqueConstraint("code", "valid_from", name="uq_admin_units_code_valid_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20), index=True)  # province | district | commune
    unit_type: Mapped[str | None] = mapped_column(String(50))  # Quận, Huyện, Phường, Xã, Thị trấn…
    parent_code: Mapped[str | None] = mapped_column(String(20), index=True)
    urban: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(1900, 1, 1))
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    geom = mapped_column(geom("MULTIPOLYGON"), nullable=False)


class UnitMapping(Base):
    """One old unit's share in one new unit on a reform day (``full``: all of it; ``partial``: a part).

    New units are often known by code and name only (the resolutions list them before anyone
    publishes polygons), so the mapping is what places sites in them: a site in a fully merged old
    unit belongs to the new one; a site in a partially merged one cannot be placed without a polygon.
    """

    __tablename__ = "unit_mappings"
    __table_args__ = (UniqueConstraint("effective_on", "old_code", "new_code", name="uq_unit_mappings_old_new"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_on: Mapped[dt.date] = mapped_column(Date, index=True)  # first day of the new units
    old_code: Mapped[str] = mapped_column(String(20), index=True)
    old_name: Mapped[str] = mapped_column(String(200))
    new_code: Mapped[str] = mapped_column(String(20), index=True)
    new_name: Mapped[str] = mapped_column(String(200))
    new_level: Mapped[str] = mapped_column(String(20))  # province | commune
    new_parent_code: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))  # full | partial


class Zone(Base):
    """An area where placement rules apply (A1-only squares, heritage sites, headquarters…)."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    policy: Mapped[str] = mapped_column(String(20), default="a1_only")
    radius_m: Mapped[float | None] = mapped_column(Float)  # when the geometry is a point
    buffer_m: Mapped[float] = mapped_column(Float, default=0.0)
    district_code: Mapped[str | None] = mapped_column(String(20))
    legal_source: Mapped[str | None] = mapped_column(String(300))
    geom = mapped_column(geom(), nullable=False)


class Route(Base):
    """A street centreline with a corridor half-width where a placement policy applies."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    district_code: Mapped[str | None] = mapped_column(String(20))
    corridor_m: Mapped[float] = mapped_column(Float, default=30.0)
    policy: Mapped[str] = mapped_column(String(20), default="any")
    legal_source: Mapped[str | None] = mapped_column(String(300))
    geom = mapped_column(geom(), nullable=False)


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (
        Index("ix_sites_district_class", "district_code", "derived_class"),
        # covering index of the A1 check: the subject sites' id and metric coordinates are read from
        # the index alone (index-only scan), never from the wide rows (reasons, names, addresses)
        Index("ix_sites_class_cover", "derived_class", "declared_class", "status", "id", "x_m", "y_m"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    operator: Mapped[str] = mapped_column(ForeignKey("operators.code"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    mount: Mapped[str | None] = mapped_column(String(20))  # placement: building / ground / structure
    structure: Mapped[str | None] = mapped_column(String(20))  # what the mast is: self_supporting, guyed…
    mast_height_m: Mapped[float | None] = mapped_column(Float)
    building_height_m: Mapped[float | None] = mapped_column(Float)
    reach_m: Mapped[float | None] = mapped_column(Float)
    camouflaged: Mapped[bool | None] = mapped_column(Boolean)
    declared_class: Mapped[str | None] = mapped_column(String(10))
    derived_class: Mapped[str | None] = mapped_column(String(10), index=True)
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    tech: Mapped[str | None] = mapped_column(String(50))
    transmitters: Mapped[int | None] = mapped_column(Integer)
    shared_by: Mapped[list[Any] | None] = mapped_column(JSON)
    max_tenants: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="built", index=True)
    commune_code: Mapped[str | None] = mapped_column(String(20), index=True)
    district_code: Mapped[str | None] = mapped_column(String(20), index=True)
    x_m: Mapped[float | None] = mapped_column(Float)  # easting in the metric CRS
    y_m: Mapped[float | None] = mapped_column(Float)  # northing in the metric CRS
    built_on: Mapped[dt.date | None] = mapped_column(Date)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    geom = mapped_column(geom("POINT"), nullable=False)


class Finding(Base):
    """One result of a planning check, replaced atomically each time that check runs."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check: Mapped[str] = mapped_column(String(30), index=True)  # a1-routes | spacing | class-mismatch | inspection
    rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))  # violation | warning | info
    site_code: Mapped[str | None] = mapped_column(String(50), index=True)
    operator: Mapped[str | None] = mapped_column(String(20))
    zone: Mapped[str | None] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(200))
    other_site_code: Mapped[str | None] = mapped_column(String(50))
    distance_m: Mapped[float | None] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(200))
    commune: Mapped[str | None] = mapped_column(String(200))
    #: the units' codes beside their names, so findings filter by unit the way sites do
    district_code: Mapped[str | None] = mapped_column(String(20), index=True)
    commune_code: Mapped[str | None] = mapped_column(String(20), index=True)
    legal_source: Mapped[str | None] = mapped_column(String(300))
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    geom = mapped_column(geom("POINT"))


class CablePlan(Base):
    """A steering-committee plan such as 18/KH-BCĐ (28/3/2017) with its target routes."""

    __tablename__ = "cable_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    targets: Mapped[list[Any] | None] = mapped_column(JSON)


class CableSegment(Base):
    __tablename__ = "cable_segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    street: Mapped[str] = mapped_column(String(200), index=True)
    from_desc: Mapped[str | None] = mapped_column(String(200))
    to_desc: Mapped[str | None] = mapped_column(String(200))
    district_code: Mapped[str | None] = mapped_column(String(20), index=True)
    commune_code: Mapped[str | None] = mapped_column(String(20))
    length_m: Mapped[float] = mapped_column(Float, default=0.0)
    plan_ref: Mapped[str | None] = mapped_column(String(50), index=True)
    target_year: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(20))  # chinh_trang | ha_ngam | chinh_trang_ha_ngam: no default
    operators: Mapped[list[Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="planned", index=True)
    status_changed_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    geom = mapped_column(geom(), nullable=False)
    history: Mapped[list[CableStatusChange]] = relationship(
        back_populates="segment", order_by="CableStatusChange.id", cascade="all, delete-orphan"
    )
    __mapper_args__ = {"version_id_col": version}


class CableStatusChange(Base):
    __tablename__ = "cable_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("cable_segments.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    changed_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    segment: Mapped[CableSegment] = relationship(back_populates="history")


class DuctLease(Base):
    __tablename__ = "duct_leases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    duct_owner: Mapped[str] = mapped_column(String(200))
    operators: Mapped[list[Any] | None] = mapped_column(JSON)
    price_vnd_per_m_month: Mapped[float] = mapped_column(Float)
    start_on: Mapped[dt.date | None] = mapped_column(Date)
    end_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class RelocationProject(Base):
    __tablename__ = "relocation_projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(geom("MULTIPOLYGON"), nullable=False)


class Complaint(Base):
    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    reported_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | in_progress | resolved
    reporter: Mapped[str | None] = mapped_column(String(200))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("cable_segments.id", ondelete="SET NULL"))
    district_code: Mapped[str | None] = mapped_column(String(20))
    geom = mapped_column(geom("POINT"), nullable=False)


class ApiKey(Base):
    """An API key, stored only as a hash; ``prefix`` lets admins tell keys apart without the secret."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    operator: Mapped[str | None] = mapped_column(ForeignKey("operators.code"))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class StaffUser(Base):
    """A department staff account for the browser workspace; the password is kept only as an Argon2 hash."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StaffSession(Base):
    """A signed-in browser: only the SHA-256 of its cookie is stored, so a leaked table opens nothing."""

    __tablename__ = "staff_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SignInAttempt(Base):
    """One sign-in attempt (the lockout counts the recent failures of a username)."""

    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class PlanSubmission(Base):
    __tablename__ = "plan_submissions"
    __table_args__ = (UniqueConstraint("operator", "idempotency_key", name="uq_plan_idempotency"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator: Mapped[str] = mapped_column(ForeignKey("operators.code"), index=True)
    title: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    items: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class PlanEvent(Base):
    """One transition of a plan (submit, review, decision) with the frozen items of that version."""

    __tablename__ = "plan_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan_submissions.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    items: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class InspectionCampaign(Base):
    __tablename__ = "inspection_campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    start_on: Mapped[dt.date] = mapped_column(Date)
    end_on: Mapped[dt.date | None] = mapped_column(Date)
    site_filter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    site_codes: Mapped[list[Any] | None] = mapped_column(JSON)


class Inspection(Base):
    __tablename__ = "inspections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_campaigns.id", ondelete="CASCADE"))
    site_code: Mapped[str] = mapped_column(String(50), index=True)
    result: Mapped[str] = mapped_column(String(20))  # conforms | violation
    notes: Mapped[str | None] = mapped_column(Text)
    inspected_on: Mapped[dt.date] = mapped_column(Date)
    inspector: Mapped[str | None] = mapped_column(String(100))
    photos: Mapped[list[Any] | None] = mapped_column(JSON)


class IdempotencyRecord(Base):
    """The first answer to a request sent with an idempotency key (``Idempotency-Key`` header, or the key
    an inspector's phone made for a queued result or photo): a replay of the same request by the same
    actor gets this answer back instead of creating a second row (:mod:`geodata.store.idempotency`)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("actor", "key", name="uq_idempotency_actor_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(200))  # e.g. "inspection.result campaign 3"
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the operation and its canonical body
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Programme(Base):
    """A mast-conversion or environment-friendly-BTS programme (e.g. Kế hoạch 153/KH-UBND)."""

    __tablename__ = "programmes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # conversion | eco_bts
    legal_ref: Mapped[str | None] = mapped_column(String(200))
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    target_filter: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ProgrammeSite(Base):
    __tablename__ = "programme_sites"
    __table_args__ = (UniqueConstraint("programme_id", "site_code", name="uq_programme_site"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), index=True)
    site_code: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | converted | piloted
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    integrates: Mapped[list[Any] | None] = mapped_column(JSON)


class AuditLog(Base):
    """Append-only record of every change to plans, sites, segments and keys.

    ``hash`` chains each row to the one before it (``prev_hash``; see :mod:`geodata.store.audit`), so a
    row changed, removed or slipped in by someone who can bypass the triggers shows up in
    ``btsplan audit verify``. Both columns may be NULL only because SQLite cannot add a NOT NULL
    column without copying the table (and its triggers); the writer always fills them.
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.current_timestamp())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(50), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(100), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class TileSiteCell(Base):
    """Derived data: the site-clustering pyramid behind the ``sites`` vector tiles.

    One row per occupied grid cell at ``level`` = zoom + 5 (a 32 × 32 grid per Web-Mercator tile,
    ``ix``/``iy`` cell indices, ``tx``/``ty`` the tile holding the cell), with the number of sites per
    class and their Mercator centroid; the site's own attributes when the cell holds exactly one.
    ``geodata.serve.tiles`` rebuilds it from ``sites`` whenever ``meta['data_version']`` moves, so a tile
    at any zoom reads at most 1,024 small rows instead of every site under it. Never edit by hand.
    """

    __tablename__ = "tile_site_cells"
    __table_args__ = (Index("ix_tile_site_cells_tile", "level", "tx", "ty"),)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ix: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    iy: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx: Mapped[int] = mapped_column(Integer)
    ty: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    n_a1a: Mapped[int] = mapped_column(Integer, default=0)
    n_a1b: Mapped[int] = mapped_column(Integer, default=0)
    n_a2a: Mapped[int] = mapped_column(Integer, default=0)
    n_a2b: Mapped[int] = mapped_column(Integer, default=0)
    n_a2c: Mapped[int] = mapped_column(Integer, default=0)
    x: Mapped[float] = mapped_column(Float)  # EPSG:3857 centroid of the cell's sites
    y: Mapped[float] = mapped_column(Float)
    site_id: Mapped[int | None] = mapped_column(Integer)  # the fields below describe the site when n == 1
    code: Mapped[str | None] = mapped_column(String(50))
    operator: Mapped[str | None] = mapped_column(String(20))
    derived_class: Mapped[str | None] = mapped_column(String(10))
    declared_class: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str | None] = mapped_column(String(20))


class RateLimit(Base):
    """One token bucket of the shared rate limiter (:mod:`geodata.store.ratelimit`): the tokens left when
    it was last counted and that moment (epoch seconds). Unlogged on PostgreSQL; losing rows is harmless."""

    __tablename__ = "rate_limits"
    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
