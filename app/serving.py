"""uvicorn's HTTP protocols with Nagle's algorithm switched off on every connection.

With ``--workers`` > 1 uvicorn binds the listening socket itself as ``socket(AF_INET, SOCK_STREAM)``
(protocol number 0), and asyncio only sets ``TCP_NODELAY`` on sockets whose protocol reads
``IPPROTO_TCP``. Accepted connections then keep Nagle on: the response body waits for the client to
acknowledge the headers, and on a keep-alive connection the client delays that ACK by ~40 ms —
every request after the first on a connection (a map loading tiles) took 44 ms instead of 1–2 ms.
Setting the option on each accepted socket removes the stall whatever the worker count or loop.

``btsplan serve`` uses the httptools parser (C) when it is installed, h11 (pure Python) otherwise.

uvicorn has no deadline for a request's headers: its keep-alive timeout runs only *between* requests,
so a client that opens connections and sends a header byte every few seconds (slowloris) holds them
for ever; httptools buffers headers without any size limit, and h11 limits only a head that is still
incomplete. Both protocols here close a connection whose head is not complete
``BTSPLAN_HEADER_TIMEOUT_S`` after it opened or after its request began (408), and refuse a head over
:data:`MAX_HEADER_BYTES` (431). A slow *body* is not timed here: the reverse proxy buffers bodies
(``docs/deploy.md``).

:func:`log_config` is uvicorn's logging configuration plus :class:`RedactSecrets` on every handler,
so a key sent in a URL never reaches the access log in clear (such a key is refused anyway).
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import logging
import re
import socket
from typing import Any

import h11
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from geodata.settings import get_settings
from geodata.store.keys import KEY_SCHEME

#: The most bytes a request's line and headers may take (nginx's default buffers hold 32 KiB).
MAX_HEADER_BYTES = 32 * 1024


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all; nothing to do
            pass


def _plain_response(status: bytes, text: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text)


class _HeadLimits:
    """A request's head (line and headers) must be complete ``header_timeout_s`` after the connection
    opened or the request began (408), and fit in :data:`MAX_HEADER_BYTES` (431); then the
    connection is closed. Mixed into both uvicorn protocols, which say when a head begins and ends."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _in_head = True  # the next bytes belong to a request head
    _head_bytes = 0
    _head_tail = b""  # the head's last bytes so far, for a blank line split between two reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(get_settings().header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_begins(self) -> None:
        self._in_head = True
        self._arm_header_deadline()

    def _head_ends(self) -> None:
        self._in_head, self._head_bytes, self._head_tail = False, 0, b""
        self._disarm_header_deadline()

    def _head_too_large(self, data: bytes) -> bool:
        """Counts the head's bytes before the parser buffers them (up to the blank line: a body may
        follow in the same read); when they pass the limit, answers 431 and closes."""
        if not self._in_head:
            return False
        end = (self._head_tail + data).find(b"\r\n\r\n")
        self._head_bytes += len(data) if end < 0 else end + 4 - len(self._head_tail)
        self._head_tail = data[-3:]
        if self._head_bytes <= MAX_HEADER_BYTES:
            return False
        self._close_with(b"431 Request Header Fields Too Large", b"the request headers are too large")
        return True

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._close_with(b"408 Request Timeout", b"the request headers took too long")

    def _close_with(self, status: bytes, text: bytes) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another response
            self.transport.write(_plain_response(status, text))
        self.transport.close()


class NoDelayH11Protocol(_HeadLimits, H11Protocol):
    def data_received(self, data: bytes) -> None:
        # h11 limits only a head still incomplete (h11_max_incomplete_event_size), not one that
        # arrives whole in one read
        self._in_head = self.conn.their_state is h11.IDLE
        if self._head_too_large(data):
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # bytes came, yet no complete request head
            self._head_begins()
        else:
            self._head_ends()


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(_HeadLimits, HttpToolsProtocol):
        def data_received(self, data: bytes) -> None:
            if not self._head_too_large(data):  # httptools buffers a head without any limit
                super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_begins()

        def on_headers_complete(self) -> None:
            self._head_ends()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True

    #: ``uvicorn.run(..., http=HTTP_PROTOCOL)``; an import string, so worker processes can load it.
    HTTP_PROTOCOL = "app.serving:NoDelayHttpToolsProtocol"
else:  # pragma: no cover - httptools is a pinned dependency
    HTTP_PROTOCOL = "app.serving:NoDelayH11Protocol"


# --------------------------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------------------------

#: a query parameter that may carry a credential, and a key anywhere in a logged line
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:key|api_key|apikey|access_token|token|auth|authorization|password)=)"
                           r"[^&;\s\"]*")
_KEY = re.compile(rf"\b{KEY_SCHEME}_[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _KEY.sub(REDACTED, _SECRET_PARAM.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's arguments (uvicorn's access line passes the path with its query string as
    one) and message so no credential is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactSecrets` on every handler. A dict, not a
    filter added at run time, because each ``--workers`` process configures its logging from it."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": "app.serving.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    return config
