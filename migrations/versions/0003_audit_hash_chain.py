"""audit log: hash chain, TRUNCATE refused, SQLite REPLACE refused

Each audit row gets ``prev_hash`` and ``hash`` (SHA-256 over the row and its predecessor's hash), so
rows changed, deleted or forged by someone who bypasses the triggers are found by
``btsplan audit verify``. Rows already stored are chained in id order, and one row with action
``chain`` records that they were (their times were taken before writers were serialised, so only
rows after it must keep their times in order). PostgreSQL also refuses TRUNCATE by trigger; SQLite
refuses an INSERT that reuses an id, which ``INSERT OR REPLACE`` would otherwise turn into a silent
delete (REPLACE does not fire DELETE triggers unless recursive_triggers is on).

The hashing is spelt out here, not imported: a migration must keep doing what it did when it was
written, whatever the application's code becomes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'

_GENESIS = "0" * 64
_PAGE = 5000
_APPEND_ONLY = "SELECT RAISE(ABORT, 'audit_log is append-only')"

_audit = sa.table(
    'audit_log',
    sa.column('id', sa.Integer), sa.column('at', sa.DateTime), sa.column('actor', sa.String),
    sa.column('action', sa.String), sa.column('entity', sa.String), sa.column('entity_id', sa.String),
    sa.column('before', sa.JSON), sa.column('after', sa.JSON),
    sa.column('prev_hash', sa.String), sa.column('hash', sa.String),
)


def _hash(prev_hash: str, row: dict[str, Any]) -> str:
    at = row['at']
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    payload = [prev_hash, row['id'], at.isoformat(sep=" ", timespec="microseconds"), row['actor'], row['action'],
               row['entity'], row['entity_id'], row['before'], row['after']]
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def _chain_stored_rows(bind: sa.Connection) -> None:
    """Hash the rows already stored, in id order, then append the ``chain`` row when there were any."""
    cols = [_audit.c[n] for n in ('id', 'at', 'actor', 'action', 'entity', 'entity_id', 'before', 'after')]
    prev, last_id, last_at, count = _GENESIS, 0, None, 0
    while True:
        page = bind.execute(sa.select(*cols).where(_audit.c.id > last_id).order_by(_audit.c.id).limit(_PAGE)
                            ).mappings().all()
        updates = []
        for row in page:
            h = _hash(prev, dict(row))
            updates.append({'b_id': row['id'], 'b_prev': prev, 'b_hash': h})
            prev, last_id, last_at = h, row['id'], row['at']
        if updates:
            bind.execute(sa.update(_audit).where(_audit.c.id == sa.bindparam('b_id'))
                         .values(prev_hash=sa.bindparam('b_prev'), hash=sa.bindparam('b_hash')), updates)
        count += len(page)
        if len(page) < _PAGE:
            break
    if count:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        row = {'id': last_id + 1, 'at': max(now, last_at), 'actor': 'btsplan db upgrade', 'action': 'chain',
               'entity': 'audit_log', 'entity_id': None, 'before': None,
               'after': {'chained_rows': count, 'through_id': last_id}}
        bind.execute(sa.insert(_audit).values(**row, prev_hash=prev, hash=_hash(prev, row)))


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    # recreate="never": a table copy on SQLite would drop the append-only triggers
    with op.batch_alter_table('audit_log', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    # the stored rows are hashed in place: lift the UPDATE guard for that alone
    if pg:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        _chain_stored_rows(bind)
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_log FROM PUBLIC")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        _chain_stored_rows(bind)
        op.execute(f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN {_APPEND_ONLY}; END")
        op.execute("CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
                   f"WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) BEGIN {_APPEND_ONLY}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    with op.batch_alter_table('audit_log', schema=None, recreate="never") as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
