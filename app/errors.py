"""RFC 9457 problem+json for every error the API returns.

Domain refusals (:mod:`geodata.errors`) reach HTTP in one place: :data:`KINDS` gives each kind
its status and title, and one handler renders any of them, so routers never catch and translate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geodata.store.migrate import NotMigrated, require_current
from geodata.errors import (
    BtsplanError,
    Conflict,
    Forbidden,
    InvalidField,
    InvalidParameter,
    NotFound,
    StaleVersion,
    TooLarge,
    Unavailable,
    UnsupportedType,
)
from planning.i18n import N_, _, gettext

PROBLEM = "application/problem+json"
#: Seconds a client should wait before retrying a 503 (the database or a query was too slow).
RETRY_AFTER_S = "5"

#: Each kind of refusal → (HTTP status, default title). A subclass without a row answers as the
#: nearest kind above it; the base row catches a refusal raised without a kind.
KINDS: dict[type[BtsplanError], tuple[int, str]] = {
    BtsplanError: (400, N_("Bad request")),
    InvalidField: (422, N_("Invalid request")),
    InvalidParameter: (400, N_("Invalid query parameter")),
    UnsupportedType: (415, N_("Unsupported media type")),
    NotFound: (404, N_("Not found")),
    Conflict: (409, N_("Conflict")),
    StaleVersion: (409, N_("Version conflict")),
    Forbidden: (403, N_("Forbidden")),
    TooLarge: (413, N_("Too large")),
    Unavailable: (503, N_("Service unavailable")),
}


class Problem(Exception):
    """Raise anywhere in a request to answer with problem+json."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = headers


V = TypeVar("V")


def one_of(table: Mapping[str, V], key: str, title: str, detail: str) -> V:
    """``table[key]``, else a 404 problem saying what is offered (``detail`` names what was asked)."""
    if key not in table:
        raise Problem(404, title, _("{detail}; offered: {table}", detail=detail, table=', '.join(table)))
    return table[key]


def problem_response(status: int, title: str, detail: str | None = None, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The problem in the request's language: titles (and fixed details) are English msgids marked
    where they are written, translated here, so no raise site has to; a detail already translated
    where it was raised (``_("…", field=…)``) or built from data passes through unchanged."""
    body: dict[str, Any] = {"type": "about:blank", "title": gettext(title), "status": status}
    if detail:
        body["detail"] = gettext(detail)
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _not_migrated(request: Request, exc: DBAPIError) -> JSONResponse | None:
    """A missing table (SpatiaLite's "no such table", PostgreSQL's UndefinedTable) on a database without
    its schema: answer what fixes it, `btsplan db upgrade`, rather than "retry shortly" or a 500."""
    if "no such table" not in str(exc.orig) and type(exc.orig).__name__ != "UndefinedTable":
        return None
    try:
        require_current(request.app.state.engine)
    except NotMigrated as why:
        return problem_response(503, N_("Database not migrated"), str(why), str(request.url.path))
    return None


@lru_cache(maxsize=8)
def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    out = []
    for template, item in app.openapi().get("paths", {}).items():
        rx = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
        methods = tuple(sorted(m.upper() for m in item if m in
                               ("get", "put", "post", "delete", "patch", "head", "options")))
        out.append((rx, methods))
    return out


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for rx, ms in _path_methods(app):
        if rx.match(path):
            methods.update(ms)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def status_and_title(exc: BtsplanError) -> tuple[int, str]:
    """The nearest kind's status, and the error's own title when it has one, else the kind's."""
    status, title = next(KINDS[k] for k in type(exc).__mro__ if k in KINDS)
    return status, exc.title or title


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, str(request.url.path), headers=exc.headers,
                                **exc.extra)

    @app.exception_handler(BtsplanError)
    async def _refused(request: Request, exc: BtsplanError) -> JSONResponse:
        status, title = status_and_title(exc)
        members = {"field": exc.field, **exc.members} if exc.field else exc.members
        return problem_response(status, title, exc.detail, str(request.url.path),
                                headers={"Retry-After": RETRY_AFTER_S} if status == 503 else None, **members)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # routers are matched one by one, so Starlette's Allow lists only the first route's
            # methods; the OpenAPI paths know every method of the resource
            allowed = allowed_methods(request.app, request.url.path)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem_response(exc.status_code, title, None, str(request.url.path), headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "?", "message": N_("invalid request")}
        return problem_response(422, N_("Invalid request"), f"{first['field']}: {first['message']}",
                                str(request.url.path), errors=errors)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        if (unmigrated := _not_migrated(request, exc)) is not None:
            return unmigrated
        return problem_response(503, N_("Database unavailable"), N_("the database did not answer; retry shortly"),
                                str(request.url.path), headers={"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot hold (NUL characters, out-of-range numbers): the client's input
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return problem_response(400, N_("Invalid value"), msg, str(request.url.path))

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if (unmigrated := _not_migrated(request, exc)) is not None:
            return unmigrated
        if exc.connection_invalidated:
            return problem_response(503, N_("Database unavailable"), N_("the database connection was lost; retry"),
                                    str(request.url.path), headers={"Retry-After": RETRY_AFTER_S})
        if "statement timeout" in str(exc.orig) or "canceling statement" in str(exc.orig):
            return problem_response(503, N_("Query took too long"), N_("the query hit the statement timeout"),
                                    str(request.url.path), headers={"Retry-After": RETRY_AFTER_S})
        return problem_response(500, N_("Database error"), None, str(request.url.path))

    _ = HTTPException  # re-exported type for routers
