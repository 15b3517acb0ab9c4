"""The language chosen with ``?lang=`` stays chosen across the staff workspace (app/language.py's cookie):
links, forms, the redirects of sign-in, sign-out and a status change, and htmx partials all answer in it,
even when the browser's ``Accept-Language`` asks for the other one; ``?lang=`` switches it again. The
public API never reads the cookie (its answers depend on the URL and ``Accept-Language`` only)."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine, select

from app.language import COOKIE
from geodata.store import models as m
from geodata.store.db import transaction
from tests.app.workspace.helpers import PASSWORD, browser, form_token, make_user

HX = {"HX-Request": "true"}


def _lang(r: httpx.Response) -> str:
    """The language a response speaks (the Content-Language header app/language.py sets)."""
    return r.headers["content-language"]


def _planned(engine: Engine) -> str:
    with transaction(engine) as s:
        code = s.execute(select(m.CableSegment.code).where(m.CableSegment.status == "planned")
                         .order_by(m.CableSegment.code.desc())).scalars().first()
    assert code is not None
    return code


def test_english_chosen_once_stays_across_the_workspace(demo_db: Engine) -> None:
    make_user(demo_db, "lan", "planner")
    c = browser(demo_db)
    c.headers["Accept-Language"] = "vi-VN,vi;q=0.9"  # an office browser: Vietnamese unless told otherwise
    assert _lang(c.get("/auth/login")) == "vi" and COOKIE not in c.cookies

    # the first page opened with ?lang=en remembers it (a preference cookie, not readable by scripts)
    login = c.get("/auth/login?lang=en")
    assert _lang(login) == "en" and 'lang="en"' in login.text and "Sign in" in login.text
    set_cookie = login.headers["set-cookie"].lower()
    assert f"{COOKIE}=en" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "cookie" in login.headers["vary"].lower()

    # the sign-in form and its redirect, without ?lang
    signed = c.post("/auth/login", data={"username": "lan", "password": PASSWORD,
                                         "csrf_token": form_token(login.text), "next": "/workspace/cables"})
    assert signed.status_code == 303 and "lang" not in signed.headers["location"]
    page = c.get(signed.headers["location"])
    assert _lang(page) == "en" and 'lang="en"' in page.text and "Street sections" in page.text
    assert "set-cookie" not in page.headers  # set once per choice, not on every page
    assert 'href="/map?lang=en"' in page.text  # the public map reads no cookie: its link carries the choice
    csrf = form_token(page.text)

    # an htmx partial and a status change (a form post) without ?lang, and the plain form's redirect
    code = _planned(demo_db)
    panel = c.get(f"/workspace/cables/segments/{code}", headers=HX)
    assert _lang(panel) == "en" and "Status history" in panel.text
    stale = c.post(f"/workspace/cables/segments/{code}/status", headers=HX,
                   data={"csrf_token": csrf, "status": "in_progress", "version": "99"})
    assert stale.status_code == 409 and _lang(stale) == "en" and "changed by someone else" in stale.text
    moved = c.post(f"/workspace/cables/segments/{code}/status",
                   data={"csrf_token": csrf, "status": "in_progress", "version": "1"})
    assert moved.status_code == 303
    after = c.get(moved.headers["location"])
    assert _lang(after) == "en" and "Status history" in after.text

    # a refusal the workspace answers as problem+json speaks it too
    refused = c.post(f"/workspace/cables/segments/{code}/status", headers={**HX, "X-CSRF-Token": "expired"},
                     data={"status": "done", "version": "2"})
    assert refused.status_code == 403 and _lang(refused) == "en"
    assert refused.json()["title"] == "CSRF token missing or wrong"

    # the public API ignores the workspace's cookie: Accept-Language still decides there, and nothing varies on it
    api = c.get("/collections/no-such-layer")
    assert _lang(api) == "vi" and "cookie" not in api.headers.get("vary", "").lower()

    # ?lang= switches it back, and sign-out's redirect keeps the new choice
    vi = c.get("/workspace/cables?lang=vi")
    assert _lang(vi) == "vi" and f"{COOKIE}=vi" in vi.headers["set-cookie"]
    out = c.post("/auth/logout", data={"csrf_token": form_token(vi.text)})
    assert out.status_code == 303
    assert _lang(c.get(out.headers["location"])) == "vi"

    # a signed-out visit is sent to the sign-in form, which keeps the language too
    c.get("/auth/login?lang=en")
    gone = c.get("/workspace/cables")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/auth/login?next=")
    assert _lang(c.get(gone.headers["location"])) == "en"


def test_an_unknown_language_changes_nothing(demo_db: Engine) -> None:
    c = browser(demo_db)
    c.headers["Accept-Language"] = "vi"
    c.get("/auth/login?lang=en")
    odd = c.get("/auth/login?lang=fr")
    assert "set-cookie" not in odd.headers or COOKIE not in odd.headers["set-cookie"]
    assert _lang(odd) == "en"  # the remembered choice, not a language we do not have
    fresh = browser(demo_db)  # another browser: its own header decides
    assert _lang(fresh.get("/auth/login", headers={"Accept-Language": "vi"})) == "vi"
