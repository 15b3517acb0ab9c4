"""Security headers on every response, and a strict Content-Security-Policy on our HTML pages.

The map page loads only local assets; the CSP makes that a browser-enforced fact (the optional
OpenStreetMap raster base layer, off by default, is the single allowed remote source: an image
source, and a connect source because MapLibre downloads raster tiles with ``fetch``). MapLibre needs
``worker-src blob:`` and inline style attributes. The API documentation pages (Swagger UI, ReDoc)
live under the same policy: their scripts are vendored files, started without inline script.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from planning.i18n import N_

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob: https://tile.openstreetmap.org",
    "worker-src 'self' blob:",
    "child-src blob:",
    "connect-src 'self' https://tile.openstreetmap.org",  # MapLibre fetches raster tiles with fetch()
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])

class SecurityHeaders:
    """Pure ASGI middleware (no body buffering, so streamed exports stay streamed).

    Outermost, so an error no handler caught still answers problem+json with these headers (Starlette's
    last-resort 500 is plain text sent around every middleware); the error is re-raised to be logged.
    A ``Server`` header (software and version for an attacker's lookup) never leaves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                names = {k.lower() for k, _ in headers}

                def add(k: str, v: str) -> None:
                    if k.encode() not in names:
                        headers.append((k.encode(), v.encode()))

                add("x-content-type-options", "nosniff")
                add("referrer-policy", "no-referrer")
                add("x-frame-options", "DENY")
                add("cross-origin-opener-policy", "same-origin")
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):  # /docs and /redoc too: their assets are vendored
                    add("content-security-policy", CSP)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                from app.errors import problem_response

                await problem_response(500, N_("Internal server error"), None, path)(scope, receive, send_with_headers)
            raise


class RejectMalformedQuery:
    """A query parameter without a name (``?=x``) is a malformed request, not an ignorable extra:
    answer 400 problem+json before any route sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            from urllib.parse import parse_qsl

            from app.errors import problem_response

            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            if any(not k for k, _ in pairs):
                response = problem_response(400, N_("Malformed query string"), N_("a query parameter has no name"),
                                            scope.get("path"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
