"""Expensive reads: the appraisal report is computed once per plan version and cached.

A 5,000-item draft costs seconds of CPU per appraisal; repeating ``GET /plans/{id}/report`` must not
repeat it. The cache key holds everything the answer depends on, so an edit, a data change, another
firm's submission, another kind of reader or another format is a fresh answer, never a stale one.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from app.plan_report import report_cache
from geodata.store.meta import bump_data_version
from geodata.work import appraisal as gapp
from tests.app.plan_helpers import client, collection, make_keys, new_site


@pytest.fixture
def appraisals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the appraisals the report endpoint runs."""
    calls: list[int] = []
    real = gapp.build_report

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gapp, "build_report", counting)
    return calls


def test_report_is_appraised_once_per_version(demo_db: Engine, appraisals: list[int]) -> None:
    c, k = client(demo_db, expensive_read_burst=10_000), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="CCH-1")), headers=k.h("vtl")).json()["id"]
    url = f"/plans/{pid}/report"

    first = c.get(url, headers=k.h("vtl"))
    again = c.get(url, headers=k.h("vtl"))
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert len(appraisals) == 1 and report_cache(c.app.state).stats()["hits"] >= 1  # type: ignore[attr-defined]
    # the page and the workbook come from the same appraisal
    assert c.get(url, params={"format": "html"}, headers=k.h("vtl")).headers["content-type"].startswith("text/html")
    assert c.get(url, params={"format": "xlsx"}, headers=k.h("vtl")).content[:2] == b"PK"
    assert len(appraisals) == 1
    # staff read their own (unredacted) copy
    assert c.get(url, headers=k.h("planner")).status_code == 200 and len(appraisals) == 2
    assert c.get(url, headers=k.h("admin")).status_code == 200 and len(appraisals) == 2

    # an edit of the draft: a fresh report of the new items
    edited = c.put(f"/plans/{pid}", json=collection(new_site(code="CCH-1"), new_site(106.69, 20.86, code="CCH-2")),
                   headers=k.h("vtl"))
    assert edited.status_code == 200, edited.text
    assert [it["code"] for it in c.get(url, headers=k.h("vtl")).json()["items"]] == ["CCH-1", "CCH-2"]
    assert len(appraisals) == 3
    # a change of the map data
    with demo_db.begin() as conn:
        bump_data_version(conn)
    c.get(url, headers=k.h("vtl"))
    assert len(appraisals) == 4
    # another firm submits a plan (no map data changes, but the preview's conflicts may)
    other = c.post("/plans", json=collection(new_site(106.6901, 20.8601, code="CCH-MBF")), headers=k.h("mbf"))
    assert c.post(f"/plans/{other.json()['id']}/submit", headers=k.h("mbf")).status_code == 200
    assert len(appraisals) == 5  # the submission's own appraisal
    rep = c.get(url, headers=k.h("vtl")).json()
    assert len(appraisals) == 6
    assert any(f["rule"] == "plan.pending_conflict" for f in rep["items"][1]["findings"])
    c.get(url, headers=k.h("vtl"))
    assert len(appraisals) == 6


def test_frozen_report_follows_the_plan_status(demo_db: Engine) -> None:
    c, k = client(demo_db, expensive_read_burst=10_000), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="CCH-F")), headers=k.h("vtl")).json()["id"]
    assert c.post(f"/plans/{pid}/submit", headers=k.h("vtl")).status_code == 200
    assert c.get(f"/plans/{pid}/report", headers=k.h("vtl")).json()["status"] == "submitted"
    assert c.post(f"/plans/{pid}/review", headers=k.h("planner")).status_code == 200
    assert c.get(f"/plans/{pid}/report", headers=k.h("vtl")).json()["status"] == "under_review"


def test_cache_is_capped_and_can_be_off(demo_db: Engine, appraisals: list[int]) -> None:
    c, k = client(demo_db, expensive_read_burst=10_000, report_cache_bytes=0), make_keys(demo_db)
    pid = c.post("/plans", json=collection(new_site(code="CCH-0")), headers=k.h("vtl")).json()["id"]
    for _ in range(2):
        assert c.get(f"/plans/{pid}/report", headers=k.h("vtl")).status_code == 200
    assert len(appraisals) == 2 and report_cache(c.app.state).stats()["bytes"] == 0  # type: ignore[attr-defined]
