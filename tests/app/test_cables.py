"""Cables over HTTP and the ``btsplan cables`` commands, on both backends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from geodata.store.keys import create_key
from app.cli import cli
from app.main import create_app
from geodata.store import models as m
from geodata.store.db import transaction
from geodata.settings import Settings, get_settings
from tests.conftest import db_url

PROBLEM = "application/problem+json"


@pytest.fixture
def client(demo_db: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url(demo_db)))) as c:
        yield c


def _auth(engine: Engine, role: str, operator: str | None = None) -> dict[str, str]:
    with transaction(engine) as s:
        secret = create_key(s, role, operator, f"test {role}").secret
    return {"Authorization": f"Bearer {secret}"}


def _code(engine: Engine, status: str) -> str:
    with engine.connect() as c:
        return str(c.execute(select(m.CableSegment.code).where(m.CableSegment.status == status)
                             .order_by(m.CableSegment.id)).scalars().first())


def test_progress_json_shape_and_sums(client: TestClient) -> None:
    r = client.get("/cables/progress", params={"by": "district"})
    assert r.status_code == 200
    d = r.json()
    assert d["by"] == "district" and len(d["rows"]) >= 6
    for row in d["rows"]:
        assert {"district", "district_code", "total_km", "done_km", "in_progress_km", "planned_km", "done_pct",
                "overdue_km"} <= set(row)
        assert round(row["done_pct"] + row["in_progress_pct"] + row["planned_pct"], 6) == 100.0
    assert round(sum(x["total_km"] for x in d["rows"]), 3) == d["totals"]["total_km"]

    p = client.get("/cables/progress", params={"by": "plan", "plan": "18/KH-BCĐ", "as_of": "2019-12-31"}).json()
    assert [x["plan"] for x in p["rows"]] == ["18/KH-BCĐ"] and p["as_of"] == "2019-12-31"
    o = client.get("/cables/progress", params={"by": "operator"}).json()
    assert all("operator" in x and "share_pct" in x for x in o["rows"])

    bad = client.get("/cables/progress", params={"by": "street"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
    assert client.get("/cables/progress", params={"as_of": "2019-02-30"}).status_code == 422
    assert client.get("/cables/progress", params={"as_of": "0"}).status_code == 422  # not a Unix timestamp
    unknown = client.get("/cables/progress", params={"plan": "1/KH"})
    assert unknown.status_code == 404 and "18/KH-BCĐ" in unknown.json()["detail"]


def test_progress_by_method_and_commune_with_street_counts(client: TestClient) -> None:
    """Issue 16: progress split into chỉnh trang / hạ ngầm (and both) and by commune, streets next to km."""
    d = client.get("/cables/progress", params={"by": "district"}).json()
    lc = next(r for r in d["rows"] if r["district"] == "Quận Lê Chân")
    assert 0 < lc["streets"] <= lc["segments"] and d["totals"]["streets"] <= sum(r["streets"] for r in d["rows"])
    m = client.get("/cables/progress", params={"by": "method"}).json()
    assert {r["method"] for r in m["rows"]} <= {"chinh_trang", "ha_ngam", "chinh_trang_ha_ngam"}
    assert len(m["rows"]) >= 2 and round(sum(r["total_km"] for r in m["rows"]), 3) == m["totals"]["total_km"]
    assert m["totals"]["total_km"] == d["totals"]["total_km"]
    c = client.get("/cables/progress", params={"by": "commune", "as_of": "2024-01-01"}).json()
    assert c["communes_as_of"] and all("commune_code" in r and "streets" in r for r in c["rows"])
    assert round(sum(r["total_km"] for r in c["rows"]), 3) == c["totals"]["total_km"]
    text = client.get("/cables/progress", params={"by": "method", "format": "csv"}).content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("method,total_km") and text.splitlines()[0].endswith("segments,streets")


def test_progress_csv_opens_in_excel(client: TestClient) -> None:
    r = client.get("/cables/progress", params={"by": "district", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[-1]["district"].startswith("Tổng cộng")
    assert "Quận Lê Chân" in {x["district"] for x in rows}
    assert round(sum(float(x["total_km"]) for x in rows[:-1]), 3) == float(rows[-1]["total_km"])


def test_patch_segment_roles_transitions_and_versions(client: TestClient, demo_db: Engine) -> None:
    code = _code(demo_db, "planned")
    url = f"/cables/segments/{code}"
    seg = client.get(url)
    assert seg.status_code == 200 and seg.json()["allowed_next"] == ["in_progress"]
    version = seg.json()["version"]
    assert seg.headers["etag"] == f'"{version}"'

    assert client.patch(url, json={"status": "in_progress"}).status_code == 401
    assert client.patch(url, json={"status": "in_progress"}, headers=_auth(demo_db, "operator", "VTL")).status_code == 403
    assert client.patch(url, json={"status": "in_progress"}, headers=_auth(demo_db, "inspector")).status_code == 403
    planner = _auth(demo_db, "planner")

    bad = client.patch(url, json={"status": "done"}, headers=planner)  # conflicts with the current state
    assert bad.status_code == 409 and bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["title"] == "Illegal status transition"
    assert bad.json()["field"] == "status" and bad.json()["allowed_next"] == ["in_progress"]
    unknown = client.patch(url, json={"status": "archived"}, headers=planner)
    assert unknown.status_code == 422 and "'planned', 'in_progress' or 'done'" in unknown.json()["detail"]
    assert client.patch(url, json={"status": "in_progress", "colour": "red"}, headers=planner).status_code == 422
    assert client.patch(url, json={"status": "in_progress", "date": "2999-01-01"}, headers=planner).status_code == 422
    assert client.patch(url, json={"status": "in_progress", "date": 0}, headers=planner).status_code == 422
    garbage = client.patch(url, json={"status": "in_progress"}, headers={**planner, "If-Match": "null"})
    assert garbage.status_code == 409 and garbage.json()["current_version"] == version
    assert client.get(url).json()["version"] == version  # nothing of the rejected requests landed

    ok = client.patch(url, json={"status": "in_progress", "note": "Khởi công", "version": version}, headers=planner)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["status"] == "in_progress" and body["version"] == version + 1
    assert body["change"]["actor"].startswith("test planner")
    assert ok.headers["etag"] == f'"{version + 1}"'

    stale = client.patch(url, json={"status": "done", "version": version}, headers=planner)
    assert stale.status_code == 409 and stale.json()["current_version"] == version + 1
    stale = client.patch(url, json={"status": "done"}, headers={**planner, "If-Match": f'"{version}"'})
    assert stale.status_code == 409
    admin = _auth(demo_db, "admin")
    done = client.patch(url, json={"status": "done"}, headers={**admin, "If-Match": f'"{version + 1}"'})
    assert done.status_code == 200 and done.json()["status"] == "done"

    assert client.patch(url, json={"status": "in_progress"}, headers=admin).status_code == 409  # needs reopen
    early = client.patch(url, json={"status": "in_progress", "reopen": True, "date": "2001-01-01"}, headers=admin)
    assert early.status_code == 409 and early.json()["field"] == "date"  # before the previous change
    reopened = client.patch(url, json={"status": "in_progress", "reopen": True, "note": "Cáp bị đứt"}, headers=admin)
    assert reopened.status_code == 200

    h = client.get(f"{url}/history")
    assert h.status_code == 200
    tail = h.json()["history"][-3:]
    assert [(x["from_status"], x["to_status"]) for x in tail] == [
        ("planned", "in_progress"), ("in_progress", "done"), ("done", "in_progress")]
    assert all(x["actor"] and x["recorded_at"] for x in tail)
    seg_id = body["id"]
    assert client.get(f"/cables/segments/{seg_id}/history").json()["code"] == code  # by id or by code
    missing = client.get("/cables/segments/CAP-000-000/history")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)


def test_leases_and_relocation_projects(client: TestClient) -> None:
    leases = client.get("/cables/leases").json()
    assert leases["count"] == 2 and leases["leases"][0]["price_vnd_per_m_month"] > 0
    projects = client.get("/cables/projects").json()["projects"]
    name = projects[0]["name"]
    affected = client.get(f"/cables/projects/{name}/affected")
    assert affected.status_code == 200
    data = affected.json()
    assert data["project"]["name"] == "Dự án xây dựng cầu Rào 1" and data["count"] >= 2
    assert all(s["code"].startswith("CAP-") and s["length_in_area_m"] > 0 for s in data["segments"])
    assert client.get("/cables/projects/Cầu Bính/affected").status_code == 404


def test_complaints_are_recorded_by_staff_and_listed(client: TestClient, demo_db: Engine) -> None:
    with demo_db.connect() as c:
        lon, lat = c.execute(select(func.ST_X(m.Complaint.geom), func.ST_Y(m.Complaint.geom))
                             .order_by(m.Complaint.id)).first()  # type: ignore[misc]
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"text": "Cáp viễn thông võng thấp, chưa đưa vào gông", "reporter": "Bà Hằng"}}
    assert client.post("/complaints", json=feature).status_code == 401
    assert client.post("/complaints", json=feature, headers=_auth(demo_db, "operator", "MBF")).status_code == 403
    staff = _auth(demo_db, "inspector")
    r = client.post("/complaints", json=feature, headers=staff)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["segment_code"] and made["distance_m"] <= 50 and made["status"] == "open"
    assert r.headers["location"] == f"/complaints/{made['id']}"

    outside = {**feature, "geometry": {"type": "Point", "coordinates": [105.85, 21.03]}}
    bad = client.post("/complaints", json=outside, headers=staff)
    assert bad.status_code == 422 and bad.json()["field"] == "geometry"
    swapped = {**feature, "geometry": {"type": "Point", "coordinates": [lat, lon]}}
    assert "swapped" in client.post("/complaints", json=swapped, headers=staff).json()["detail"]
    line = {**feature, "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon, lat + 0.001]]}}
    assert client.post("/complaints", json=line, headers=staff).status_code == 422
    empty = {**feature, "properties": {"text": ""}}
    assert client.post("/complaints", json=empty, headers=staff).status_code == 422

    public = client.get("/complaints", params={"status": "open"}).json()
    assert made["id"] in {x["id"] for x in public["complaints"]}
    assert all(x["status"] == "open" and "reporter" not in x for x in public["complaints"])
    staff_view = client.get(f"/complaints/{made['id']}", headers=staff).json()
    assert staff_view["reporter"] == "Bà Hằng"
    assert "reporter" not in client.get(f"/complaints/{made['id']}").json()
    assert client.get("/complaints", params={"status": "closed"}).status_code == 422
    assert client.get("/complaints/999999").status_code == 404


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

@pytest.fixture
def runner(demo_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BTSPLAN_DATABASE_URL", db_url(demo_db))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_progress_formats(runner: CliRunner) -> None:
    r = runner.invoke(cli, ["cables", "progress", "--by", "district", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["rows"]) >= 3 and all("total_km" in x for x in d["rows"])
    r = runner.invoke(cli, ["cables", "progress", "--by", "plan", "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("plan,total_km")
    r = runner.invoke(cli, ["cables", "progress", "--by", "operator", "--as-of", "2019-12-31"])
    # issue 16: the table's words come from the catalog (the suite runs in English; "Tổng cộng" in vi)
    assert r.exit_code == 0 and "Total" in r.stdout
    r = runner.invoke(cli, ["--lang", "vi", "cables", "progress", "--by", "operator", "--as-of", "2019-12-31"])
    assert r.exit_code == 0 and "Tổng cộng" in r.stdout
    r = runner.invoke(cli, ["cables", "progress", "--by", "street"])
    assert r.exit_code != 0 and "--by 'street'" in r.stderr
    r = runner.invoke(cli, ["cables", "progress", "--as-of", "31/12/2019"])
    assert r.exit_code != 0 and "YYYY-MM-DD" in r.stderr


def test_cli_set_status_history_and_affected(runner: CliRunner, demo_db: Engine) -> None:
    code = _code(demo_db, "done")
    r = runner.invoke(cli, ["cables", "set-status", code, "planned"])
    assert r.exit_code == 1 and "cannot go back to 'planned'" in r.stderr and "Traceback" not in r.output
    r = runner.invoke(cli, ["cables", "set-status", code, "in_progress", "--reopen", "--note", "Làm lại",
                            "--actor", "planner:lan"])
    assert r.exit_code == 0 and "done → in_progress" in r.stdout
    r = runner.invoke(cli, ["cables", "history", code, "--format", "json"])
    last = json.loads(r.stdout)["history"][-1]
    assert (last["to_status"], last["actor"], last["note"]) == ("in_progress", "planner:lan", "Làm lại")
    r = runner.invoke(cli, ["cables", "set-status", "CAP-000-000", "done"])
    assert r.exit_code == 1 and "no cable segment" in r.stderr
    r = runner.invoke(cli, ["cables", "affected", "--project", "cầu Rào", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["count"] >= 2
    r = runner.invoke(cli, ["cables", "affected", "--project", "nowhere"])
    assert r.exit_code == 1 and "known projects" in r.stderr
