"""The reader's language for one HTTP request: ``?lang=vi|en``, else ``Accept-Language``, else Vietnamese.

A pure ASGI middleware (no body buffering, so streamed exports stay streamed) sets
:mod:`planning.i18n`'s context variable for the whole request — routes, error handlers and streamed
bodies alike render in it — and answers ``Content-Language`` (plus ``Vary: Accept-Language``, since
the same URL reads differently per header). ``lang`` is taken out of the query string before any route
sees it: routes that refuse unknown parameters (features, findings, exports) need not list it, and
a cache keyed on the query is not split by it needlessly.

The staff workspace remembers the choice: ``?lang=`` on a page under :data:`REMEMBERING_PATHS` (the
workspace and its sign-in pages) sets the :data:`COOKIE` cookie, and a later request there without
``?lang`` reads it before ``Accept-Language``. So an officer who opened ``/workspace/?lang=en`` keeps
English across links, forms, redirects (sign-in, sign-out, after a status change) and htmx partials
without every template having to carry the parameter. The public API and map never read the cookie:
their answers stay a function of the URL and ``Accept-Language`` alone (shared caches, scripts).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planning import i18n

PARAM = "lang"
# bodies that read the same in every language: tiles, images, fonts, scripts and styles keep one cache
# entry per URL (a Vary on Accept-Language would split shared caches for nothing)
NEUTRAL_TYPES = (b"application/vnd.mapbox-vector-tile", b"application/x-protobuf", b"image/", b"font/",
                 b"text/javascript", b"application/javascript", b"text/css")


#: The cookie that keeps a language chosen with ``?lang=`` on the staff pages (a preference, no secret).
COOKIE = "btsplan_lang"
#: Where the cookie is read and set: the staff workspace and its sign-in pages (server-rendered, never cached).
REMEMBERING_PATHS = ("/workspace", "/auth")
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def remembers(path: str) -> bool:
    """Whether ``path`` is a staff page that keeps the chosen language in :data:`COOKIE`."""
    return any(path == p or path.startswith(p + "/") for p in REMEMBERING_PATHS)


def asked_language(query_string: bytes) -> i18n.Language | None:
    """The language ``?lang=`` names (the last one given), or ``None`` when absent or unknown."""
    asked = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k == PARAM]
    return i18n.parse_language(asked[-1]) if asked else None


def request_language(query_string: bytes, accept_language: str | None,
                     default: i18n.Language = i18n.DEFAULT_LANGUAGE,
                     remembered: str | None = None) -> tuple[i18n.Language, bytes]:
    """The language a request asks for (``default`` when it names none) and its query string without ``lang``.

    ``?lang`` wins, then ``remembered`` (the staff pages' cookie), then ``Accept-Language``."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    asked = [v for k, v in pairs if k == PARAM]
    lang = ((i18n.parse_language(asked[-1]) if asked else None) or i18n.parse_language(remembered or "")
            or i18n.negotiate(accept_language) or default)
    if not asked:
        return lang, query_string
    rest = [(k, v) for k, v in pairs if k != PARAM]
    return lang, urlencode(rest).encode("latin-1")


class Language:
    def __init__(self, app: ASGIApp, default: i18n.Language = i18n.DEFAULT_LANGUAGE) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"accept-language"), None)
        staff_page = remembers(scope.get("path", ""))
        remembered = None
        if staff_page:
            cookies = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
            remembered = cookie_parser(cookies).get(COOKIE) if cookies else None
        lang, query = request_language(scope.get("query_string", b""), accept, self.default, remembered)
        chosen = asked_language(scope.get("query_string", b"")) if staff_page else None
        # set (or change) the cookie only when the choice is new: one Set-Cookie per switch, not per page
        remember = chosen if chosen is not None and chosen != i18n.parse_language(remembered or "") else None
        if query != scope.get("query_string", b""):
            scope = {**scope, "query_string": query}

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                ctype = next((v.lower() for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(NEUTRAL_TYPES):
                    await send(message)
                    return
                names = {k.lower() for k, _v in headers}
                if b"content-language" not in names:
                    headers.append((b"content-language", lang.encode()))
                vary = [i for i, (k, _v) in enumerate(headers) if k.lower() == b"vary"]
                if vary:
                    k, v = headers[vary[0]]
                    if b"accept-language" not in v.lower():
                        headers[vary[0]] = (k, v + b", Accept-Language")
                else:
                    headers.append((b"vary", b"Accept-Language"))
                if staff_page:  # the cookie takes part in the choice there
                    vary = next(i for i, (k, _v) in enumerate(headers) if k.lower() == b"vary")
                    k, v = headers[vary]
                    if b"cookie" not in v.lower():
                        headers[vary] = (k, v + b", Cookie")
                if remember is not None:
                    headers.append((b"set-cookie", f"{COOKIE}={remember}; Max-Age={COOKIE_MAX_AGE_S}; Path=/; "
                                                   "HttpOnly; SameSite=Lax".encode()))
                message["headers"] = headers
            await send(message)

        token = i18n.set_language(lang)
        try:
            await self.app(scope, receive, send_with_language)
        finally:
            i18n.reset_language(token)
