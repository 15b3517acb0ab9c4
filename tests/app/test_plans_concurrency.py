"""Two planners deciding the same plan at once: one wins, the other gets 409, nothing is lost."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from geodata.store import audit
from geodata.work import plans as gp
from geodata.store.db import session_factory, transaction
from geodata.store.models import PlanEvent, Site
from planning.plan_items import parse_plan
from tests.app.plan_helpers import client, collection, make_keys, new_site


def _under_review(engine: Engine, code: str) -> int:
    feats = parse_plan(collection(new_site(106.7100, 20.8450, code=code))).features
    with transaction(engine) as s:
        plan = gp.create_plan(s, "VTL", "test", {}, feats, None).plan
        gp.submit(s, plan, "test", {"items": [], "summary": {}})
        gp.start_review(s, plan, "test")
        return plan.id


def test_stale_session_cannot_overwrite_a_decision(demo_db: Engine) -> None:
    """Deterministic interleaving with two sessions: both read, A decides, B's decision is refused."""
    pid = _under_review(demo_db, "CC-1")
    make = session_factory(demo_db)
    with make() as a, make() as b:
        pa = gp.get_plan(a, pid)
        pb = gp.get_plan(b, pid)
        assert pa.lock_version == pb.lock_version
        gp.decide(a, pa, "planner A", "approve", None, [], None, "EPSG:9210")
        a.commit()
        with pytest.raises(gp.PlanConflict):
            gp.decide(b, pb, "planner B", "reject", "không phù hợp", [], None, "EPSG:9210")
        b.rollback()
    with transaction(demo_db) as s:
        plan = gp.get_plan(s, pid)
        assert plan.status == "approved"
        decisions = [e for e in audit.entries(s, "plan", pid) if e["action"] in ("approved", "rejected")]
        assert [(d["action"], d["actor"]) for d in decisions] == [("approved", "planner A")]
        assert s.execute(select(func.count()).select_from(Site).where(Site.code == "CC-1")).scalar() == 1


@pytest.mark.parametrize("n", [2, 6])
def test_concurrent_http_decisions(demo_db: Engine, n: int) -> None:
    """Real threads through the HTTP API (on PostGIS the second UPDATE waits for the first commit and
    then matches no row; on SQLite writers serialise on the file lock): exactly one 200."""
    pid = _under_review(demo_db, f"CC-T{n}")
    keys = make_keys(demo_db)
    c = client(demo_db, write_burst=1000)
    barrier = threading.Barrier(n)
    results: list[tuple[str, int, Any]] = []
    lock = threading.Lock()

    def decide(i: int) -> None:
        who = "planner" if i % 2 == 0 else "planner2"
        body = {"decision": "approve"} if i % 2 == 0 else {"decision": "reject", "reason": f"lý do {i}"}
        barrier.wait()
        r = c.post(f"/plans/{pid}/decision", json=body, headers=keys.h(who))
        with lock:
            results.append((body["decision"], r.status_code, r.json()))

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = sorted(code for _, code, _ in results)
    assert codes == [200] + [409] * (n - 1), results
    winner = next(d for d, code, _ in results if code == 200)
    final = {"approve": "approved", "reject": "rejected"}[winner]
    with transaction(demo_db) as s:
        assert gp.get_plan(s, pid).status == final
        evs = s.execute(select(PlanEvent.to_status).where(PlanEvent.plan_id == pid)).scalars().all()
        assert evs.count(final) == 1 and evs.count("approved") + evs.count("rejected") == 1
        created = s.execute(select(func.count()).select_from(Site).where(Site.code == f"CC-T{n}")).scalar()
        assert created == (1 if final == "approved" else 0)


def test_concurrent_replays_of_one_idempotency_key(demo_db: Engine) -> None:
    """Several identical POSTs racing with one key make one plan: one 201, the others 200 with its id."""
    from geodata.store.models import PlanSubmission

    keys = make_keys(demo_db)
    c = client(demo_db, write_burst=1000)
    n = 5
    barrier = threading.Barrier(n)
    out: list[tuple[int, Any]] = []
    lock = threading.Lock()
    body = collection(new_site(106.7200, 20.8500, code="RACE-1"))

    def post() -> None:
        barrier.wait()
        r = c.post("/plans", json=body, headers={**keys.h("vtl"), "Idempotency-Key": "race-1"})
        with lock:
            out.append((r.status_code, r.json().get("id")))

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(code for code, _ in out) == [200] * (n - 1) + [201], out
    assert len({pid for _, pid in out}) == 1
    with transaction(demo_db) as s:
        assert s.execute(select(func.count()).select_from(PlanSubmission)).scalar() == 1
