"""The API-key store: key material, creation and revocation (CLI and admin), and lookup by secret.

Keys look like ``btsp_<8 hex>_<43 url-safe chars>``: the first 13 characters are a non-secret
*prefix* stored in clear so a request finds its candidate row with one indexed lookup; the whole key
is stored only as its SHA-256 digest. SHA-256 (not a slow password hash) is the right tool here
because the secret part has 256 bits of entropy — there is nothing to brute-force — and every API
request verifies a key. Digests are compared in constant time. Who may do what with a key is the
HTTP layer's business (``app/auth.py``); this module only stores and finds keys.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from geodata.errors import InvalidField
from geodata.store import audit
from geodata.store.models import ApiKey, Operator, utcnow
from planning.vocab import ROLES
from planning.i18n import _

KEY_SCHEME = "btsp"
PREFIX_LEN = len(KEY_SCHEME) + 1 + 8  # "btsp_" + 8 hex characters
#: How often ``last_used_at`` is written for one key (it is advisory; writing it on every request
#: would turn every read into a write).
LAST_USED_EVERY_S = 60.0


class KeyManagementError(InvalidField):
    """A key-management request that cannot be honoured (unknown operator, bad role, unknown id)."""


@dataclass(frozen=True)
class KeyRecord:
    """A live key as stored: its id, role, firm (operator keys only) and display name."""

    id: int
    role: str
    operator: str | None
    name: str | None


# --------------------------------------------------------------------------------------------
# key material
# --------------------------------------------------------------------------------------------

def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new secret key and its lookup prefix."""
    prefix = f"{KEY_SCHEME}_{secrets.token_hex(4)}"
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else ``None`` (so junk never reaches the DB)."""
    if len(key) < PREFIX_LEN + 20 or len(key) > 200 or not key.startswith(KEY_SCHEME + "_"):
        return None
    if key[PREFIX_LEN] != "_":
        return None
    return key[:PREFIX_LEN]


# --------------------------------------------------------------------------------------------
# key management (CLI and tests)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewKey:
    id: int
    role: str
    operator: str | None
    name: str | None
    prefix: str
    secret: str  # shown once, never stored


def create_key(session: Session, role: str, operator: str | None = None, name: str | None = None,
               actor: str = "cli") -> NewKey:
    """Create a key in the caller's transaction; the secret is returned once and only its hash is kept."""
    if role not in ROLES:
        raise KeyManagementError(_("unknown role {role!r}; choose one of {roles}",
                                   role=role, roles=', '.join(ROLES)))
    if role == "operator":
        if not operator:
            raise KeyManagementError(_("an operator key needs --operator CODE (the firm it belongs to)"))
        found = session.get(Operator, operator) or session.execute(
            select(Operator).where(Operator.code == operator.upper())).scalar_one_or_none()
        if found is None:
            known = ", ".join(session.execute(select(Operator.code).order_by(Operator.code)).scalars()) or "none"
            raise KeyManagementError(_("unknown operator {operator!r}; known operators: {known}",
                                       operator=operator, known=known))
        operator = found.code
    elif operator:
        raise KeyManagementError(_("--operator is only for operator keys, not for role {role!r}", role=role))
    secret, prefix = generate_key()
    row = ApiKey(name=name, role=role, operator=operator, prefix=prefix, key_hash=hash_key(secret))
    session.add(row)
    session.flush()
    audit.record(session, actor, "create", "api_key", row.id, None, _public(row))
    return NewKey(row.id, role, operator, name, prefix, secret)


def revoke_key(session: Session, key_id: int, actor: str = "cli") -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise KeyManagementError(_("no API key with id {key_id}", key_id=key_id))
    if row.revoked_at is not None:
        raise KeyManagementError(_("API key {key_id} was already revoked on {revoked_at:%Y-%m-%d %H:%M}",
                                   key_id=key_id, revoked_at=row.revoked_at))
    before = _public(row)
    row.revoked_at = utcnow()
    session.flush()
    audit.record(session, actor, "revoke", "api_key", row.id, before, _public(row))
    return row


def list_keys(session: Session) -> list[dict[str, Any]]:
    return [_public(r) for r in session.execute(select(ApiKey).order_by(ApiKey.id)).scalars()]


def _public(row: ApiKey) -> dict[str, Any]:
    """Everything about a key except its hash."""
    return {"id": row.id, "name": row.name, "role": row.role, "operator": row.operator, "prefix": row.prefix,
            "created_at": row.created_at, "revoked_at": row.revoked_at, "last_used_at": row.last_used_at}


_last_used: dict[tuple[int, int], float] = {}


def lookup_key(engine: Engine, key: str) -> KeyRecord | None:
    """The stored key for a presented secret, or ``None`` when it is unknown, malformed or revoked."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    digest = hash_key(key)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ApiKey.id, ApiKey.role, ApiKey.operator, ApiKey.name, ApiKey.key_hash, ApiKey.revoked_at)
            .where(ApiKey.prefix == prefix)
        ).all()
    match = None
    for r in rows:  # compare every candidate so timing does not depend on which one matches
        if hmac.compare_digest(r.key_hash, digest):
            match = r
    if match is None or match.revoked_at is not None:
        return None
    _touch(engine, match.id)
    return KeyRecord(match.id, match.role, match.operator, match.name)


def _touch(engine: Engine, key_id: int) -> None:
    now, slot = time.monotonic(), (id(engine), key_id)
    if now - _last_used.get(slot, -math.inf) < LAST_USED_EVERY_S:
        return
    _last_used[slot] = now
    try:
        with engine.begin() as conn:
            conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
    except OperationalError:
        pass  # advisory timestamp; a busy SQLite writer must not fail the request
