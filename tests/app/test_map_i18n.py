"""The map's interface texts come from the message catalog (issue 16): ``GET /map/i18n/{lang}.json``.

Every key the map's JavaScript and page ask for must be served, in Vietnamese by default and in English,
with a strong ETag so a reload costs a 304. The browser side (the page showing them) is
``test_map_browser.py``.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.map_strings import MAP_STRINGS
from app.routers.map import STATIC_DIR
from planning import i18n
from tests.app.live import make_app

#: t("key") / tMaybe("key") and `prefix.${value}` in the map's modules; data-i18n*="key" in the page.
T_CALL = re.compile(r"""\bt(?:Maybe)?\(\s*["'`]([\w.]+)["'`]""")
T_PREFIX = re.compile(r"""\bt(?:Maybe)?\(\s*`([\w]+)\.\$\{""")
DATA_I18N = re.compile(r'data-i18n(?:-[a-z]+)?="([\w.]+)"')


@pytest.fixture
def client(empty_db: Engine) -> TestClient:
    return TestClient(make_app(empty_db))


def _keys_used() -> tuple[set[str], set[str]]:
    keys, prefixes = set(), set()
    for path in [*(STATIC_DIR / "js").glob("*.js"), STATIC_DIR / "index.html"]:
        text = path.read_text(encoding="utf-8")
        keys |= set(T_CALL.findall(text)) | set(DATA_I18N.findall(text))
        prefixes |= set(T_PREFIX.findall(text))
    return keys, prefixes


def test_every_key_the_map_asks_for_is_in_the_table() -> None:
    keys, prefixes = _keys_used()
    assert len(keys) > 30, "the scan found too few keys: has the JavaScript changed shape?"
    assert not sorted(keys - set(MAP_STRINGS)), "map texts used but not in app/map_strings.py"
    for prefix in prefixes:  # t(`status.${s}`): at least one value of each family
        assert any(k.startswith(prefix + ".") for k in MAP_STRINGS), prefix


def test_the_map_script_has_no_text_table_of_its_own() -> None:
    """The texts are in the catalog only: i18n.js loads them, it does not carry a second copy."""
    js = (STATIC_DIR / "js" / "i18n.js").read_text(encoding="utf-8")
    assert "/map/i18n/" in js
    assert "Không phát hiện vi phạm" not in js and "No planning findings" not in js


def test_texts_in_both_languages_from_the_catalog(client: TestClient) -> None:
    vi = client.get("/map/i18n/vi.json")
    en = client.get("/map/i18n/en.json")
    assert vi.status_code == en.status_code == 200
    assert vi.headers["content-type"].startswith("application/json")
    tv, te = vi.json(), en.json()
    assert set(tv) == set(te) == set(MAP_STRINGS)
    assert te == {k: v for k, v in MAP_STRINGS.items()}  # English is the source text
    assert tv["check.ok"] == "Không phát hiện vi phạm quy hoạch" and te["check.ok"] == "No planning findings"
    assert tv["check.reach"] == "Khoảng cách từ tâm cột đến điểm ngoài cùng (m)"
    # every text has its own Vietnamese entry under context "map" (none falls back to English) …
    vi_catalog = i18n.catalog("vi")
    untranslated = [k for k, text in MAP_STRINGS.items() if f"map{i18n.CONTEXT_SEP}{text}" not in vi_catalog]
    assert not untranslated
    # … and the context keeps a map word apart from the same English word elsewhere
    assert tv["layer.streets"] == "Đường phố" != i18n.catalog("vi").get("Streets")
    assert "{n}" in tv["filters.visible"] and "{n}" in te["filters.visible"]  # the browser fills them in


def test_etag_revalidation_and_unknown_language(client: TestClient) -> None:
    first = client.get("/map/i18n/vi.json")
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "no-cache"
    again = client.get("/map/i18n/vi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/map/i18n/en.json", headers={"If-None-Match": etag}).status_code == 200
    bad = client.get("/map/i18n/fr.json")
    assert bad.status_code == 404 and bad.headers["content-type"].startswith("application/problem+json")
    assert json.loads(bad.content)["detail"]
