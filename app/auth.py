"""Who is calling (API keys to principals), roles and the rate limits (shared by every worker).

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

import ipaddress
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, get_args

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from app.errors import Problem
from geodata.store import keys
from geodata.store.ratelimit import Limit, TokenBuckets
from planning.vocab import ROLES
from planning.i18n import N_, _

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
    return Problem(401, N_("Unauthorized"), detail, headers={"WWW-Authenticate": 'Bearer realm="btsplan"'})


def lookup_key(engine: Engine, key: str) -> Principal | None:
    """The principal for a presented key, or ``None`` when it is unknown, malformed or revoked."""
    record = keys.lookup_key(engine, key)
    return None if record is None else Principal(record.id, record.role, record.operator, record.name)


def principal_from_header(engine: Engine, header: str) -> Principal:
    """The principal of an ``Authorization`` header; 401 unless it is ``Bearer`` and a live key."""
    scheme, _sep, key = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized(_("use `Authorization: Bearer <api key>`"))
    principal = lookup_key(engine, key.strip())
    if principal is None:
        raise _unauthorized(_("the API key is unknown or revoked"))
    return principal


def check_role(principal: Principal | None, allowed: frozenset[str]) -> Principal:
    """``principal`` when its role is one of ``allowed``; 401 without a key, 403 with another role."""
    if principal is None:
        raise _unauthorized(_("this endpoint needs an API key: `Authorization: Bearer <api key>`"))
    if principal.role not in allowed:
        raise Problem(403, N_("Forbidden"), _("role {role!r} may not do this; allowed: {values}",
                                              role=principal.role, values=', '.join(sorted(allowed))))
    return principal


def _authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The caller, as :class:`app.gate.Gate` already found it (before the body was read); looked up
    here only for an app assembled without the gate."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = request.state.principal = principal_from_header(request.app.state.engine, header)
    return principal


# --------------------------------------------------------------------------------------------
# rate limits
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateLimits:
    """The buckets every worker shares (in the database) and the three limits taken from them."""

    buckets: TokenBuckets
    writes: Limit
    anonymous_writes: Limit
    expensive_reads: Limit


_limits_lock = threading.Lock()


def rate_limits(request: Request) -> RateLimits:
    """The app's limits, built from its settings on first use."""
    state = request.app.state
    with _limits_lock:
        limits = getattr(state, "rate_limits", None)
        if limits is None:
            s = state.settings
            writes = Limit(s.write_rate_per_minute, s.write_burst)
            anonymous = Limit(s.anonymous_write_rate_per_minute, s.anonymous_write_burst)
            reads = Limit(s.expensive_read_rate_per_minute, s.expensive_read_burst)
            buckets = TokenBuckets(state.engine, (writes, anonymous, reads))
            limits = state.rate_limits = RateLimits(buckets, writes, anonymous, reads)
    return limits


def client_address(request: Request) -> str:
    """Who an anonymous caller is, for its buckets: the address uvicorn reports (behind nginx, the one
    in ``X-Forwarded-For``, trusted from ``FORWARDED_ALLOW_IPS`` only). An IPv6 client holds a whole
    /64, so the /64 is one caller; an IPv4-mapped address is its IPv4 one."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _take(request: Request, bucket: str, limit: Limit, what: str) -> None:
    wait = rate_limits(request).buckets.take(bucket, limit)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise Problem(429, N_("Too many requests"), _("{what}; retry in {retry} s",
                                                      what=what,
                                                      retry=retry), headers={"Retry-After": str(retry)})


def _enforce_rate_limit(request: Request, principal: Principal | None) -> None:
    """Writes only: per key, or per client address when anonymous (``POST /checks/site``)."""
    if request.method in SAFE_METHODS:
        return
    limits = rate_limits(request)
    if principal is None:
        _take(request, f"write:ip:{client_address(request)}", limits.anonymous_writes,
              _("anonymous write rate limit for this address"))
    else:
        _take(request, f"write:key:{principal.key_id}", limits.writes, _("write rate limit for this API key"))


def _expensive_read(dependency: Callable[..., Principal | None]) -> Callable[..., Principal | None]:
    """``dependency``'s principal, after one token of the caller's expensive-read bucket (its key's, else
    its address's). Authentication comes first, so a key is metered as itself and a bad key costs nothing."""

    def metered(request: Request, who: Principal | None = Depends(dependency)) -> Principal | None:
        bucket = f"read:key:{who.key_id}" if who is not None else f"read:ip:{client_address(request)}"
        _take(request, bucket, rate_limits(request).expensive_reads, _("expensive-read rate limit (reports, "
                                                                       "exports)"))
        return who

    metered.__name__ = f"expensive_read_{dependency.__name__}"
    return metered


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
        principal = check_role(_authenticate(request, creds), allowed)
        _enforce_rate_limit(request, principal)
        return principal

    dependency.__name__ = f"require_{'_'.join(sorted(allowed))}"
    dependency.roles = allowed  # type: ignore[attr-defined]  # read by app.gate to refuse before the body
    return dependency


def optional_principal(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)]
                       ) -> Principal | None:
    """For public endpoints: ``None`` when no key is sent; a sent key must be valid (else 401). Anonymous
    writes are limited per client address."""
    principal = _authenticate(request, creds)
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

# The same callers for reads that cost far more than a page of features (plan reports, exports): each
# takes a token of the expensive-read limit. Tiles, feature pages and the rest stay unmetered, so a
# cheap read never becomes a database write.
AnyKeyExpensiveRead = Annotated[Principal, Depends(_expensive_read(get_args(AnyKey)[1].dependency))]
OptionalPrincipalExpensiveRead = Annotated[Principal | None, Depends(_expensive_read(optional_principal))]

