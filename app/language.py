"""The reader's language for one HTTP request: ``?lang=vi|en``, else ``Accept-Language``, else Vietnamese.

A pure ASGI middleware (no body buffering, so streamed exports stay streamed) sets
:mod:`planning.i18n`'s context variable for the whole request — routes, error handlers and streamed
bodies alike render in it — and answers ``Content-Language`` (plus ``Vary: Accept-Language``, since
the same URL reads differently per header). ``lang`` is taken out of the query string before any route
sees it: routes that refuse unknown parameters (features, findings, exports) need not list it, and
a cache keyed on the query is not split by it needlessly.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planning import i18n

PARAM = "lang"
# bodies that read the same in every language: tiles, images, fonts, scripts and styles keep one cache
# entry per URL (a Vary on Accept-Language would split shared caches for nothing)
NEUTRAL_TYPES = (b"application/vnd.mapbox-vector-tile", b"application/x-protobuf", b"image/", b"font/",
                 b"text/javascript", b"application/javascript", b"text/css")


def request_language(query_string: bytes, accept_language: str | None,
                     default: i18n.Language = i18n.DEFAULT_LANGUAGE) -> tuple[i18n.Language, bytes]:
    """The language a request asks for (``default`` when it names none) and its query string without ``lang``."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    asked = [v for k, v in pairs if k == PARAM]
    lang = (i18n.parse_language(asked[-1]) if asked else None) or i18n.negotiate(accept_language) or default
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
        lang, query = request_language(scope.get("query_string", b""), accept, self.default)
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
                message["headers"] = headers
            await send(message)

        token = i18n.set_language(lang)
        try:
            await self.app(scope, receive, send_with_language)
        finally:
            i18n.reset_language(token)
