"""Staff sign-in for the browser workspace: ``/auth/login``, ``/auth/logout``, ``/auth/password``.

Sign-in attempts are limited per client address (the shared token buckets of ``app.auth``) and per
account (``geodata.store.staff`` locks it after repeated failures); each attempt is in the audit log.
The answer to a wrong password never says whether the username exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import client_address, rate_limits
from app.errors import Problem
from app.web import (LOGIN_CSRF_COOKIE, check_csrf, clear_session_cookie, current_staff, login_csrf, render,
                     require_staff, set_login_csrf_cookie, set_session_cookie)
from geodata.store import staff
from geodata.store.db import transaction
from planning import i18n
from planning.i18n import N_

router = APIRouter(prefix="/auth", include_in_schema=False)
AnyStaffSession = Annotated[staff.StaffPrincipal, Depends(require_staff(*staff.STAFF_ROLES))]


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a URL): an open redirect would help phishing."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/workspace/"


def _login_page(request: Request, error: str | None = None, status_code: int = 200, next_: str | None = None,
                username: str = "") -> Response:
    token, new = login_csrf(request)
    response = render(request, "auth/login.html", {"login_csrf": token, "error": error, "next": _safe_next(next_),
                                                   "username": username}, status_code=status_code)
    if new:
        set_login_csrf_cookie(response, request, token)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if current_staff(request) is not None and request.headers.get("authorization") is None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_=next)


@router.post("/login")
async def login(request: Request, username: Annotated[str, Form(max_length=200)],
                password: Annotated[str, Form(max_length=1024)], next: Annotated[str | None, Form()] = None
                ) -> Response:
    await check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    address = client_address(request)
    limits = rate_limits(request)
    wait = limits.buckets.take(f"signin:ip:{address}", limits.anonymous_writes)
    if wait > 0:
        raise Problem(429, N_("Too many requests"), N_("too many sign-in attempts from this address; wait a minute"),
                      headers={"Retry-After": str(max(1, int(wait) + 1))})
    settings = request.app.state.settings
    failure: staff.SignInRefused | None = None
    with transaction(request.app.state.engine) as session:  # a refused attempt is committed too (lockout)
        try:
            done = staff.sign_in(session, username, password, address, session_hours=settings.session_hours,
                                 max_failures=settings.signin_max_failures,
                                 lockout_minutes=settings.signin_lockout_minutes)
        except staff.SignInRefused as refused:
            failure = refused
    if failure is not None:
        error = (i18n.gettext("Too many failed sign-ins: this account is locked for {minutes:g} minutes.",
                              minutes=settings.signin_lockout_minutes) if failure.locked
                 else i18n.gettext("Wrong username or password."))
        return _login_page(request, error, 401, next, username=username[:64])
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, done.token, int(settings.session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/auth")
    return response


@router.post("/logout")
async def logout(request: Request, who: AnyStaffSession) -> Response:
    with transaction(request.app.state.engine) as session:
        staff.sign_out(session, who)
    response = RedirectResponse("/auth/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/password")
def password_form(request: Request, who: AnyStaffSession) -> Response:
    return render(request, "auth/password.html", {}, who=who)


@router.post("/password")
async def change_password(request: Request, who: AnyStaffSession,
                          current_password: Annotated[str, Form(max_length=1024)],
                          new_password: Annotated[str, Form(max_length=1024)],
                          repeat_password: Annotated[str, Form(max_length=1024)]) -> Response:
    if new_password != repeat_password:
        return render(request, "auth/password.html", {"error": i18n.gettext("The two new passwords differ.")},
                      status_code=400, who=who)
    try:
        with transaction(request.app.state.engine) as session:
            staff.change_password(session, who, current_password, new_password)
    except staff.AccountError as refused:
        return render(request, "auth/password.html", {"error": str(refused)}, status_code=400, who=who)
    return render(request, "auth/password.html", {"done": True}, who=who)
