"""API keys, roles and the per-key write rate limit.

Keys look like ``btsp_<8 hex>_<43 url-safe chars>``: the first 13 characters are a non-secret
*prefix* stored in clear so a request finds its candidate row with one indexed lookup; the whole key
is stored only as its SHA-256 digest. SHA-256 (not a slow password hash) is the right tool here
because the secret part has 256 bits of entropy — there is nothing to brute-force — and every API
request verifies a key. Digests are compared in constant time.

Roles: ``admin`` (keys, audit), ``planner`` (department staff who appraise and decide),
``inspector`` (inspection campaigns), ``operator`` (a telecom firm; bound to exactly one operator
code). Every endpoint declares the roles it allows with ``Depends(require_roles(...))``; there is no
implicit super-role. Public endpoints use :data:`OptionalPrincipal` so a key, when sent, is still
checked (a wrong key is 401, never silently anonymous).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.errors import Problem
from geodata import audit
from geodata.models import ROLES, ApiKey, Operator, utcnow

KEY_SCHEME = "btsp"
PREFIX_LEN = len(KEY_SCHEME) + 1 + 8  # "btsp_" + 8 hex characters
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How often ``last_used_at`` is written for one key (it is advisory; writing it on every request
#: would turn every read into a write).
LAST_USED_EVERY_S = 60.0

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer btsp_…`")
#: The same scheme for endpoints where a key is optional; its own name lets ``app.openapi`` document
#: those operations as "anonymous or bearer" (``security: [{}, {...}]``).
_optional_bearer = HTTPBearer(auto_error=False, scheme_name="OptionalBearer",
                              description="Optional API key: `Authorization: Bearer btsp_…`")


class KeyManagementError(ValueError):
    """A key-management request that cannot be honoured (unknown operator, bad role, unknown id)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role, firm (operators only) and a name for the audit log."""

    key_id: int
    role: str
    operator: str | None
    name: str | None

    @property
    def actor(self) -> str:
        """Name recorded in the audit log: readable and unique per key, never the secret."""
        return f"{self.name or self.role} (key {self.key_id})"

    @property
    def is_staff(self) -> bool:
        return self.role != "operator"

    def can_see_operator(self, operator: str | None) -> bool:
        """Staff see every firm; an operator key sees only its own firm's non-public data."""
        return self.is_staff or (operator is not None and operator == self.operator)


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
        raise KeyManagementError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "operator":
        if not operator:
            raise KeyManagementError("an operator key needs --operator CODE (the firm it belongs to)")
        found = session.get(Operator, operator) or session.execute(
            select(Operator).where(Operator.code == operator.upper())).scalar_one_or_none()
        if found is None:
            known = ", ".join(session.execute(select(Operator.code).order_by(Operator.code)).scalars()) or "none"
            raise KeyManagementError(f"unknown operator {operator!r}; known operators: {known}")
        operator = found.code
    elif operator:
        raise KeyManagementError(f"--operator is only for operator keys, not for role {role!r}")
    secret, prefix = generate_key()
    row = ApiKey(name=name, role=role, operator=operator, prefix=prefix, key_hash=hash_key(secret))
    session.add(row)
    session.flush()
    audit.record(session, actor, "create", "api_key", row.id, None, _public(row))
    return NewKey(row.id, role, operator, name, prefix, secret)


def revoke_key(session: Session, key_id: int, actor: str = "cli") -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise KeyManagementError(f"no API key with id {key_id}")
    if row.revoked_at is not None:
        raise KeyManagementError(f"API key {key_id} was already revoked on {row.revoked_at:%Y-%m-%d %H:%M}")
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


# --------------------------------------------------------------------------------------------
# request authentication
# --------------------------------------------------------------------------------------------

_last_used: dict[tuple[int, int], float] = {}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="btsplan"'})


def lookup_key(engine: Engine, key: str) -> Principal | None:
    """The principal for a presented key, or ``None`` when it is unknown, malformed or revoked."""
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
    return Principal(match.id, match.role, match.operator, match.name)


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


def _authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    if creds is None or not creds.credentials:
        raise _unauthorized("use `Authorization: Bearer <api key>`")
    principal = lookup_key(request.app.state.engine, creds.credentials.strip())
    if principal is None:
        raise _unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


# --------------------------------------------------------------------------------------------
# rate limit
# --------------------------------------------------------------------------------------------

class RateLimiter:
    """In-process token bucket per key: ``burst`` requests at once, refilled at ``per_minute``.

    In-process is enough for one uvicorn process; several workers each keep their own buckets, so
    the effective limit is multiplied by the worker count (documented, acceptable for the use).
    """

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int) -> float:
        """Take one token; returns 0 when allowed, else the seconds to wait for the next token."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


_limiter_lock = threading.Lock()


def rate_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    with _limiter_lock:
        limiter = getattr(state, "rate_limiter", None)
        if limiter is None:
            s = state.settings
            limiter = state.rate_limiter = RateLimiter(s.write_rate_per_minute, s.write_burst)
    return limiter


def _enforce_rate_limit(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS:
        return
    wait = rate_limiter(request).take(principal.key_id)
    if wait > 0:
        raise Problem(429, "Too many requests", f"write rate limit for this API key; retry in {math.ceil(wait)} s",
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})


# --------------------------------------------------------------------------------------------
# dependencies
# --------------------------------------------------------------------------------------------

def require_roles(*roles: str) -> Callable[..., Principal]:
    """Dependency: a valid key with one of ``roles`` (401 without/invalid key, 403 wrong role, 429 on writes)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_roles needs roles from {ROLES}, got {roles}")
    allowed = frozenset(roles)

    def dependency(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                   ) -> Principal:
        principal = _authenticate(request, creds)
        if principal is None:
            raise _unauthorized("this endpoint needs an API key: `Authorization: Bearer <api key>`")
        if principal.role not in allowed:
            raise Problem(403, "Forbidden", f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}")
        _enforce_rate_limit(request, principal)
        return principal

    dependency.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return dependency


def optional_principal(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)]
                       ) -> Principal | None:
    """For public endpoints: ``None`` when no key is sent; a sent key must be valid (else 401)."""
    principal = _authenticate(request, creds)
    if principal is not None:
        _enforce_rate_limit(request, principal)
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def principal_of(request: Request) -> Principal | None:
    """The principal already authenticated for this request (e.g. for logging), if any."""
    return getattr(request.state, "principal", None)
