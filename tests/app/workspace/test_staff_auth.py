"""Staff sign-in on both backends: hashed passwords, cookie flags, CSRF, expiry, logout, lockout, and
the wall between session cookies and API keys."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, text, update
from typer.testing import CliRunner

from app.cli import cli
from geodata.settings import get_settings
from geodata.store.models import AuditLog, StaffSession, StaffUser
from tests.app.plan_helpers import make_keys
from tests.app.workspace.helpers import PASSWORD, browser, form_token, make_user, sign_in
from tests.conftest import db_url


def test_cli_creates_an_account_with_an_argon2_hash_only(empty_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(empty_db))
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["users", "create", "lan", "--role", "planner", "--name", "Chuyên viên Lan",
                                     "--password-stdin"], input="Secret-pass-2026\n")
        assert r.exit_code == 0, r.output
        short = CliRunner().invoke(cli, ["users", "create", "minh", "--role", "planner", "--password-stdin"],
                                   input="short\n")
        assert short.exit_code != 0
        firm = CliRunner().invoke(cli, ["users", "create", "vtl", "--role", "operator", "--password-stdin"],
                                  input="Secret-pass-2026\n")
        assert firm.exit_code != 0  # a firm is never a staff account
        listed = CliRunner().invoke(cli, ["users", "list", "--format", "json"])
        assert '"lan"' in listed.output and "argon2" not in listed.output
        assert CliRunner().invoke(cli, ["users", "disable", "lan"]).exit_code == 0
    finally:
        get_settings.cache_clear()
    with empty_db.connect() as c:
        stored = c.execute(select(StaffUser.password_hash)).scalar_one()
        dump = " ".join(str(v) for row in c.execute(text("SELECT * FROM staff_users")) for v in row)
        assert c.execute(select(StaffUser.disabled_at)).scalar_one() is not None
    assert stored.startswith("$argon2id$") and "Secret-pass-2026" not in dump


def test_sign_in_sets_a_hardened_cookie_and_opens_the_workspace(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    c = browser(empty_db)
    assert c.get("/workspace/plans").headers["location"].startswith("/auth/login?next=")
    page = c.get("/auth/login")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    token = form_token(page.text)
    wrong = c.post("/auth/login", data={"username": "lan", "password": "nope-nope-nope", "csrf_token": token})
    assert wrong.status_code == 401 and "btsplan_session" not in wrong.headers.get("set-cookie", "")
    r = c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/workspace/"
    cookie = r.headers["set-cookie"].lower()
    assert "btsplan_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http on loopback
    page = c.get("/workspace/plans")
    assert page.status_code == 200 and "<html" in page.text and page.headers["cache-control"] == "no-store"
    with empty_db.connect() as conn:
        actions = [a for (a,) in conn.execute(select(AuditLog.action).where(AuditLog.entity.in_(
            ["staff_user", "staff_session"])).order_by(AuditLog.id))]
        token_hashes = [h for (h,) in conn.execute(select(StaffSession.token_hash))]
    assert actions == ["create", "sign_in_failed", "sign_in"]
    assert c.cookies["btsplan_session"] not in token_hashes  # only the digest is stored


def test_cookie_is_secure_behind_https(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    # the TLS proxy's address; the browser talks https, so it sends Secure cookies back
    c = browser(empty_db, "https://gis.example.vn", public_url="https://gis.example.vn",
                allowed_hosts=["gis.example.vn"])
    page = c.get("/auth/login")
    r = c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": form_token(page.text)})
    assert r.status_code == 303 and "; secure" in r.headers["set-cookie"].lower()


def test_every_state_change_needs_the_csrf_token(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    c = browser(empty_db)
    c.get("/auth/login")
    assert c.post("/auth/login", data={"username": "lan", "password": PASSWORD}).status_code == 403
    assert c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": "x" * 43}).status_code == 403
    csrf = sign_in(c, "lan")
    assert c.post("/auth/logout").status_code == 403
    assert c.post("/auth/logout", data={"csrf_token": "forged"}).status_code == 403
    assert c.post("/auth/password", data={"current_password": PASSWORD, "new_password": "x" * 12,
                                          "repeat_password": "x" * 12}).status_code == 403
    assert c.get("/workspace/plans").status_code == 200  # still signed in
    assert c.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 303  # htmx's header counts


def test_logout_and_expiry_end_the_session_on_the_server(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    c = browser(empty_db)
    csrf = sign_in(c, "lan")
    stolen = c.cookies["btsplan_session"]
    r = c.post("/auth/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and 'btsplan_session=""' in r.headers["set-cookie"]
    replay = browser(empty_db)
    replay.cookies.set("btsplan_session", stolen)
    assert replay.get("/workspace/plans").status_code == 303  # revoked server-side, not just forgotten
    c2 = browser(empty_db)
    sign_in(c2, "lan")
    with empty_db.begin() as conn:
        conn.execute(update(StaffSession).where(StaffSession.revoked_at.is_(None))
                     .values(expires_at=dt.datetime(2020, 1, 1)))
    assert c2.get("/workspace/plans").status_code == 303
    c3 = browser(empty_db, session_idle_minutes=1)
    sign_in(c3, "lan")
    with empty_db.begin() as conn:
        conn.execute(update(StaffSession).where(StaffSession.revoked_at.is_(None), StaffSession.expires_at > dt.datetime(2021, 1, 1))
                     .values(last_seen_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=2)))
    assert c3.get("/workspace/plans").status_code == 303  # idle too long


def test_repeated_failures_lock_the_account(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    c = browser(empty_db, signin_max_failures=3)
    token = form_token(c.get("/auth/login").text)
    for _ in range(3):
        assert c.post("/auth/login", data={"username": "lan", "password": "wrong-wrong", "csrf_token": token}).status_code == 401
    r = c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 401 and "locked" in r.text and "btsplan_session" not in r.headers.get("set-cookie", "")
    with empty_db.connect() as conn:
        assert conn.execute(select(StaffUser.locked_until)).scalar_one() is not None
        assert "lock" in [a for (a,) in conn.execute(select(AuditLog.action))]
    with empty_db.begin() as conn:  # the window passes
        conn.execute(update(StaffUser).values(locked_until=dt.datetime(2020, 1, 1)))
    assert c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token}).status_code == 303


def test_keys_and_sessions_never_stand_in_for_each_other(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    make_user(demo_db, "hung", "inspector")
    k = make_keys(demo_db)
    c = browser(demo_db)
    for who in ("vtl", "planner", "admin"):  # a key opens no workspace page, whatever its role
        assert c.get("/workspace/plans", headers=k.h(who)).status_code == 403
        assert c.get("/workspace/admin/keys", headers=k.h(who)).status_code == 403
    sign_in(c, "lan")
    assert c.get("/plans").status_code == 401  # a session is not a key
    assert c.post("/plans", json={"type": "FeatureCollection", "features": []}).status_code == 401
    assert c.get("/keys").status_code in (401, 404, 405)
    assert c.get("/workspace/plans", headers=k.h("vtl")).status_code == 403  # nor do both together
    i = browser(demo_db)
    csrf = sign_in(i, "hung")
    assert i.get("/workspace/plans").status_code == 403
    assert i.post("/workspace/plans/1/decision", data={"csrf_token": csrf, "decision": "approve",
                                                       "lock_version": "1"}).status_code == 403
    assert i.get("/workspace/admin/users").status_code == 403


def test_password_change_asks_the_current_one_and_ends_other_sessions(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    other = browser(empty_db)
    sign_in(other, "lan")
    c = browser(empty_db)
    csrf = sign_in(c, "lan")
    bad = c.post("/auth/password", data={"csrf_token": csrf, "current_password": "wrong-wrong",
                                         "new_password": "New-pass-2026!", "repeat_password": "New-pass-2026!"})
    assert bad.status_code == 400
    ok = c.post("/auth/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                        "new_password": "New-pass-2026!", "repeat_password": "New-pass-2026!"})
    assert ok.status_code == 200
    assert c.get("/workspace/plans").status_code == 200 and other.get("/workspace/plans").status_code == 303
    fresh = browser(empty_db)
    sign_in(fresh, "lan", "New-pass-2026!")


def test_sign_in_is_limited_per_address_and_never_redirects_off_site(empty_db: Engine) -> None:
    make_user(empty_db, "lan", "planner")
    c = browser(empty_db, anonymous_write_burst=3, anonymous_write_rate_per_minute=1)
    token = form_token(c.get("/auth/login").text)
    r = c.post("/auth/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token,
                                    "next": "//evil.example/phish"})
    assert r.status_code == 303 and r.headers["location"] == "/workspace/"
    c.cookies.clear()  # signed in, the sign-in form's token is spent: start again as a stranger
    token = form_token(c.get("/auth/login").text)
    codes = [c.post("/auth/login", data={"username": f"guess{i}", "password": "x" * 12, "csrf_token": token}).status_code
             for i in range(3)]
    assert codes[:2] == [401, 401] and codes[2] == 429  # guessing many usernames from one address is slowed too
