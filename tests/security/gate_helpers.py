"""What the gate tests share: the routes the gate knows, a key per role, request paths for templates."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.gate import Gate
from tests.app.plan_helpers import Keys


def gate_routes(c: TestClient) -> list[APIRoute]:
    """The route table the app's :class:`app.gate.Gate` was given."""
    return next(m.kwargs["routes"] for m in c.app.user_middleware if m.cls is Gate)  # type: ignore[attr-defined]


def role_keys(k: Keys) -> dict[str, str]:
    return {"admin": k.admin, "planner": k.planner, "inspector": k.inspector, "operator": k.vtl}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def concrete(path: str) -> str:
    """A request path for a route template: every parameter ``1``."""
    return "/".join("1" if part.startswith("{") else part for part in path.split("/"))
