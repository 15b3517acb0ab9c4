"""API keys, roles, rate limit and the keys CLI, on both backends."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, get_args

import pytest
from fastapi import APIRouter, Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from app import auth, routers
from app.auth import Principal, optional_principal, require_roles
from geodata.store.keys import KeyManagementError, create_key, hash_key, key_prefix, revoke_key
from app.cli import cli
from app.main import create_app
from geodata.store import audit
from geodata.store.db import transaction
from geodata.store.ratelimit import Limit, TokenBuckets
from geodata.store.models import ApiKey, AuditLog, CableSegment
from geodata.settings import Settings
from planning.vocab import ROLES
from tests.app.plan_helpers import client as plans_client
from tests.app.plan_helpers import make_keys
from tests.conftest import db_url


def _app(engine: Engine, **settings: object) -> TestClient:
    app = create_app(Settings(database_url=db_url(engine), **settings))  # type: ignore[arg-type]
    r = APIRouter()

    @r.get("/t/planner")
    def planner_only(p: Principal = Depends(require_roles("planner", "admin"))) -> dict[str, object]:
        return {"role": p.role, "operator": p.operator, "actor": p.actor}

    @r.post("/t/write")
    def write(p: Principal = Depends(require_roles("operator", "planner"))) -> dict[str, object]:
        return {"ok": True}

    @r.get("/t/public")
    def public(p: Principal | None = Depends(optional_principal)) -> dict[str, object]:
        return {"role": p.role if p else None}

    app.include_router(r)
    return TestClient(app)


def _key(engine: Engine, role: str, operator: str | None = None, name: str | None = None) -> str:
    with transaction(engine) as s:
        return create_key(s, role, operator, name).secret


def test_key_is_stored_hashed_only(demo_db: Engine) -> None:
    with transaction(demo_db) as s:
        new = create_key(s, "operator", "VTL", "Viettel")
    with transaction(demo_db) as s:
        row = s.get(ApiKey, new.id)
        assert row is not None and row.key_hash == hash_key(new.secret)
        assert new.secret not in (row.key_hash, row.prefix) and new.secret.startswith(row.prefix)
        logged = s.execute(select(AuditLog).where(AuditLog.entity == "api_key")).scalars().all()
    assert [a.action for a in logged] == ["create"]
    assert new.secret not in repr(logged[0].after) and row.key_hash not in repr(logged[0].after)


def test_key_management_errors(demo_db: Engine) -> None:
    with transaction(demo_db) as s:
        with pytest.raises(KeyManagementError, match="unknown operator 'NOPE'.*VTL"):
            create_key(s, "operator", "NOPE")
        with pytest.raises(KeyManagementError, match="needs --operator"):
            create_key(s, "operator")
        with pytest.raises(KeyManagementError, match="only for operator keys"):
            create_key(s, "planner", "VTL")
        with pytest.raises(KeyManagementError, match="unknown role"):
            create_key(s, "root")
        with pytest.raises(KeyManagementError, match="no API key with id 999"):
            revoke_key(s, 999)


def test_roles_401_403(demo_db: Engine) -> None:
    c = _app(demo_db)
    planner, op = _key(demo_db, "planner", name="Lan"), _key(demo_db, "operator", "VTL")
    r = c.get("/t/planner")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/problem+json")
    for bad in ("Bearer nonsense", "Bearer " + planner[:-1] + ("A" if planner[-1] != "A" else "B"), "Basic abc", "Bearer"):
        r = c.get("/t/planner", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert planner not in r.text
    r = c.get("/t/planner", headers={"Authorization": f"Bearer {planner}"})
    assert r.status_code == 200 and r.json()["role"] == "planner" and "Lan" in r.json()["actor"]
    r = c.get("/t/planner", headers={"Authorization": f"Bearer {op}"})
    assert r.status_code == 403 and r.json()["status"] == 403
    # public endpoint: anonymous is fine, a wrong key is not
    assert c.get("/t/public").json() == {"role": None}
    assert c.get("/t/public", headers={"Authorization": f"Bearer {op}"}).json() == {"role": "operator"}
    assert c.get("/t/public", headers={"Authorization": "Bearer btsp_00000000_" + "x" * 43}).status_code == 401


def test_revoked_key_is_rejected(demo_db: Engine) -> None:
    c = _app(demo_db)
    with transaction(demo_db) as s:
        new = create_key(s, "planner")
    h = {"Authorization": f"Bearer {new.secret}"}
    assert c.get("/t/planner", headers=h).status_code == 200
    with transaction(demo_db) as s:
        revoke_key(s, new.id)
    assert c.get("/t/planner", headers=h).status_code == 401


def test_write_rate_limit_per_key(demo_db: Engine) -> None:
    c = _app(demo_db, write_rate_per_minute=1.0, write_burst=3)
    a, b = _key(demo_db, "operator", "VTL"), _key(demo_db, "operator", "MBF")
    ha, hb = {"Authorization": f"Bearer {a}"}, {"Authorization": f"Bearer {b}"}
    assert [c.post("/t/write", headers=ha).status_code for _ in range(3)] == [200, 200, 200]
    r = c.post("/t/write", headers=ha)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert c.post("/t/write", headers=hb).status_code == 200  # buckets are per key
    assert c.get("/t/public", headers=ha).status_code == 200  # reads are not limited


def test_token_bucket_refills(empty_db: Engine) -> None:
    now = [0.0]
    lim = Limit(per_minute=60, burst=2)
    buckets = TokenBuckets(empty_db, [lim], clock=lambda: now[0])
    assert buckets.take("key:1", lim) == 0 and buckets.take("key:1", lim) == 0
    assert buckets.take("key:1", lim) == pytest.approx(1.0)
    now[0] += 1.0
    assert buckets.take("key:1", lim) == 0
    assert buckets.take("key:1", lim) > 0


def test_key_prefix_rejects_junk() -> None:
    assert key_prefix("btsp_0123abcd_" + "x" * 43) == "btsp_0123abcd"
    for junk in ("", "btsp_", "Bearer x", "btsp_0123abcdX" + "x" * 43, "x" * 500):
        assert key_prefix(junk) is None


def test_keys_cli(demo_db: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from geodata.settings import get_settings

    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    caplog.set_level(logging.DEBUG)
    try:
        runner = CliRunner()
        r = runner.invoke(cli, ["keys", "create", "--role", "operator", "--operator", "VTL", "--name", "Viettel"])
        assert r.exit_code == 0, r.output
        key = r.stdout.strip().splitlines()[-1]
        assert key_prefix(key) is not None
        r = runner.invoke(cli, ["keys", "create", "--role", "operator", "--operator", "ZZZ"])
        assert r.exit_code != 0 and "unknown operator" in r.output
        r = runner.invoke(cli, ["keys", "list", "--format", "json"])
        assert r.exit_code == 0 and "Viettel" in r.stdout and key not in r.stdout
        key_id = __import__("json").loads(r.stdout)[0]["id"]
        r = runner.invoke(cli, ["keys", "revoke", str(key_id)])
        assert r.exit_code == 0
        r = runner.invoke(cli, ["keys", "revoke", str(key_id)])
        assert r.exit_code != 0 and "already revoked" in r.output
        assert key not in caplog.text
        with transaction(demo_db) as s:
            actions = [e["action"] for e in audit.entries(s, "api_key", key_id)]
        assert actions == ["create", "revoke"]
    finally:
        get_settings.cache_clear()


def test_keys_never_logged_or_echoed(demo_db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = _app(demo_db)
    good = _key(demo_db, "planner")
    wrong = "btsp_deadbeef_" + "Z" * 43
    texts = [c.get("/t/planner", headers={"Authorization": f"Bearer {k}"}).text for k in (good, wrong, good[:-3])]
    texts.append(c.post("/t/write", headers={"Authorization": f"Bearer {good}"}).text)
    for secret in (good, wrong, good[14:]):
        assert secret not in caplog.text
        assert all(secret not in t for t in texts)
    with demo_db.connect() as conn:
        rows = conn.execute(select(ApiKey.prefix, ApiKey.key_hash, ApiKey.name)).all()
    assert all(good not in "".join(map(str, r)) for r in rows)


#: Who each role alias of ``app.auth`` admits: the name must say exactly this.
ALIAS_ROLES = {
    "AdminOnly": {"admin"},
    "PlannerOnly": {"planner"},
    "OperatorOnly": {"operator"},
    "PlannerOrAdmin": {"planner", "admin"},
    "InspectorOrPlanner": {"inspector", "planner"},
    "AnyStaff": {"planner", "inspector", "admin"},
    "PlannerAdminOrOperator": {"planner", "admin", "operator"},
    "AnyKey": set(ROLES),
}


def _alias_dependency(name: str) -> Callable[..., Principal]:
    return get_args(getattr(auth, name))[1].dependency  # type: ignore[no-any-return]


def _roles_of(dependency: Callable[..., Principal]) -> set[str]:
    return set(dependency.__name__.removeprefix("require_").split("_"))


def _role_dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None and getattr(sub.call, "__name__", "").startswith("require_"):
            yield sub.call
        yield from _role_dependencies(sub)


def test_role_aliases_admit_exactly_the_roles_they_name() -> None:
    assert {name: _roles_of(_alias_dependency(name)) for name in ALIAS_ROLES} == ALIAS_ROLES


def test_every_endpoint_uses_a_role_alias() -> None:
    """Routers never spell a role set themselves, so one word cannot grant different roles in two places."""
    aliases = {_alias_dependency(name) for name in ALIAS_ROLES}
    routes = [r for m in pkgutil.iter_modules(routers.__path__)
              for r in importlib.import_module(f"app.routers.{m.name}").router.routes if isinstance(r, APIRoute)]
    guarded = [r for r in routes if any(True for _ in _role_dependencies(r.dependant))]
    inline = [f"{sorted(r.methods)} {r.path}" for r in guarded
              for dep in _role_dependencies(r.dependant) if dep not in aliases]
    assert len(guarded) > 20 and not inline, inline


def test_planner_means_the_same_everywhere(demo_db: Engine) -> None:
    """An admin may not decide plans (planners only) but may move a cable segment (planners and admins)."""
    keys = make_keys(demo_db)
    c = plans_client(demo_db, write_burst=10_000)
    decided = c.post("/plans/1/decision", json={"decision": "approve"}, headers=keys.h("admin"))
    assert decided.status_code == 403 and "allowed: planner" in decided.json()["detail"]
    with demo_db.connect() as conn:
        code = conn.execute(select(CableSegment.code).where(CableSegment.status == "planned")
                            .order_by(CableSegment.id)).scalars().first()
    moved = c.patch(f"/cables/segments/{code}", json={"status": "in_progress"}, headers=keys.h("admin"))
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    assert c.patch(f"/cables/segments/{code}", json={"status": "done"}, headers=keys.h("inspector")).status_code == 403
