"""Shared by the workspace tests: staff accounts, a signed-in client, the CSRF token of a page."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from geodata.settings import Settings
from geodata.store import staff
from geodata.store.db import transaction
from tests.conftest import db_url

PASSWORD = "Correct-horse-2026"


def make_user(engine: Engine, username: str, role: str, password: str = PASSWORD) -> None:
    with transaction(engine) as s:
        staff.create_user(s, username, role, password, name=username.title())


def browser(engine: Engine, base_url: str = "http://testserver", **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url(engine), **settings)), base_url=base_url,
                      follow_redirects=False)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token input"
    return found.group(1)


def sign_in(c: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``c`` in; returns the session's CSRF token (from the first workspace page)."""
    page = c.get("/auth/login")
    r = c.post("/auth/login", data={"username": username, "password": password, "csrf_token": form_token(page.text)})
    assert r.status_code == 303, r.text
    return form_token(c.get("/auth/password").text)
