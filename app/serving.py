"""uvicorn's HTTP protocols with Nagle's algorithm switched off on every connection.

With ``--workers`` > 1 uvicorn binds the listening socket itself as ``socket(AF_INET, SOCK_STREAM)``
(protocol number 0), and asyncio only sets ``TCP_NODELAY`` on sockets whose protocol reads
``IPPROTO_TCP``. Accepted connections then keep Nagle on: the response body waits for the client to
acknowledge the headers, and on a keep-alive connection the client delays that ACK by ~40 ms —
every request after the first on a connection (a map loading tiles) took 44 ms instead of 1–2 ms.
Setting the option on each accepted socket removes the stall whatever the worker count or loop.

``btsplan serve`` uses the httptools parser (C) when it is installed, h11 (pure Python) otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all; nothing to do
            pass


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)

    #: ``uvicorn.run(..., http=HTTP_PROTOCOL)``; an import string, so worker processes can load it.
    HTTP_PROTOCOL = "app.serving:NoDelayHttpToolsProtocol"
else:  # pragma: no cover - httptools is a pinned dependency
    HTTP_PROTOCOL = "app.serving:NoDelayH11Protocol"
