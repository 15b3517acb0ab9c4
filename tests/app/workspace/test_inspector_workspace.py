"""The inspector's workspace and replay-safe inspection writes, on both backends (real SpatiaLite and
PostGIS, the app through TestClient).

Idempotency: the same key twice → one row and the same answer; the same key from two different
callers → two rows (keys are per caller); the same key with a different body → 422 saying so. Both
for the API (``Idempotency-Key`` header with an API key) and for the phone's queue (session cookie,
CSRF token in a header, key in ``Idempotency-Key``), and for the plain form without script (the key
in a hidden field, so a double submit stores nothing twice).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine, func, select

from geodata.store.db import transaction
from geodata.store.models import IdempotencyRecord, Inspection
from geodata.work import inspections as gi
from tests.app.plan_helpers import client, make_keys
from tests.app.workspace.helpers import browser, make_user, sign_in


def jpeg(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def campaign(engine: Engine, name: str = "Kiểm tra BTS Lê Chân 12/2026", sites: int = 5) -> tuple[int, list[str]]:
    with transaction(engine) as s:
        camp = gi.create_campaign(s, "test", name, dt.date(2026, 12, 1), dt.date(2026, 12, 31),
                                  {"operator": ["VTL", "VNP", "MBF"], "max_sites": sites})
        return camp.id, list(camp.site_codes or [])


def rows(engine: Engine, site_code: str) -> list[Inspection]:
    with transaction(engine) as s:
        found = s.execute(select(Inspection).where(Inspection.site_code == site_code)).scalars().all()
        s.expunge_all()
        return list(found)


def test_api_idempotency_key(demo_db: Engine, tmp_path: Path) -> None:
    c, k = client(demo_db, upload_dir=str(tmp_path)), make_keys(demo_db)
    cid, codes = campaign(demo_db)
    url = f"/inspections/campaigns/{cid}/results"
    body = {"site_code": codes[0], "result": "violation", "notes": "Cột không có giấy phép", "inspected_on": "2026-12-05"}
    key = str(uuid.uuid4())
    first = c.post(url, json=body, headers={**k.h("inspector"), "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = c.post(url, json=body, headers={**k.h("inspector"), "Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(rows(demo_db, codes[0])) == 1
    # the same key from another caller is that caller's own: a second row, not the first one's answer
    other = c.post(url, json=body, headers={**k.h("planner"), "Idempotency-Key": key})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert len(rows(demo_db, codes[0])) == 2
    # the same key with another body is refused with a message that says why
    changed = c.post(url, json={**body, "notes": "Khác"}, headers={**k.h("inspector"), "Idempotency-Key": key})
    assert changed.status_code == 422
    assert "already used for a different request" in changed.json()["detail"]
    assert len(rows(demo_db, codes[0])) == 2
    assert c.post(url, json=body, headers={**k.h("inspector"), "Idempotency-Key": "short"}).status_code == 422
    # photos: the same photo with the same key is stored once; another photo with that key is refused
    up = f"/inspections/{first.json()['id']}/photos"
    pkey = str(uuid.uuid4())
    p1 = c.post(up, files={"file": ("a.jpg", jpeg(), "image/jpeg")}, headers={**k.h("inspector"), "Idempotency-Key": pkey})
    p2 = c.post(up, files={"file": ("a.jpg", jpeg(), "image/jpeg")}, headers={**k.h("inspector"), "Idempotency-Key": pkey})
    assert p1.status_code == p2.status_code == 201 and p1.json() == p2.json()
    p3 = c.post(up, files={"file": ("b.jpg", jpeg("blue"), "image/jpeg")},
                headers={**k.h("inspector"), "Idempotency-Key": pkey})
    assert p3.status_code == 422
    assert len(c.get(f"/inspections/{first.json()['id']}", headers=k.h("inspector")).json()["photos"]) == 1
    # without a key nothing changes: each request is its own
    assert c.post(url, json=body, headers=k.h("inspector")).status_code == 201
    assert len(rows(demo_db, codes[0])) == 3
    # documented in the OpenAPI
    spec = c.get("/openapi.json").json()
    params = spec["paths"]["/inspections/campaigns/{campaign_id}/results"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
    assert "Idempotency-Key" in str(spec["paths"]["/inspections/{inspection_id}/photos"]["post"])


def test_workspace_pages_in_both_languages(demo_db: Engine) -> None:
    make_user(demo_db, "hung", "inspector")
    cid, codes = campaign(demo_db)
    c = browser(demo_db)
    assert c.get("/workspace/inspections").status_code == 303  # sign in first
    sign_in(c, "hung")
    assert c.get("/workspace/").headers["location"] == "/workspace/inspections"
    page = c.get("/workspace/inspections?lang=vi")  # the suite reads English by default (tests/conftest.py)
    assert page.status_code == 200 and "Các đợt kiểm tra" in page.text and "Đã kiểm tra 0/5 trạm" in page.text
    assert f'href="/workspace/inspections/{cid}/sites.csv"' in page.text
    assert "Inspection campaigns" in c.get("/workspace/inspections?lang=en").text
    one = c.get(f"/workspace/inspections/{cid}?site={codes[1]}&lang=vi")
    assert one.status_code == 200
    assert re.search(r'<input id="photos" name="photos" type="file" accept="image/\*" capture="environment" multiple>',
                     one.text)
    assert f'<option value="{codes[1]}" selected>' in one.text
    assert "Có vi phạm" in one.text and "Ghi kết quả kiểm tra" in one.text
    assert "<script>" not in one.text and " style=" not in one.text  # strict CSP: scripts and styles from files
    assert "Violation found" in c.get(f"/workspace/inspections/{cid}?lang=en").text
    geo = c.get(f"/workspace/inspections/{cid}/sites.geojson").json()
    assert [f["properties"]["code"] for f in geo["features"]] == codes
    csv_file = c.get(f"/workspace/inspections/{cid}/sites.csv")
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert len(csv_file.content.decode("utf-8-sig").splitlines()) == 1 + len(codes)
    assert c.get(f"/workspace/inspections/{cid}/sites.xlsx").headers["content-type"].endswith("spreadsheetml.sheet")
    # the service worker and what it keeps
    sw = c.get("/workspace/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/workspace/" and sw.headers["cache-control"] == "no-cache"
    manifest = c.get("/workspace/inspections-offline.json").json()
    assert f"/workspace/inspections/{cid}" in manifest["pages"]
    for url in ("/static/js/workspace/inspections.js", "/static/js/workspace/queue.js",
                "/static/vendor/maplibre-gl/maplibre-gl.mjs", "/static/css/inspections.css"):
        assert url in manifest["assets"]
    for url in manifest["assets"] + manifest["pages"]:
        assert c.get(url).status_code == 200, url
    # a key opens no workspace page, and a session no key-only endpoint
    k = make_keys(demo_db)
    assert c.get("/workspace/inspections", headers=k.h("inspector")).status_code == 403
    assert c.get(f"/inspections/campaigns/{cid}/sites?format=csv").status_code == 401


def test_queue_sends_once_with_the_sessions_token(demo_db: Engine, tmp_path: Path) -> None:
    make_user(demo_db, "hung", "inspector")
    make_user(demo_db, "mai", "inspector")
    make_user(demo_db, "root", "admin")
    cid, codes = campaign(demo_db)
    c = browser(demo_db, upload_dir=str(tmp_path))
    assert c.get("/workspace/inspections-session").status_code == 401
    token = sign_in(c, "hung")
    info = c.get("/workspace/inspections-session")
    assert info.json() == {"username": "hung", "role": "inspector", "csrf_token": token}
    assert info.headers["cache-control"] == "no-store"
    url = f"/workspace/inspections/{cid}/results"
    body = {"site_code": codes[2], "result": "violation", "notes": "Thiếu biển báo", "inspected_on": "2026-12-05"}
    key = str(uuid.uuid4())
    assert c.post(url, json=body, headers={"Idempotency-Key": key}).status_code == 403  # no CSRF token
    headers = {"X-CSRF-Token": token, "Idempotency-Key": key}
    first = c.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = c.post(url, json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(rows(demo_db, codes[2])) == 1 and rows(demo_db, codes[2])[0].inspector == "Hung"
    refused = c.post(url, json={**body, "result": "conforms"}, headers=headers)
    assert refused.status_code == 422 and "different request" in refused.json()["detail"]
    photo_url = f"/workspace/inspections/results/{first.json()['id']}/photos"
    pkey = {"X-CSRF-Token": token, "Idempotency-Key": str(uuid.uuid4())}
    for _ in range(2):
        r = c.post(photo_url, files={"file": ("cot.jpg", jpeg(), "image/jpeg")}, headers=pkey)
        assert r.status_code == 201, r.text
    assert len(rows(demo_db, codes[2])[0].photos or []) == 1
    # another inspector's phone made the same key: it is hers, not a replay of his
    c2 = browser(demo_db, upload_dir=str(tmp_path))
    t2 = sign_in(c2, "mai")
    hers = c2.post(url, json=body, headers={"X-CSRF-Token": t2, "Idempotency-Key": key})
    assert hers.status_code == 201 and hers.json()["id"] != first.json()["id"]
    assert len(rows(demo_db, codes[2])) == 2
    # a token of another session is refused, as is an admin (who only reads inspections)
    assert c2.post(url, json=body, headers={"X-CSRF-Token": token, "Idempotency-Key": str(uuid.uuid4())}
                   ).status_code == 403
    c3 = browser(demo_db)
    t3 = sign_in(c3, "root")
    assert c3.get(f"/workspace/inspections/{cid}").status_code == 200
    assert c3.post(url, json=body, headers={"X-CSRF-Token": t3, "Idempotency-Key": str(uuid.uuid4())}
                   ).status_code == 403
    # the plain form (no script): the page's key in a hidden field makes a double submit harmless
    page = c.get(f"/workspace/inspections/{cid}").text
    form_key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    fields = {"csrf_token": token, "idempotency_key": form_key, "site_code": codes[3], "result": "violation",
              "notes": "Cột nghiêng", "inspected_on": "2026-12-05"}
    for _ in range(2):
        r = c.post(url, data=fields, files=[("photos", ("p.jpg", jpeg("green"), "image/jpeg"))])
        assert r.status_code == 303 and r.headers["location"] == f"/workspace/inspections/{cid}?saved={codes[3]}"
    stored = rows(demo_db, codes[3])
    assert len(stored) == 1 and len(stored[0].photos or []) == 1
    assert c.post(url, data={**fields, "csrf_token": ""}).status_code == 403
    with transaction(demo_db) as s:
        n = s.execute(select(func.count()).select_from(IdempotencyRecord)).scalar()
    assert n == 5  # his result and photo, hers, the form's result and photo


def test_offline_copy_and_photo_limit(demo_db: Engine, tmp_path: Path) -> None:
    """The offline copy holds the campaigns still running (not those long finished); a photo over the
    limit is refused (413), as on the API, and nothing is stored."""
    make_user(demo_db, "hung", "inspector")
    cid, codes = campaign(demo_db)
    with transaction(demo_db) as s:
        old = gi.create_campaign(s, "test", "Đợt cũ 2025", dt.date(2025, 3, 1), dt.date(2025, 3, 31),
                                 {"max_sites": 2}).id
    c = browser(demo_db, upload_dir=str(tmp_path), max_photo_bytes=2048)
    token = sign_in(c, "hung")
    pages = c.get("/workspace/inspections-offline.json").json()["pages"]
    assert f"/workspace/inspections/{cid}" in pages and f"/workspace/inspections/{old}" not in pages
    r = c.post(f"/workspace/inspections/{cid}/results", json={"site_code": codes[0], "result": "conforms",
                                                              "inspected_on": "2026-12-05"},
               headers={"X-CSRF-Token": token, "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    noise = Image.frombytes("RGB", (200, 200), bytes(range(256)) * 468 + bytes(192))
    big = io.BytesIO()
    noise.save(big, "JPEG", quality=95)
    assert len(big.getvalue()) > 2048
    refused = c.post(f"/workspace/inspections/results/{r.json()['id']}/photos",
                     files={"file": ("big.jpg", big.getvalue(), "image/jpeg")},
                     headers={"X-CSRF-Token": token, "Idempotency-Key": str(uuid.uuid4())})
    assert refused.status_code == 413
    assert rows(demo_db, codes[0])[0].photos == []
