"""Department staff accounts and their browser sessions: creation, passwords, sign-in with lockout.

Staff are not API users: they sign in with a username and password and get a session cookie, and
the two credentials never stand in for each other (``app/web.py`` keeps them apart). Passwords are
hashed with Argon2id (``argon2-cffi``, its default parameters), a deliberately slow hash because a
password, unlike a 256-bit API key, can be guessed. A session's cookie is 256 random bits, so its
SHA-256 digest is enough to store: the cookie is found by one indexed lookup and a copy of the table
opens nothing. Expiry (absolute and idle) and revocation are decided here, on the server, whatever
the browser keeps. Each sign-in attempt is recorded; ``max_failures`` failures in a row within the
lockout window lock the account for that window, whichever password comes next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geodata.errors import InvalidField, NotFound
from geodata.store import audit
from geodata.store.models import SignInAttempt, StaffSession, StaffUser, utcnow
from planning.vocab import ROLES
from planning.i18n import _

#: Roles a staff account may hold: every role but a firm's.
STAFF_ROLES: tuple[str, ...] = tuple(r for r in ROLES if r != "operator")
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so an unknown name takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(InvalidField):
    """A staff-account request that cannot be honoured (bad username, role or password; unknown user)."""


@dataclass(frozen=True)
class StaffPrincipal:
    """Who a browser session belongs to; ``actor`` is what the audit log records."""

    user_id: int
    username: str
    name: str | None
    role: str
    session_id: int
    csrf_token: str

    @property
    def actor(self) -> str:
        return f"{self.username} (staff {self.user_id})"


def staff_actor(row: StaffUser) -> str:
    return f"{row.username} (staff {row.id})"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("a password needs at least {min_password_length} characters",
                             min_password_length=MIN_PASSWORD_LENGTH), "password")
    if len(password) > 1024:
        raise AccountError(_("a password may have at most 1024 characters"), "password")
    return password


def _public(row: StaffUser) -> dict[str, Any]:
    """Everything about an account except its password hash."""
    return {"id": row.id, "username": row.username, "name": row.name, "role": row.role,
            "created_at": row.created_at, "disabled_at": row.disabled_at, "locked_until": row.locked_until,
            "password_changed_at": row.password_changed_at}


# --------------------------------------------------------------------------------------------
# accounts (CLI and the admin pages)
# --------------------------------------------------------------------------------------------

def get_user(session: Session, username: str) -> StaffUser:
    row = session.execute(select(StaffUser).where(StaffUser.username == username.strip().lower())).scalar_one_or_none()
    if row is None:
        raise NotFound(_("no staff account {username!r}", username=username))
    return row


def create_user(session: Session, username: str, role: str, password: str, name: str | None = None,
                actor: str = "cli") -> dict[str, Any]:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise AccountError(_("a username is 2-64 characters: lower-case letters, digits, '.', '_' or '-'"), "username")
    if role not in STAFF_ROLES:
        raise AccountError(_("unknown staff role {role!r}; choose one of {staff_roles}",
                             role=role, staff_roles=', '.join(STAFF_ROLES)), "role")
    if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first() is not None:
        raise AccountError(_("the username {username!r} is taken", username=username), "username")
    row = StaffUser(username=username, role=role, name=(name or "").strip() or None,
                    password_hash=hash_password(_check_password(password)))
    session.add(row)
    session.flush()
    audit.record(session, actor, "create", "staff_user", row.id, None, _public(row))
    return _public(row)


def list_users(session: Session) -> list[dict[str, Any]]:
    return [_public(r) for r in session.execute(select(StaffUser).order_by(StaffUser.username)).scalars()]


def set_disabled(session: Session, username: str, disabled: bool, actor: str = "cli") -> dict[str, Any]:
    """Disable (every session of the account ends at once) or enable an account."""
    row = get_user(session, username)
    before = _public(row)
    row.disabled_at = utcnow() if disabled else None
    if disabled:
        revoke_sessions(session, row.id)
    else:
        row.locked_until = None
    session.flush()
    audit.record(session, actor, "disable" if disabled else "enable", "staff_user", row.id, before, _public(row))
    return _public(row)


def set_password(session: Session, username: str, password: str, actor: str = "cli",
                 keep_session: int | None = None) -> None:
    """A new password ends every other session of the account (``keep_session``: the one changing it)."""
    row = get_user(session, username)
    row.password_hash = hash_password(_check_password(password))
    row.password_changed_at = utcnow()
    row.locked_until = None
    revoke_sessions(session, row.id, keep=keep_session)
    session.flush()
    audit.record(session, actor, "set_password", "staff_user", row.id, None, {"username": row.username})


def change_password(session: Session, who: StaffPrincipal, current: str, new: str) -> None:
    """The signed-in user's own change: the current password is asked again."""
    row = session.get(StaffUser, who.user_id)
    if row is None or not _verify(row.password_hash, current):
        raise AccountError(_("the current password is wrong"), "current_password")
    set_password(session, row.username, new, actor=who.actor, keep_session=who.session_id)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# --------------------------------------------------------------------------------------------
# sign-in and sessions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the cookie's secret (never stored) and the session it opens."""

    token: str
    principal: StaffPrincipal
    expires_at: dt.datetime


class SignInRefused(Exception):
    """Wrong username or password, a disabled account, or a locked one. ``locked`` tells the two
    apart for the message; the wording never says whether the username exists."""

    def __init__(self, locked: bool) -> None:
        super().__init__("locked" if locked else "refused")
        self.locked = locked


def _recent_failures(session: Session, username: str, since: dt.datetime) -> int:
    """Failures since the last success (and inside the window)."""
    last_ok = session.execute(select(func.max(SignInAttempt.at)).where(
        SignInAttempt.username == username, SignInAttempt.ok.is_(True))).scalar()
    start = max(since, last_ok) if last_ok is not None else since
    return int(session.execute(select(func.count()).where(
        SignInAttempt.username == username, SignInAttempt.ok.is_(False), SignInAttempt.at > start)).scalar() or 0)


def sign_in(session: Session, username: str, password: str, address: str | None, *, session_hours: float,
            max_failures: int, lockout_minutes: float) -> SignIn:
    """Check a password and open a session, or raise :class:`SignInRefused`; every attempt is recorded
    (table and audit log) in the caller's transaction, which the caller commits either way."""
    username = username.strip().lower()[:64]
    now = utcnow()
    row = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    locked = row is not None and row.locked_until is not None and row.locked_until > now
    ok = _verify(row.password_hash if row is not None else _dummy_hash(), password)
    ok = ok and row is not None and not locked and row.disabled_at is None
    session.add(SignInAttempt(username=username, address=(address or "")[:64] or None, ok=ok, at=now))
    session.flush()
    if not ok or row is None:
        if row is not None and not locked:
            window = now - dt.timedelta(minutes=lockout_minutes)
            if _recent_failures(session, username, window) >= max_failures:
                row.locked_until = now + dt.timedelta(minutes=lockout_minutes)
                locked = True
                audit.record(session, "sign-in", "lock", "staff_user", row.id, None,
                             {"username": username, "locked_until": row.locked_until})
        audit.record(session, f"{username} (sign-in)", "sign_in_failed", "staff_user",
                     row.id if row is not None else None, None, {"username": username, "address": address,
                                                                 "locked": locked})
        raise SignInRefused(locked)
    row.locked_until = None
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=session_hours)
    sess = StaffSession(user_id=row.id, token_hash=hash_token(token), csrf_token=secrets.token_urlsafe(32),
                        created_at=now, expires_at=expires, last_seen_at=now)
    session.add(sess)
    session.flush()
    audit.record(session, staff_actor(row), "sign_in", "staff_session", sess.id, None,
                 {"username": username, "address": address, "expires_at": expires})
    return SignIn(token, StaffPrincipal(row.id, row.username, row.name, row.role, sess.id, sess.csrf_token), expires)


#: ``last_seen_at`` is written at most this often per session (the idle limit needs no finer clock).
TOUCH_EVERY = dt.timedelta(minutes=1)


def session_principal(session: Session, token: str, idle_minutes: float) -> StaffPrincipal | None:
    """The staff member a cookie belongs to, or ``None`` when the session is unknown, revoked,
    expired, idle too long, or its account is disabled."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    found = session.execute(select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
                            .where(StaffSession.token_hash == hash_token(token))).first()
    if found is None:
        return None
    sess, user = found
    if (sess.revoked_at is not None or sess.expires_at <= now or user.disabled_at is not None
            or sess.last_seen_at + dt.timedelta(minutes=idle_minutes) <= now):
        return None
    if now - sess.last_seen_at >= TOUCH_EVERY:
        session.execute(update(StaffSession).where(StaffSession.id == sess.id).values(last_seen_at=now))
    return StaffPrincipal(user.id, user.username, user.name, user.role, sess.id, sess.csrf_token)


def sign_out(session: Session, who: StaffPrincipal) -> None:
    session.execute(update(StaffSession).where(StaffSession.id == who.session_id).values(revoked_at=utcnow()))
    audit.record(session, who.actor, "sign_out", "staff_session", who.session_id)


def revoke_sessions(session: Session, user_id: int, keep: int | None = None) -> None:
    q = update(StaffSession).where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
    if keep is not None:
        q = q.where(StaffSession.id != keep)
    session.execute(q.values(revoked_at=utcnow()))

