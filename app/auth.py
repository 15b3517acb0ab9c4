"""Who is calling (API keys to principals), roles and the per-key write rate limit.

The keys themselves (format, hashing, creation, revocation, lookup) are stored by
:mod:`geodata.store.keys`; this module turns a presented key into a :class:`Principal`.

Roles: ``admin`` (keys, audit), ``planner`` (department staff who appraise and decide),
``inspector`` (inspection campaigns), ``operator`` (a telecom firm; bound to exactly one operator
code). Every endpoint declares the roles it allows with one of the aliases at the end of this module,
named after who is allowed (:data:`PlannerOnly`, :data:`PlannerOrAdmin`…), so the same word never
grants different roles in different routers; there is no implicit super-role. Public endpoints use
:data:`OptionalPrincipal` so a key, when sent, is still checked (a wrong key is 401, never silently
anonymous).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from app.errors import Problem
from geodata.store import keys
from planning.vocab import ROLES

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer btsp_…`")
#: The same scheme for endpoints where a key is optional; its own name lets ``app.openapi`` document
#: those operations as "anonymous or bearer" (``security: [{}, {...}]``).
_optional_bearer = HTTPBearer(auto_error=False, scheme_name="OptionalBearer",
                              description="Optional API key: `Authorization: Bearer btsp_…`")


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
# request authentication
# --------------------------------------------------------------------------------------------

def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="btsplan"'})


def lookup_key(engine: Engine, key: str) -> Principal | None:
    """The principal for a presented key, or ``None`` when it is unknown, malformed or revoked."""
    record = keys.lookup_key(engine, key)
    return None if record is None else Principal(record.id, record.role, record.operator, record.name)


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

# Who may call an endpoint: one alias per set of roles, named after exactly that set.
AdminOnly = Annotated[Principal, Depends(require_roles("admin"))]
PlannerOnly = Annotated[Principal, Depends(require_roles("planner"))]
OperatorOnly = Annotated[Principal, Depends(require_roles("operator"))]
PlannerOrAdmin = Annotated[Principal, Depends(require_roles("planner", "admin"))]
InspectorOrPlanner = Annotated[Principal, Depends(require_roles("inspector", "planner"))]
#: Department staff: every role but ``operator`` (see :attr:`Principal.is_staff`).
AnyStaff = Annotated[Principal, Depends(require_roles("planner", "inspector", "admin"))]
PlannerAdminOrOperator = Annotated[Principal, Depends(require_roles("planner", "admin", "operator"))]
#: Any valid key, whatever its role.
AnyKey = Annotated[Principal, Depends(require_roles(*ROLES))]

