"""The admin's workspace pages: staff accounts (create, disable, enable, reset a password) and API keys
(create — the secret is shown once, on the page that answers the form — and revoke).

The same store functions as ``btsplan users`` and ``btsplan keys`` do the work, so the rules and the
audit entries are the same; the actor recorded is the signed-in admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from app.web import render, require_staff
from geodata.errors import InvalidField, NotFound
from geodata.store import keys, staff
from geodata.store.db import transaction
from geodata.store.models import Operator
from planning import i18n
from planning.vocab import ROLES
from planning.i18n import _

router = APIRouter(prefix="/workspace/admin", include_in_schema=False)
Admin = Annotated[staff.StaffPrincipal, Depends(require_staff("admin"))]


def _users_page(request: Request, who: staff.StaffPrincipal, status_code: int = 200, **extra: Any) -> Response:
    with transaction(request.app.state.engine) as session:
        users = staff.list_users(session)
    return render(request, "workspace/admin_users.html", {"users": users, "roles": staff.STAFF_ROLES, **extra},
                  status_code=status_code, who=who)


@router.get("/users")
def users_page(request: Request, who: Admin) -> Response:
    return _users_page(request, who)


@router.post("/users")
async def create_user(request: Request, who: Admin, username: Annotated[str, Form(max_length=64)],
                      role: Annotated[str, Form(max_length=20)], password: Annotated[str, Form(max_length=1024)],
                      name: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            staff.create_user(session, username, role, password, name or None, actor=who.actor)
    except InvalidField as refused:
        return _users_page(request, who, 400, error=str(refused))
    return _users_page(request, who, 201, done=i18n.gettext("Account {username} created.", username=username))


@router.post("/users/{username}/{action}")
async def user_action(request: Request, who: Admin, username: str, action: str,
                      password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    """``disable`` / ``enable`` an account, or set its ``password``."""
    try:
        with transaction(request.app.state.engine) as session:
            if action in ("disable", "enable"):
                if action == "disable" and username == who.username:
                    raise staff.AccountError(_("you cannot disable your own account"), "username")
                staff.set_disabled(session, username, action == "disable", actor=who.actor)
            elif action == "password":
                staff.set_password(session, username, password, actor=who.actor)
            else:
                raise NotFound(_("no account action {action!r}", action=action))
    except (InvalidField, NotFound) as refused:
        return _users_page(request, who, 400, error=str(refused))
    return RedirectResponse("/workspace/admin/users", status_code=303)


def _keys_page(request: Request, who: staff.StaffPrincipal, status_code: int = 200, **extra: Any) -> Response:
    with transaction(request.app.state.engine) as session:
        rows = keys.list_keys(session)
        operators = list(session.execute(select(Operator.code, Operator.name).order_by(Operator.code)))
    return render(request, "workspace/admin_keys.html", {"keys": rows, "roles": ROLES, "operators": operators,
                                                         **extra}, status_code=status_code, who=who)


@router.get("/keys")
def keys_page(request: Request, who: Admin) -> Response:
    return _keys_page(request, who)


@router.post("/keys")
async def create_key(request: Request, who: Admin, role: Annotated[str, Form(max_length=20)],
                     operator: Annotated[str, Form(max_length=20)] = "",
                     name: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A new key; its secret is on this answer only (never stored, never shown again)."""
    try:
        with transaction(request.app.state.engine) as session:
            new = keys.create_key(session, role, operator or None, name or None, actor=who.actor)
    except InvalidField as refused:
        return _keys_page(request, who, 400, error=str(refused))
    return _keys_page(request, who, 201, created=new)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, who: Admin, key_id: int) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            keys.revoke_key(session, key_id, actor=who.actor)
    except InvalidField as refused:
        return _keys_page(request, who, 400, error=str(refused))
    return RedirectResponse("/workspace/admin/keys", status_code=303)
