"""Content negotiation for the OGC API resources: JSON unless the client *prefers* HTML.

Clients such as OWSLib send ``Accept: */*`` (or nothing) and parse the answer as JSON, so a
wildcard never selects HTML; browsers list ``text/html`` first and get a page. ``?f=`` overrides
the header. One exception, the landing page ``/``: it is also the product's home (the map), so a
wildcard answers HTML there unless the client names itself as a GIS/HTTP library (see
:func:`landing_wants_html`). The HTML of a JSON resource is that document, escaped, with its links made clickable:
honest (it is the same content) and needing no template or script.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from geodata.errors import InvalidParameter
from planning.i18n import _

JSON = "application/json"
GEOJSON = "application/geo+json"
_JSON_FORMATS = frozenset({"json", "geojson", JSON, GEOJSON})
_HTML_FORMATS = frozenset({"html", "text/html"})
_HTML_MEDIA = frozenset({"text/html", "application/xhtml+xml"})


def json_response(doc: Any, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    """A JSON document as compact UTF-8 (Vietnamese names stay readable, nothing is escaped to \\u)."""
    return Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), media_type=media_type,
                    headers=headers)


def wants_html(request: Request, f: str | None, html: bool = True) -> bool:
    """Whether to answer HTML; ``html=False`` for resources that have none, where ``f=html`` is a 400."""
    if f is not None:
        value = f.strip().lower()
        if value in _JSON_FORMATS:
            return False
        if html and value in _HTML_FORMATS:
            return True
        raise InvalidParameter("f", _("{f!r} is not offered; use f=json or f=html", f=f) if html else
                               _("{f!r} is not offered; use f=json", f=f))
    return html and prefers_html(request.headers.get("accept", ""))


#: User-Agent prefixes of programmatic clients that send ``*/*`` to ``/`` and parse the answer as JSON
#: (OWSLib through requests; GDAL's OGR driver; desktop GIS). Lower case.
_JSON_CLIENT_AGENTS = ("owslib", "gdal", "qgis", "arcgis", "fme", "python-requests", "python-httpx",
                       "httpx", "aiohttp", "go-http-client", "okhttp", "java")


def landing_wants_html(request: Request, f: str | None) -> bool:
    """For ``/`` only: ``?f=`` and an explicit preference decide as everywhere; with a bare ``*/*`` (or no
    Accept) a person's tool — a browser, ``curl``, ``wget`` — gets the map, and a GIS client library (which
    says so in its User-Agent) gets the OGC landing document."""
    if f is not None or _ranks_a_type(request.headers.get("accept", "")):
        return wants_html(request, f)
    agent = request.headers.get("user-agent", "").strip().lower()
    return not agent.startswith(_JSON_CLIENT_AGENTS)


def _ranks_a_type(accept: str) -> bool:
    """Whether the header names HTML or JSON at all (not only wildcards)."""
    for part in accept.split(","):
        media = part.strip().partition(";")[0].strip().lower()
        if media in _HTML_MEDIA or media in (JSON, GEOJSON) or media.endswith("+json"):
            return True
    return False


def prefers_html(accept: str) -> bool:
    """True when the Accept header ranks an HTML type strictly above every JSON type; wildcards rank
    neither, so ``*/*`` and an absent header mean JSON."""
    best_html = best_json = 0.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = _quality(params)
        if media in _HTML_MEDIA:
            best_html = max(best_html, q)
        elif media in (JSON, GEOJSON) or media.endswith("+json"):
            best_json = max(best_json, q)
    return best_html > best_json


def _quality(params: str) -> float:
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.strip().lower() == "q":
            try:
                return min(max(float(v), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def html_page(request: Request, title: str, doc: dict[str, Any]) -> HTMLResponse:
    """``doc`` as a page: its links as anchors, then the JSON itself, every value escaped."""
    json_href = request.url.path + "?" + urlencode(
        [(k, v) for k, v in request.query_params.multi_items() if k != "f"] + [("f", "json")])
    links = [f'<li><a href="{escape(json_href)}">This document as JSON</a></li>']
    for ln in doc.get("links", []):
        label = ln.get("title") or ln.get("rel", "")
        links.append(f'<li><a href="{escape(str(ln.get("href", "")))}">{escape(str(label))}</a> '
                     f'<small>rel={escape(str(ln.get("rel", "")))} {escape(str(ln.get("type", "")))}</small></li>')
    body = escape(json.dumps(doc, ensure_ascii=False, indent=2))
    return HTMLResponse(
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{escape(title)} — btsplan</title>'
        f'</head><body><h1>{escape(title)}</h1><p><a href="/">btsplan</a></p><h2>Links</h2>'
        f'<ul>{"".join(links)}</ul><h2>Content</h2><pre>{body}</pre></body></html>')
