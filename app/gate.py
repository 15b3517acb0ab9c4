"""What every request passes before any route runs: who is calling, how big its body may be, how deep
its JSON may nest — and which answers must never be stored by a cache.

FastAPI reads a request's body (and spools multipart files to disk) *before* it resolves the
dependencies that check the key, so a check made by a dependency comes after the work it should
prevent. :class:`Gate` is a pure ASGI middleware in front of the routes that answers from the request
line and headers alone, without reading a byte of the body:

1. any ``Authorization`` header is checked (a wrong or revoked key is 401 on every route, public ones
   included: a client with a broken key must learn it, not be served as anonymous);
2. a route that needs a role (one declared with :func:`app.auth.require_roles`) gets 401/403 when the
   caller lacks it;
3. a body declared larger than the route's cap (:data:`ROUTE_CAPS`, else ``max_body_bytes``) is 413.

Then the body is counted as it streams (a chunked body is cut off with 413 once past the cap), and a
JSON body is read (at most the cap) and refused with 400 when it nests deeper than
:data:`MAX_JSON_DEPTH`, before anything parses it recursively. The route's own dependencies still
check the key and role: the gate only answers earlier, and hands them the principal it looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

import anyio
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import SAFE_METHODS, Principal, check_role, principal_from_header
from app.errors import RETRY_AFTER_S, Problem, problem_response
from geodata.settings import Settings
from planning.i18n import N_, _

#: Deepest nesting of arrays and objects a JSON body may have. A plan's deepest value, a MultiPolygon
#: coordinate, sits 8 levels down; Python's parsers and encoders recurse once per level and fail
#: (RecursionError, a 500) near 1,000.
MAX_JSON_DEPTH = 32
#: Multipart framing (boundaries, part headers) allowed on top of the photo itself.
MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True)
class Cap:
    """A route class's body limit: the setting that holds it, slack on top, and how a 413 is worded."""

    setting: str
    title: str
    hint: str = ""
    slack: int = 0

    def limit(self, settings: Settings) -> int:
        return int(getattr(settings, self.setting)) + self.slack


#: (method, route path) → cap; every other route gets :data:`DEFAULT_CAP`.
ROUTE_CAPS: dict[tuple[str, str], Cap] = {
    ("POST", "/plans"): Cap("max_plan_bytes", "Plan too large", " — split the plan"),
    ("PUT", "/plans/{plan_id}"): Cap("max_plan_bytes", "Plan too large", " — split the plan"),
    ("POST", "/inspections/{inspection_id}/photos"): Cap("max_photo_bytes", "Photo too large",
                                                        slack=MULTIPART_SLACK),
    # the inspector workspace: a photo from the phone's queue, and the plain form's result with its photo
    ("POST", "/workspace/inspections/results/{inspection_id}/photos"): Cap("max_photo_bytes", "Photo too large",
                                                                          slack=MULTIPART_SLACK),
    ("POST", "/workspace/inspections/{campaign_id}/results"): Cap("max_photo_bytes", "Photo too large",
                                                                 slack=MULTIPART_SLACK),
}
DEFAULT_CAP = Cap("max_body_bytes", "Request body too large")


class BodyTooLarge(Problem, StarletteHTTPException):
    """413 raised from ``receive`` once a streamed body passes its cap. It is also an HTTPException
    because FastAPI turns any other exception raised while it parses a body into a 400; the
    :class:`Problem` handler renders it."""

    def __init__(self, cap: Cap, limit: int, size: int | None = None) -> None:
        said = f"the body is {size:,} bytes" if size is not None else "the body exceeds the limit"
        Problem.__init__(self, 413, cap.title, f"{said}; at most {limit:,} bytes are accepted{cap.hint}",
                         headers={"Connection": "close"}, limit_bytes=limit)
        self.status_code = 413


# --------------------------------------------------------------------------------------------
# routes: which need a role, which cap applies
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RouteRule:
    route: APIRoute
    roles: frozenset[str] | None
    cap: Cap


def required_roles(dependant: Dependant) -> frozenset[str] | None:
    """The roles a route's dependencies require (``require_roles`` marks its dependency), or ``None``."""
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return frozenset(roles)
        inner = required_roles(dep)
        if inner is not None:
            return inner
    return None


class RouteTable:
    """The app's API routes in routing order, so the gate finds the route that will answer."""

    def __init__(self, routes: Iterable[APIRoute]) -> None:
        self.rules = [RouteRule(r, required_roles(r.dependant), self._cap(r)) for r in routes]

    @staticmethod
    def _cap(route: APIRoute) -> Cap:
        caps = [ROUTE_CAPS[(m, route.path)] for m in route.methods if (m, route.path) in ROUTE_CAPS]
        return caps[0] if caps else DEFAULT_CAP

    def find(self, method: str, path: str) -> RouteRule | None:
        method = "GET" if method == "HEAD" else method
        for rule in self.rules:
            if method in rule.route.methods and rule.route.path_regex.match(path):
                return rule
        return None


# --------------------------------------------------------------------------------------------
# JSON depth
# --------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: byte → change of nesting depth
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


def json_depth(raw: bytes) -> int:
    """How deep the JSON text ``raw`` nests arrays and objects, without parsing it: strings are
    dropped and only brackets kept (regular expression and ``bytes.translate``), then the running
    depth is summed by C iterators — about 15 ms per MB, a seventh of ``json.loads``."""
    skeleton = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def _is_json(headers: Headers) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# --------------------------------------------------------------------------------------------
# the middleware
# --------------------------------------------------------------------------------------------

def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def _has_body(headers: Headers) -> bool:
    return bool(_declared_length(headers)) or "chunked" in headers.get("transfer-encoding", "").lower()


def _cacheable(scope: Scope, principal: Principal | None) -> bool:
    """Only anonymous reads may be stored by a cache; tiles are public whoever asks."""
    if scope["path"].startswith("/tiles/"):
        return True
    return principal is None and scope["method"] in SAFE_METHODS


class Gate:
    """Pure ASGI (no ``BaseHTTPMiddleware``): the body is never buffered here except a JSON one, at
    most its route's cap, for the depth check."""

    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute]) -> None:
        self.app = app
        self.table = RouteTable(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        app_state = scope["app"].state
        rule = self.table.find(scope["method"], scope["path"])
        cap = rule.cap if rule is not None else DEFAULT_CAP
        limit = cap.limit(app_state.settings)
        principal: Principal | None = None
        try:
            principal = await self._principal(app_state.engine, headers)
            if rule is not None and rule.roles is not None:
                check_role(principal, rule.roles)
            declared = _declared_length(headers)
            if declared is not None and declared > limit:
                raise BodyTooLarge(cap, limit, declared)
        except Problem as refused:
            await self._refuse(refused, scope, receive, _no_store(send, scope, principal), headers)
            return
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal  # read by app.auth, no second lookup
        send = _no_store(send, scope, principal)
        receive = _counted(receive, cap, limit)
        if _is_json(headers) and _has_body(headers):
            try:
                receive = await _checked_json(receive)
            except Problem as refused:  # too large or too deep, before anything parsed it
                await self._refuse(refused, scope, receive, send, headers)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _principal(engine: object, headers: Headers) -> Principal | None:
        header = headers.get("authorization")
        if header is None:
            return None
        try:
            return await anyio.to_thread.run_sync(principal_from_header, engine, header)
        except DBAPIError:  # outside the app's handlers here: answer as they would, not with a 500
            raise Problem(503, N_("Database unavailable"), N_("the database did not answer; retry shortly"),
                          headers={"Retry-After": RETRY_AFTER_S}) from None

    @staticmethod
    async def _refuse(refused: Problem, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        extra = dict(refused.headers or {})
        if _has_body(headers):
            extra["Connection"] = "close"  # the unread body is not worth receiving
        response = problem_response(refused.status, refused.title, refused.detail, scope["path"],
                                    headers=extra or None, **refused.extra)
        await response(scope, receive, send)


def _no_store(send: Send, scope: Scope, principal: Principal | None) -> Send:
    """``send`` that marks a confidential answer ``Cache-Control: no-store`` (whatever the route said)."""
    if _cacheable(scope, principal):
        return send

    async def send_no_store(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)["cache-control"] = "no-store"
        await send(message)

    return send_no_store


def _counted(receive: Receive, cap: Cap, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once the body streamed so far passes ``limit``."""
    size = 0

    async def receive_counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(cap, limit)
        return message

    return receive_counted


async def _checked_json(receive: Receive) -> Receive:
    """Read the whole (capped) JSON body, refuse it when too deep, and replay it to the app."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the app sees it
            return _replay(message, receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Problem(400, N_("JSON nested too deeply"),
                      _("arrays and objects may nest at most {max_json_depth} levels deep",
                        max_json_depth=MAX_JSON_DEPTH))
    return _replay({"type": "http.request", "body": body, "more_body": False}, receive)


def _replay(first: Message, receive: Receive) -> Receive:
    """``receive`` that returns ``first``, then whatever ``receive`` returns."""
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
