"""The browser workspace's plumbing: who is signed in (session cookie), CSRF, and page rendering.

Staff sign in with a password and carry a session cookie; firms and scripts carry an API key. The
two never stand in for each other: :func:`require_staff` refuses any request that sends an
``Authorization`` header (a key cannot open the workspace), and the API's own dependencies
(``app.auth.require_roles``) read only the ``Authorization`` header, so a session cookie opens no
key-only endpoint. Every state-changing workspace request must carry the session's CSRF token, in
the form field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it; see
``static/js/workspace/csrf.js``); without it the answer is 403. The sign-in form itself, before any
session exists, is protected by a double-submit token: a random cookie (:data:`LOGIN_CSRF_COOKIE`)
the form must repeat.

Pages are Jinja2 templates in ``app/templates``; ``_``/``ngettext`` in them are
:mod:`planning.i18n`'s, so a page speaks the request's language like the rest of the app.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.auth import SAFE_METHODS
from app.errors import Problem, problem_response
from geodata.store import staff
from geodata.store.db import transaction
from planning import i18n
from planning.i18n import N_

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "btsplan_session"
#: The sign-in form's double-submit token (no "session" in its name: it opens nothing).
LOGIN_CSRF_COOKIE = "btsplan_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

templates = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(("html", "svg")),
                        trim_blocks=True, lstrip_blocks=True)
templates.globals.update(_=i18n.gettext, ngettext=i18n.ngettext, label=i18n.label)


class SignInRequired(Exception):
    """No live staff session: a page read is sent to the sign-in form, anything else gets 401."""


def secure_cookies(request: Request) -> bool:
    """``Secure`` cookies when the public address is https (behind a TLS proxy the app itself sees http)."""
    public = request.app.state.settings.public_url or ""
    return public.lower().startswith("https://") or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, path="/", httponly=True, samesite="lax",
                        secure=secure_cookies(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))


def current_staff(request: Request) -> staff.StaffPrincipal | None:
    """The signed-in staff member of this request (looked up once), or ``None``."""
    if "staff" in request.scope.get("state", {}):
        return request.state.staff
    token = request.cookies.get(SESSION_COOKIE, "")
    who = None
    if token:
        settings = request.app.state.settings
        with transaction(request.app.state.engine) as session:
            who = staff.session_principal(session, token, settings.session_idle_minutes)
    request.state.staff = who
    return who


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _csrf_refused() -> Problem:
    return Problem(403, N_("CSRF token missing or wrong"),
                   N_("reload the page and try again: the form's security token is missing or has expired"))


async def check_csrf(request: Request, expected: str) -> None:
    """403 unless the request repeats ``expected`` (form field or header)."""
    if not _same(await _sent_token(request), expected):
        raise _csrf_refused()


def require_staff(*roles: str) -> Callable[..., Any]:
    """Dependency: a live staff session with one of ``roles``; on writes, also the session's CSRF token.

    An ``Authorization`` header is refused (403): keys are for the API, never for the workspace."""
    unknown = set(roles) - set(staff.STAFF_ROLES)
    if unknown or not roles:
        raise ValueError(f"require_staff needs roles from {staff.STAFF_ROLES}, got {roles}")
    allowed = frozenset(roles)

    async def dependency(request: Request) -> staff.StaffPrincipal:
        if request.headers.get("authorization") is not None:
            raise Problem(403, N_("Forbidden"), N_("API keys cannot open the workspace; sign in at /auth/login"))
        who = current_staff(request)
        if who is None:
            raise SignInRequired()
        if request.method not in SAFE_METHODS:
            await check_csrf(request, who.csrf_token)
        if who.role not in allowed:
            raise Problem(403, N_("Forbidden"), i18n.gettext("your role ({role}) may not open this page",
                                                             role=who.role))
        return who

    dependency.__name__ = f"staff_{'_'.join(sorted(allowed))}"
    return dependency


def login_csrf(request: Request) -> tuple[str, bool]:
    """The sign-in form's token, and whether it is new (then the response must set its cookie)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if 20 <= len(token) <= 100:
        return token, False
    return secrets.token_urlsafe(32), True


def set_login_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/auth", httponly=True, samesite="strict",
                        secure=secure_cookies(request))


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, status_code: int = 200,
           who: staff.StaffPrincipal | None = None) -> HTMLResponse:
    """A page in the request's language; never stored by a cache (it is one person's view)."""
    who = who or (current_staff(request) if request.cookies.get(SESSION_COOKIE) else None)
    html = templates.get_template(template).render(
        request=request, who=who, csrf=who.csrf_token if who else "", lang=str(i18n.get_language()),
        path=request.url.path, **(context or {}))
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
    if request.method in SAFE_METHODS and request.headers.get("hx-request") is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", status_code=303,
                                headers={"Cache-Control": "no-store"})
    return problem_response(401, N_("Unauthorized"), N_("sign in at /auth/login first"), request.url.path,
                            headers={"HX-Redirect": "/auth/login"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]
